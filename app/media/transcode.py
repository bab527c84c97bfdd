"""decode → process → encode on three threads joined by bounded queues.

The queues hold a few batches at most, so memory stays flat on a two-hour 4K video and the slowest
stage sets the pace. The first failure anywhere (or a cancel) stops every stage; the encode stage
owns the writer, so it is the one that deletes the temporary file, and the caller gets the
original exception back once all three threads have ended.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engines.errors import InputError, SwapCastError

from .probe import MediaInfo, probe
from .reader import DecodedFrame, OnDecodeError, VideoReader
from .writer import EncodeSettings, VideoWriter

ProcessBatch = Callable[[list[np.ndarray]], list[np.ndarray]]
TimedProcessBatch = Callable[[list[np.ndarray], list[float]], list[np.ndarray]]  # images and their times (s)
Progress = Callable[[int, int], None]

_POLL_S = 0.1  # how often a blocked stage looks up to see whether the run was stopped
_END = object()  # end-of-stream marker passed down the queues


class TranscodeCancelled(SwapCastError):
    """The run was cancelled; nothing was written."""

    exit_code = 130


@dataclass(frozen=True)
class TranscodeOptions:
    encoder: str = "auto"
    quality: int = 20  # CRF scale, see EncodeSettings
    preset: str | None = None
    audio: bool = True
    start_s: float | None = None
    end_s: float | None = None
    batch_size: int = 4  # frames per process_batch call: lets the engine batch faces across frames
    queue_batches: int = 2  # batches each queue may hold: bounds memory, lets stages overlap
    overwrite: bool = False
    on_decode_error: OnDecodeError = "stop"
    tag_extra: str | None = None


@dataclass(frozen=True)
class TranscodeResult:
    output: Path
    frames: int
    seconds: float
    fps: float  # frames written per second of wall time, all stages together
    encoder: str
    audio: str  # "copied", "re-encoded", "none"
    warnings: list[str] = field(default_factory=list)
    # Seconds each stage spent working (not waiting on a queue): shows which one set the pace.
    stage_busy_s: dict[str, float] = field(default_factory=dict)


@dataclass
class _Batch:
    frames: list[DecodedFrame]
    images: list[np.ndarray] | None = None


class _Run:
    """Shared state of one run: the stop flag, the first error, and queue helpers that give up
    when the run stops, so no stage can block forever on a queue whose other end has died."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self.stop = threading.Event()
        self.cancel = cancel
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self.busy: dict[str, float] = {"decode": 0.0, "process": 0.0, "encode": 0.0}

    def stopped(self) -> bool:
        if self.cancel is not None and self.cancel.is_set():
            self.stop.set()
        return self.stop.is_set()

    def fail(self, error: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = error
        self.stop.set()

    def put(self, q: queue.Queue[Any], item: Any) -> bool:
        while not self.stopped():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue[Any]) -> Any:
        while not self.stopped():
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                continue
        return _END


def _batches(frames: Iterator[DecodedFrame], size: int, run: _Run) -> Iterator[_Batch]:
    batch: list[DecodedFrame] = []
    while True:
        started = time.perf_counter()
        frame = next(frames, None)
        run.busy["decode"] += time.perf_counter() - started
        if frame is None:
            break
        batch.append(frame)
        if len(batch) >= size:
            yield _Batch(batch)
            batch = []
    if batch:
        yield _Batch(batch)


def _check_outputs(batch: _Batch, images: Any) -> list[np.ndarray]:
    if not isinstance(images, (list, tuple)) or len(images) != len(batch.frames):
        got = len(images) if isinstance(images, (list, tuple)) else type(images).__name__
        raise ValueError(f"process_batch returned {got} frames for a batch of {len(batch.frames)}")
    for source, image in zip(batch.frames, images):
        if not isinstance(image, np.ndarray) or image.shape != source.image.shape or image.dtype != np.uint8:
            shape = getattr(image, "shape", None)
            raise ValueError(
                f"process_batch must return uint8 frames shaped {source.image.shape}, got {shape} "
                f"{getattr(image, 'dtype', type(image).__name__)}"
            )
    return list(images)


class FrameSource(Protocol):
    """Where a pipeline's frames come from: a VideoReader, or lip sync's fitted timeline."""

    warnings: list[str]

    @property
    def frames_total(self) -> int: ...

    def __iter__(self) -> Iterator[DecodedFrame]: ...

    def close(self) -> None: ...


FrameProcess = Callable[[list[DecodedFrame]], list[np.ndarray]]  # the frames (with their times) → images


def transcode(
    src: str | Path,
    dst: str | Path,
    process_batch: ProcessBatch,
    options: TranscodeOptions | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    *,
    info: MediaInfo | None = None,
) -> TranscodeResult:
    """Decode `src`, pass frames through `process_batch` in order, encode to `dst`.

    `progress(done, total)` and `process_batch` are called from worker threads. Raises the first
    stage's exception (InputError for bad files), or TranscodeCancelled; either way the output
    name is untouched and the temporary file is gone.
    """
    return _transcode(src, dst, lambda frames: process_batch([frame.image for frame in frames]), options,
                      progress, cancel, info)


