"""One image target: read, swap, write tagged and atomically."""

from __future__ import annotations

from engines.base import SwapContext
from engines.builtin.engine import FRAMES_WITHOUT_FACE, BuiltinEngine
from engines.imaging import read_image, write_image_atomic
from engines.metadata import output_tags

from .plan import TargetPlan


def swap_image(engine: BuiltinEngine, context: SwapContext, plan: TargetPlan) -> list[str]:
    image = read_image(plan.target)
    before = int(context.stream_state.get(FRAMES_WITHOUT_FACE, 0))
    result = engine.process(image, context)
    plan.output.parent.mkdir(parents=True, exist_ok=True)
    write_image_atomic(plan.output, result, output_tags())
    if int(context.stream_state.get(FRAMES_WITHOUT_FACE, 0)) > before:
        return [f"{plan.target.name}: no face found; the output is the unchanged image"]
    return []
