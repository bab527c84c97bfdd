"""One video target: the media pipeline with the engine as its frame processor.

transcode() blocks and reports progress from its own threads, while the job's reporter must be
called from the runner's thread (it raises there when the job is cancelled). So transcode runs on a
helper thread and the runner's thread relays progress and cancellation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from engines.base import SwapContext
from engines.builtin.engine import FRAMES_WITHOUT_FACE, BuiltinEngine

from app.media.transcode import TranscodeOptions, TranscodeResult, transcode

from .plan import TargetPlan

Relay = Callable[[int], None]  # frames done in this video; may raise to stop


def crf_from_quality(quality: int | None) -> int:
    """The CLI's 0..100 (higher is better, as in FaceFusion) → the encoders' CRF scale (0..51)."""
    if quality is None:
        return 20
    return round(51 - max(0, min(100, quality)) * 0.51)


def swap_video(engine: BuiltinEngine, context: SwapContext, plan: TargetPlan, options: TranscodeOptions,
               relay: Relay) -> tuple[TranscodeResult, list[str]]:
    done = [0]
    cancel = threading.Event()
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["result"] = transcode(plan.target, plan.output, lambda frames: engine.process_batch(frames, context),
                                          options, progress=lambda d, _t: done.__setitem__(0, d), cancel=cancel)
        except BaseException as error:  # noqa: BLE001 — handed to the runner's thread below
            outcome["error"] = error

    thread = threading.Thread(target=work, name=f"transcode-{plan.target.name}", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
            relay(done[0])
    except BaseException:
        cancel.set()  # cancelled or lease lost: stop the pipeline, its temp file is removed
        thread.join()
        raise
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    result: TranscodeResult = outcome["result"]  # type: ignore[assignment]
    relay(result.frames)
    warnings = list(result.warnings)
    without = int(context.stream_state.get(FRAMES_WITHOUT_FACE, 0))
    if without >= result.frames > 0:
        warnings.append(f"{plan.target.name}: no face found in any frame; the output has the input's frames")
    elif without:
        warnings.append(f"{plan.target.name}: no face in {without} of {result.frames} frames")
    return result, warnings