def transcode_timed(
    src: str | Path,
    dst: str | Path,
    process: TimedProcessBatch,
    options: TranscodeOptions | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> TranscodeResult:
    """transcode(), with `process(images, times)` also given the second each frame is shown at
    (an engine's smoothing clock: the same video then gives the same output on every run)."""
    return _transcode(src, dst, lambda frames: process([f.image for f in frames], [f.time_s for f in frames]),
                      options, progress, cancel, None)


def _transcode(src: str | Path, dst: str | Path, process: FrameProcess, options: TranscodeOptions | None,
               progress: Progress | None, cancel: threading.Event | None, info: MediaInfo | None) -> TranscodeResult:
    options = options or TranscodeOptions()
    check_batching(options)
    info = info or probe(src)
    if info.kind == "image":
        raise InputError(f"{info.path}: is a still image, not a video", "add it as an image job instead")
    reader = VideoReader(
        info.path, start_s=options.start_s, end_s=options.end_s, on_error=options.on_decode_error, info=info
    )
    # Everything that can be refused (paths, encoder, container) is refused here, before a thread
    # starts or a frame is decoded.
    writer = VideoWriter(dst, info, encode_settings(options), start_s=options.start_s, end_s=options.end_s)
    return run_pipeline(reader, process, writer, options, progress, cancel)


def check_batching(options: TranscodeOptions) -> None:
    if options.batch_size < 1 or options.queue_batches < 1:
        raise ValueError("batch_size and queue_batches must be at least 1")


def encode_settings(options: TranscodeOptions) -> EncodeSettings:
    return EncodeSettings(encoder=options.encoder, quality=options.quality, preset=options.preset,
                          audio=options.audio, overwrite=options.overwrite, tag_extra=options.tag_extra)


def run_pipeline(
    reader: FrameSource,
    process: FrameProcess,
    writer: VideoWriter,
    options: TranscodeOptions,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> TranscodeResult:
    """`reader`'s frames through `process` into `writer`, on the three threads; see transcode()."""
    run = _Run(cancel)
    total = reader.frames_total
    decoded: queue.Queue[Any] = queue.Queue(maxsize=options.queue_batches)
    processed: queue.Queue[Any] = queue.Queue(maxsize=options.queue_batches)
    written = [0]

    def decode_stage() -> None:
        try:
            for batch in _batches(iter(reader), options.batch_size, run):
                if not run.put(decoded, batch):
                    return
            run.put(decoded, _END)
        except BaseException as error:
            run.fail(error)
        finally:
            reader.close()

    def process_stage() -> None:
        try:
            while True:
                batch = run.get(decoded)
                if batch is _END:
                    if not run.stopped():
                        run.put(processed, _END)
                    return
                started = time.perf_counter()
                images = process(batch.frames)
                batch.images = _check_outputs(batch, images)
                run.busy["process"] += time.perf_counter() - started
                if not run.put(processed, batch):
                    return
        except BaseException as error:
            run.fail(error)

    def encode_stage() -> None:
        nonlocal total
        try:
            while True:
                batch = run.get(processed)
                if batch is _END:
                    break
                started = time.perf_counter()
                for frame, image in zip(batch.frames, batch.images):
                    writer.write(image, frame.pts)
                run.busy["encode"] += time.perf_counter() - started
                written[0] += len(batch.frames)
                total = max(total, written[0])
                if progress is not None:
                    progress(written[0], total)
            if run.stopped():
                writer.abort()
                return
            started = time.perf_counter()
            writer.finish()
            run.busy["encode"] += time.perf_counter() - started
            if progress is not None and written[0] != total:
                progress(written[0], written[0])  # the estimate was off: end the bar at 100 %
        except BaseException as error:
            run.fail(error)
            writer.abort()

    started = time.perf_counter()
    threads = [
        threading.Thread(target=stage, name=f"media-{name}", daemon=True)
        for name, stage in (("decode", decode_stage), ("process", process_stage), ("encode", encode_stage))
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            # Joined in slices so a cancel set while we wait is noticed by the stages' own polls.
            while thread.is_alive():
                thread.join(_POLL_S)
                run.stopped()
    except BaseException as error:  # KeyboardInterrupt in the caller: stop the stages, clean up
        run.fail(error)
        for thread in threads:
            thread.join()
        raise
    finally:
        if writer.temp_path is not None:  # a stage died before cleaning up: never leave a .part file
            writer.abort()
    elapsed = time.perf_counter() - started
    if run.error is not None:
        raise run.error
    if not writer.completed:
        raise TranscodeCancelled("cancelled: nothing was written")
    audio = "none" if writer.audio_copied is None else ("copied" if writer.audio_copied else "re-encoded")
    frames = writer.frames_written
    return TranscodeResult(
        output=writer.path,
        frames=frames,
        seconds=elapsed,
        fps=frames / elapsed if elapsed > 0 else 0.0,
        encoder=writer.encoder.name,
        audio=audio,
        warnings=[*reader.warnings, *writer.warnings],
        stage_busy_s=dict(run.busy),
    )


def identity(frames: list[np.ndarray]) -> list[np.ndarray]:
    """process_batch for a plain transcode: the baseline the swap's throughput is compared to."""
    return frames


__all__ = [
    "FrameProcess",
    "FrameSource",
    "ProcessBatch",
    "Progress",
    "TranscodeCancelled",
    "TranscodeOptions",
    "TranscodeResult",
    "identity",
    "run_pipeline",
    "transcode",
]
