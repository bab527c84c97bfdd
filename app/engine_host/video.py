"""The video pipeline lent to in-process engines: a request's target through their frame function.

transcode() blocks and reports progress from its own threads, while the job's reporter must be
called from the runner's thread (it raises there when the job is cancelled). So transcode runs on a
helper thread and the caller's thread relays progress and cancellation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from engines.external.base import ProgressCallback, SwapRequest
from engines.external.inprocess import TimedBatchFn, VideoOutcome

from app.media.transcode import Progress, TranscodeOptions, TranscodeResult, transcode_timed


def crf_from_quality(quality: int | None) -> int:
    """The CLI's 0..100 (higher is better, as in FaceFusion) → the encoders' CRF scale (0..51)."""
    if quality is None:
        return 20
    return round(51 - max(0, min(100, quality)) * 0.51)


def transcode_options(request: SwapRequest) -> TranscodeOptions:
    trim = request.trim
    return TranscodeOptions(encoder=request.encoder, quality=crf_from_quality(request.quality), audio=request.audio,
                            start_s=trim[0] if trim else None, end_s=trim[1] if trim else None,
                            overwrite=request.overwrite)


def swap_video(request: SwapRequest, process: TimedBatchFn, progress: ProgressCallback) -> VideoOutcome:
    return _relayed(request, progress, lambda on_frames, cancel: transcode_timed(
        request.target, request.output, process, transcode_options(request), progress=on_frames, cancel=cancel))


def lip_sync_video(request: SwapRequest, process: TimedBatchFn, progress: ProgressCallback) -> VideoOutcome:
    """request.target (a video or a photo) fitted to request.lip_sync, its frames through `process`
    with their times, the audio as the output's sound."""
    from app.media.lipsync_video import lip_sync_transcode

    assert request.lip_sync is not None
    return _relayed(request, progress, lambda on_frames, cancel: lip_sync_transcode(
        request.target, request.lip_sync, request.output, lambda frames, times: process(frames, times),
        transcode_options(request), fit=request.fit, still_fps=request.still_fps, progress=on_frames, cancel=cancel))


def speech_samples(request: SwapRequest) -> np.ndarray:
    """request.lip_sync as 16 kHz mono float32 (what the mel spectrogram takes)."""
    from app.media.speech_audio import decode_speech

    assert request.lip_sync is not None
    return decode_speech(request.lip_sync)


def _relayed(request: SwapRequest, progress: ProgressCallback,
             work: Callable[[Progress, threading.Event], TranscodeResult]) -> VideoOutcome:
    """Run `work` on a helper thread; relay its progress here, where a cancel raises and stops it."""
    expected = max(1, request.frames_hint)
    done = [0]
    cancel = threading.Event()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = work(lambda d, _t: done.__setitem__(0, d), cancel)
        except BaseException as error:  # noqa: BLE001 — handed to the caller's thread below
            outcome["error"] = error

    thread = threading.Thread(target=run, name=f"transcode-{request.target.name}", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
            progress(done[0], max(expected, done[0]))
    except BaseException:
        cancel.set()  # cancelled or lease lost: stop the pipeline, its temp file is removed
        thread.join()
        raise
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    result: TranscodeResult = outcome["result"]  # type: ignore[assignment]
    progress(result.frames, max(expected, result.frames))
    return VideoOutcome(result.frames, tuple(result.warnings))
