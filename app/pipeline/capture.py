"""Capture: a camera (index or device path) or a video file played at its own fps in a loop.

A capture thread reads as fast as the source delivers and keeps only the newest frame for the
processor: when processing is slower than the camera, the waiting frame is replaced (and counted as
dropped), never queued, so latency stays one frame deep however slow the swap is. A source that
fails or disappears is closed and reopened in a loop, with a status line saying so.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from engines.errors import InputError, SwapCastError

from .frame import LiveFrame, now
from .slot import LatestSlot
from .source_thread import SourceThread
from .stats import PipelineStats

log = logging.getLogger(__name__)

REOPEN_BACKOFF_S = (0.5, 1.0, 2.0, 3.0)  # then every 3 s: a replugged camera comes back quickly
LATE_RESYNC_S = 0.25  # a file source this far behind its clock re-anchors instead of bursting


class CaptureError(Exception):
    """The source stopped delivering (unplugged, busy, end of a stream); worth reopening."""


@dataclass(frozen=True)
class SourceInfo:
    name: str  # "camera 0", "/dev/video2", "clip.mp4"
    width: int
    height: int
    fps: float  # what the source says it delivers (0.0 when it does not say)
    is_file: bool = False


class FrameSource(Protocol):
    """Something that yields BGR frames. `read` blocks until the next frame is due."""

    name: str
    last_work_ms: float  # time the last read spent decoding (not waiting), for the stage stats

    def open(self) -> SourceInfo: ...
    def read(self) -> tuple[np.ndarray, float]: ...  # (frame, capture time); raises CaptureError
    def close(self) -> None: ...


# ---------------------------------------------------------------- cameras


class CameraSource:
    """An OpenCV camera by index or device path, asked for a size and fps (it may give others)."""

    def __init__(self, device: int | str, size: tuple[int, int] | None, fps: float) -> None:
        self.device = device
        self.name = f"camera {device}" if isinstance(device, int) else str(device)
        self.size = size
        self.fps = fps
        self.last_work_ms = 0.0
        self._capture = None

    def open(self) -> SourceInfo:
        import cv2

        self.close()
        api = {"Windows": cv2.CAP_DSHOW, "Darwin": cv2.CAP_AVFOUNDATION, "Linux": cv2.CAP_V4L2}.get(
            platform.system(), cv2.CAP_ANY)
        capture = cv2.VideoCapture(self.device, api)
        if not capture.isOpened():
            capture.release()
            raise CaptureError(self._why_not())
        # MJPG first: most USB cameras only reach 720p/1080p at 30 fps compressed (raw YUYV over
        # USB 2 tops out at ~10 fps at 1080p). A camera without MJPG ignores the request.
        capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        if self.size:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        if self.fps:
            capture.set(cv2.CAP_PROP_FPS, self.fps)
        # The driver's own queue would otherwise hold several old frames: ask for the smallest.
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._capture = capture
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        return SourceInfo(self.name, width, height, float(capture.get(cv2.CAP_PROP_FPS) or 0.0))

    def _why_not(self) -> str:
        if isinstance(self.device, str) and platform.system() == "Linux":
            from app.devices import camera_status

            status = camera_status(self.device)
            if status != "ok":
                return status
        return (f"{self.name} cannot be opened (not connected, or in use by another program) — "
                "run `swapcast cameras`, or pass --camera FILE to play a video file instead")

    def read(self) -> tuple[np.ndarray, float]:
        capture = self._capture
        if capture is None:
            raise CaptureError(f"{self.name} is not open")
        # grab() waits for the frame; its arrival is the capture time. retrieve() decodes it
        # (MJPG → BGR), which counts as work and as latency.
        if not capture.grab():
            raise CaptureError(f"{self.name} stopped delivering frames (unplugged or taken by another program)")
        arrived = now()
        start = time.perf_counter()
        ok, image = capture.retrieve()
        self.last_work_ms = (time.perf_counter() - start) * 1000.0
        if not ok or image is None:
            raise CaptureError(f"{self.name} delivered an unreadable frame")
        return image, arrived

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


# ---------------------------------------------------------------- video files


class VideoFileSource:
    """A video file played in real time at its own frame rate, looped, like a camera that never ends.

    Each frame is decoded, then held until it is due; its capture time is when it is handed over,
    as for a camera frame arriving from the driver. When decoding cannot keep up (a busy machine)
    frames come late and their capture time says so: the source's own lag is not counted as the
    pipeline's latency, just as a real camera keeps its own clock whatever the CPU is doing.
    """

    def __init__(self, path: Path) -> None:
        from app.media.probe import probe

        self.path = Path(path)
        self.name = self.path.name
        self.info = probe(self.path)  # one-line InputError for a missing or unusable file
        if self.info.kind != "video":
            raise InputError(f"{self.path}: is a still image, not a video",
                             "pass a video file (or a camera index) to --camera")
        self.last_work_ms = 0.0
        self.loops = 0
        self._frames: Iterator[tuple[np.ndarray, float]] = iter(())
        self._is_open = False
        self._last_s: float | None = None
        self._interval = 1.0 / self.info.fps if self.info.fps > 0 else 1.0 / 30.0
        self._anchor: float | None = None  # clock time at which the current loop's first frame is due
        self._first_s: float | None = None
        self._last_due: float | None = None

    def open(self) -> SourceInfo:
        self.close()
        self._frames = self._decode()
        self._is_open = True
        self._anchor, self._first_s, self._last_due = None, None, None
        return SourceInfo(self.name, self.info.width, self.info.height, self.info.fps or 30.0, is_file=True)

    def _decode(self) -> Iterator[tuple[np.ndarray, float]]:
        """(BGR image, seconds from the start) for each frame of one pass through the file."""
        import av

        from app.media.probe import open_input

        container = open_input(self.path)
        try:
            stream = container.streams.video[0]
            # One decoding thread: the engine needs the other cores, and a file played in real time
            # only has to keep up with its own frame rate.
            stream.thread_count = 1
            time_base = stream.time_base
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    continue  # a damaged packet: a camera would drop that frame too
                for frame in frames:
                    seconds = float(frame.pts * time_base) if frame.pts is not None and time_base else None
                    # swscale's default conversion: ~3 ms less than the exact-levels path at 1080p; a
                    # stand-in camera does not need the offline path's level accuracy.
                    yield frame.to_ndarray(format="bgr24"), seconds if seconds is not None else -1.0
        finally:
            container.close()

    def _next_decoded(self) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        item = next(self._frames, None)
        if item is None:
            # End of the file: play it again, continuing the clock one frame after the last one.
            self.loops += 1
            self._frames = self._decode()
            self._anchor = (self._last_due + self._interval) if self._last_due is not None else None
            self._first_s = None
            item = next(self._frames, None)
            if item is None:
                raise CaptureError(f"{self.name}: no frame could be decoded")
        self.last_work_ms = (time.perf_counter() - start) * 1000.0
        image, seconds = item
        if seconds < 0:  # no timestamp: continue the regular cadence
            seconds = (self._last_s + self._interval) if self._last_s is not None else 0.0
        self._last_s = seconds
        return image, seconds

    def read(self) -> tuple[np.ndarray, float]:
        if not self._is_open:
            raise CaptureError(f"{self.name} is not open")
        image, seconds = self._next_decoded()
        if self._first_s is None:
            self._first_s = seconds
        if self._anchor is None:
            self._anchor = now()
        due = self._anchor + (seconds - self._first_s)
        wait = due - now()
        if wait > 0:
            time.sleep(wait)
        elif wait < -LATE_RESYNC_S:
            # We fell behind (the machine stalled): a camera would not deliver the missed frames in a
            # burst either, so move the clock instead of racing to catch up.
            self._anchor -= wait
            due = now()
        self._last_due = due
        return image, now()

    def close(self) -> None:
        frames, self._frames = self._frames, iter(())
        close = getattr(frames, "close", None)
        if close is not None:
            try:
                close()  # runs the generator's finally: the container is closed
            except ValueError:  # still running on another thread (a stop that timed out): it ends there
                pass
        self._is_open = False


def open_source(camera: str, size: tuple[int, int] | None, fps: float) -> FrameSource:
    """`--camera` → a source: an index ("0"), a device path ("/dev/video2"), or a video file."""
    spec = str(camera).strip()
    if spec.isdigit():
        return CameraSource(int(spec), size, fps)
    path = Path(spec).expanduser()
    if spec.startswith("/dev/") or (path.exists() and path.is_char_device()):
        return CameraSource(spec, size, fps)
    if not path.exists():
        raise InputError(f"camera '{spec}' not found: not an index, a device or a file",
                         "run `swapcast cameras` to list cameras, or give the path of a video file")
    return VideoFileSource(path)


# ---------------------------------------------------------------- the capture thread


StatusFn = Callable[[str], None]


class Capture(SourceThread):
    """Reads a source on its own thread into a newest-wins slot; reopens the source when it fails."""

    thread_name = "live-capture"

    def __init__(self, source: FrameSource, slot: LatestSlot[LiveFrame], stats: PipelineStats,
                 on_status: StatusFn = lambda message: None) -> None:
        super().__init__(source)
        self.source: FrameSource = source
        self.slot = slot
        self.stats = stats
        self.on_status = on_status
        self.reopens = 0
        self.info: SourceInfo | None = None
        self._index = 0

    def open(self) -> SourceInfo:
        """First open, on the caller's thread: a source that cannot open at all fails the start."""
        try:
            self.info = self.source.open()
        except CaptureError as error:
            raise InputError(str(error)) from None
        return self.info

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                image, captured_at = self.source.read()
            except Exception as error:  # noqa: BLE001 — any failure of a source means "reopen it"
                if self._stop.is_set():
                    break
                self._reopen(error)
                continue
            self.stats.captured(captured_at)
            self.stats.stage("capture", self.source.last_work_ms)
            dropped = self.slot.put(LiveFrame(image, captured_at, self._index))
            self._index += 1
            if dropped is not None:
                self.stats.drop()

    def _reopen(self, error: BaseException) -> None:
        reason = str(error) if isinstance(error, (CaptureError, SwapCastError)) else f"{type(error).__name__}: {error}"
        log.warning("%s failed: %s — reopening", self.source.name, reason)
        attempt = 0
        while not self._stop.is_set():
            self.on_status(f"{self.source.name}: {reason} — reopening…")
            try:
                self.source.close()
            except Exception:  # noqa: BLE001 — a broken source may fail to close too; reopen anyway
                pass
            if self._stop.wait(REOPEN_BACKOFF_S[min(attempt, len(REOPEN_BACKOFF_S) - 1)]):
                return
            attempt += 1
            try:
                self.info = self.source.open()
            except Exception as again:  # noqa: BLE001
                reason = str(again) if isinstance(again, (CaptureError, SwapCastError)) else f"{type(again).__name__}: {again}"
                continue
            self.reopens += 1
            log.info("%s reopened", self.source.name)
            self.on_status("")
            return
