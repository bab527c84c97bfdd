"""The built-in engine as the manager sees it: a frame-level `Engine` behind the same file-level
adapter contract as every other engine, so the manager picks, retries and fails over alike.

run() turns one request into frames and back:
- the engine: lent, loaded for this adapter's profile, by the runtime (the app's engine cache,
  which shares loaded engines between jobs and the live session and admits them to memory);
- the SwapContext: the request's source photos → one identity, its face mode, its reference;
- an image target: read → engine.process → tagged, atomic write (engines/imaging);
- a video target: the runtime's video pipeline (decode → engine.process_batch → encode) —
  engines/ has no video I/O of its own and never imports app/, so the app lends it.

Failures are sorted by what can fix them (engines/builtin/runtime/failures.py). A profile (the
CPU-friendly "lite" one) only changes LoadOptions: detector size, enhancer, threads, providers.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from engines.base import FRAMES_WITHOUT_FACE, Engine, FaceSelection, Frame, LipSyncFrame, LoadOptions, SwapContext
from engines.builtin.runtime.failures import classify
from engines.errors import InputError, OutputError

from .base import Availability, EngineAdapter, ProgressCallback, SwapRequest, SwapResult
from .config import EngineConfig, Mode
from .errors import EngineUnavailable, SourceError

T = TypeVar("T")
TimedBatchFn = Callable[[Sequence[Frame], Sequence[float]], list[Frame]]  # frames and the second each is shown at


@dataclass(frozen=True)
class VideoOutcome:
    frames: int  # frames written
    warnings: tuple[str, ...] = ()


class InProcessRuntime(Protocol):
    """What the app lends in-process engines (handed to the EngineManager when it is built)."""

    def engine(self, adapter: InProcessAdapter, models: str | None, *, swap: bool = True) -> Engine:
        """The loaded engine for `adapter`'s profile and a --models DIR (None: the catalog). Slow the
        first time (model loading); raises the allocator's or the model store's one-line errors.
        `swap=False`: lip sync only, without the recognizer and swapper."""
        ...

    def transcode(self, request: SwapRequest, process: TimedBatchFn, progress: ProgressCallback) -> VideoOutcome:
        """request.target's frames (with the second each is shown at) through `process` into request.output (temp file, then rename),
        honouring trim, encoder, quality and audio. `progress` is called on the caller's thread and
        may raise to stop."""
        ...

    def lip_sync_video(self, request: SwapRequest, process: TimedBatchFn, progress: ProgressCallback) -> VideoOutcome:
        """request.target (a video or a photo) fitted to the audio request.lip_sync (request.fit), each
        frame through `process` with its time, into request.output with that audio as its sound."""
        ...

    def speech(self, request: SwapRequest) -> np.ndarray:
        """request.lip_sync decoded to 16 kHz mono float32 in −1..1 (one-line InputError if it has no sound)."""
        ...


def tuned_threads() -> int:
    """Threads for the lite profile: the small models stop scaling at about 4 threads, and video
    decoding/encoding run on other threads beside them, so more would only contend."""
    return max(1, min(4, os.cpu_count() or 1))


class InProcessAdapter(EngineAdapter):
    def __init__(self, config: EngineConfig, runtime: InProcessRuntime | None = None) -> None:
        super().__init__(config)
        self.runtime = runtime

    def load_options(self, base: LoadOptions) -> LoadOptions:
        """`base` (models folder, caches) with this engine's profile applied."""
        profile = self.config.profile
        if profile is None:
            return base
        changes: dict[str, object] = {}
        if profile.det_size is not None:
            changes["det_size"] = profile.det_size
        if profile.det_threshold is not None:
            changes["det_threshold"] = profile.det_threshold
        if profile.load_enhancer is not None:
            changes["load_enhancer"] = profile.load_enhancer
        if not profile.allow_enhance:
            changes["load_enhancer"] = False
        if profile.threads == "auto":
            changes["threads"] = tuned_threads()
        elif isinstance(profile.threads, int):
            changes["threads"] = profile.threads
        if profile.providers is not None:
            changes["providers"] = profile.providers
        if profile.swapper_precision is not None:
            changes["swapper_precision"] = profile.swapper_precision
        if profile.models:
            changes["preferred_models"] = profile.models
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]

    @property
    def allows_enhance(self) -> bool:
        return self.config.profile is None or self.config.profile.allow_enhance

    def check(self) -> Availability:
        try:
            import onnxruntime
        except ImportError as error:
            return Availability.no(f"onnxruntime cannot be imported ({error})", None)
        note = "loads on first use"
        profile = self.config.profile
        if profile is not None and profile.providers:
            available = {p.lower().removesuffix("executionprovider") for p in onnxruntime.get_available_providers()}
            missing = [p for p in profile.providers if p != "auto" and p.lower() not in available]
            if missing:
                note = f"{', '.join(missing)} not available in this onnxruntime build: runs on the CPU"
        return Availability(True, note, f"onnxruntime {onnxruntime.__version__}")

    def create_engine(self) -> Engine:
        """A new, unloaded engine; load it with load_options(base). (Imported here: onnxruntime is heavy.)"""
        from engines.builtin.engine import BuiltinEngine

        return BuiltinEngine()

    # ---- one target ------------------------------------------------------------------------
    def run(self, request: SwapRequest, progress: ProgressCallback) -> SwapResult:
        runtime = self.runtime
        if runtime is None:
            raise EngineUnavailable(f"{self.name} runs inside SwapCast: it needs the app's engine runtime")
        engine = _guarded(lambda: runtime.engine(self, request.models, swap=request.swap_faces), request.output)
        warnings: list[str] = []
        context = self._context(engine, request, warnings)
        if request.lip_sync is not None:
            outcome = _guarded(lambda: self._lip_sync(runtime, engine, context, request, progress), request.output)
            return SwapResult(request.output, self.name, outcome.frames,
                              tuple(warnings + list(outcome.warnings) + _face_warnings(context, request, outcome)))
        if request.mode is Mode.IMAGE_TO_IMAGE:
            warnings += _guarded(lambda: _swap_image(engine, context, request), request.output)
            progress(1, 1)
            return SwapResult(request.output, self.name, 1, tuple(warnings))
        outcome = _guarded(lambda: runtime.transcode(request, timed_process(engine, context),
                                                     progress), request.output)
        warnings += outcome.warnings
        warnings += _face_warnings(context, request, outcome)
        return SwapResult(request.output, self.name, outcome.frames, tuple(warnings))

    @staticmethod
    def _lip_sync(runtime: InProcessRuntime, engine: Engine, context: SwapContext, request: SwapRequest,
                  progress: ProgressCallback) -> VideoOutcome:
        """Swap (when there are sources) and lip-sync in one pass: each frame gets the mel window of
        the moment it is shown, on the same detections."""
        process = lip_sync_process(engine, context, runtime.speech(request), request.lip_sync_weight)
        return runtime.lip_sync_video(request, process, progress)

    def _context(self, engine: Engine, request: SwapRequest, warnings: list[str]) -> SwapContext:
        """The request's sources, face mode and options as a SwapContext; a source problem is a
        SourceError (it fails the whole job, whatever the engine)."""
        enhance = request.enhance and self.allows_enhance
        if request.enhance and not enhance:
            warnings.append(f"{self.name} has no enhancer: --enhance was ignored")
        if not request.swap_faces:  # lip sync only: the faces stay who they are
            return SwapContext(selection=request.faces, swap_faces=False, enhance=enhance,
                               enhance_blend=request.enhance_blend, smoothing=True, on_error="raise", in_place=True)
        try:
            # Identities are cached by the photos' content, so later targets of a job cost nothing here.
            identity = _guarded(lambda: engine.identity(list(request.sources), face_index=request.source_face),
                                request.output)
            references = []
            if request.faces is FaceSelection.REFERENCE and request.reference is not None:
                references = [_guarded(lambda: engine.identity([request.reference]), request.output)]  # type: ignore[list-item]
        except OutputError:
            raise
        except InputError as error:
            raise SourceError(error.problem, error.fix) from error
        for source, count in zip(request.sources, identity.faces_in_sources):
            if count > 1 and request.source_face is None:
                warnings.append(f"{Path(source).name}: {count} faces found, used the largest "
                                "(pick another with --source-face N)")
        return SwapContext(identities=[identity], selection=request.faces, references=references, enhance=enhance,
                           enhance_blend=request.enhance_blend, smoothing=True, on_error="raise", in_place=True)


