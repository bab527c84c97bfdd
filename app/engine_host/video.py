"""The video pipeline lent to in-process engines: a request's target through their frame function.

transcode() blocks and reports progress from its own threads, while the job's reporter must be
called from the runner's thread (it raises there when the job is cancelled). So transcode runs on a
helper thread and the caller's thread relays progress and cancellation.
"""

from __future__ import annotations

import threading

from engines.external.base import ProgressCallback, SwapRequest
from engines.external.inprocess import BatchFn, VideoOutcome

from app.media.transcode import TranscodeOptions, TranscodeResult, transcode


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


def swap_video(request: SwapRequest, process: BatchFn, progress: ProgressCallback) -> VideoOutcome:
    expected = max(1, request.frames_hint)
    done = [0]
    cancel = threading.Event()
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["result"] = transcode(request.target, request.output, process, transcode_options(request),
                                          progress=lambda d, _t: done.__setitem__(0, d), cancel=cancel)
        except BaseException as error:  # noqa: BLE001 — handed to the caller's thread below
            outcome["error"] = error

    thread = threading.Thread(target=work, name=f"transcode-{request.target.name}", daemon=True)
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