def timed_process(engine: Engine, context: SwapContext) -> TimedBatchFn:
    """The frame function of a swapped video: the frames' own times drive the keypoint smoothing,
    so a video gives the same output on every run."""

    def process(frames: Sequence[Frame], times: Sequence[float]) -> list[Frame]:
        context.frame_times = times  # one pipeline thread calls this, in frame order
        return engine.process_batch(frames, context)

    return process


def lip_sync_process(engine: Engine, context: SwapContext, speech: np.ndarray, weight: float) -> TimedBatchFn:
    """The frame function of a lip-synced video: each frame through `engine` with the mel window of the
    moment it is shown (16 kHz mono `speech`), swapped too when `context` has an identity."""
    from engines.builtin.lipsync.mel import mel_spectrogram, mel_window

    mel = mel_spectrogram(speech)  # the whole audio at once: 80 floats per 12.5 ms, ~90 MB for an hour

    def process(frames: Sequence[Frame], times: Sequence[float]) -> list[Frame]:
        # One pipeline thread calls this, in frame order: the stream's context is safe to set here.
        context.lip_sync_batch = [LipSyncFrame(mel_window(mel, t), weight) for t in times]
        context.frame_times = times
        return engine.process_batch(frames, context)

    return process


def _face_warnings(context: SwapContext, request: SwapRequest, outcome: VideoOutcome) -> list[str]:
    without = int(context.stream_state.get(FRAMES_WITHOUT_FACE, 0))  # type: ignore[call-overload]
    if without >= outcome.frames > 0:
        return [f"{request.target.name}: no face found in any frame; the output has the input's frames"]
    if without:
        return [f"{request.target.name}: no face in {without} of {outcome.frames} frames"]
    return []


def _swap_image(engine: Engine, context: SwapContext, request: SwapRequest) -> list[str]:
    from engines.imaging import read_image, write_image_atomic
    from engines.metadata import output_tags

    image = read_image(request.target)
    result = engine.process(image, context)
    request.output.parent.mkdir(parents=True, exist_ok=True)
    write_image_atomic(request.output, result, output_tags())
    if int(context.stream_state.get(FRAMES_WITHOUT_FACE, 0)):  # type: ignore[call-overload]
        return [f"{request.target.name}: no face found; the output is the unchanged image"]
    return []


def _guarded(work: Callable[[], T], output: Path) -> T:
    """Engine and runtime failures → the job's error classes; the rest re-raised for the manager."""
    try:
        return work()
    except Exception as error:  # noqa: BLE001 — sorted by classify(); JobInterrupted (BaseException) passes
        sorted_error = classify(error, output)
        if sorted_error is None or sorted_error is error:
            raise
        raise sorted_error from error
