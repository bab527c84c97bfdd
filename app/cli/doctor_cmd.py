"""`swapcast doctor [--json]`: what works on this machine, what does not, and the fix for each."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Sequence

from app import __version__
from app.doctor import CheckResult, DoctorContext, all_ok, ready_for, run_checks
from app.models_option import models_override

_MARKS = {"ok": "✓", "warn": "!", "fail": "✗"}
_ASCII_MARKS = {"ok": "ok", "warn": "!!", "fail": "XX"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check Python, onnxruntime/GPU, cameras, virtual camera, models, encoders and folders",
        description="Checks everything SwapCast needs and prints the fix for what is missing. "
        "Exits non-zero when something needed for live or offline work fails.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.set_defaults(handler=run)


def _marks() -> dict[str, str]:
    # A Windows console in cp1252 cannot print ✓/✗.
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "".join(_MARKS.values()).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return _ASCII_MARKS
    return _MARKS


def render_table(results: Sequence[CheckResult]) -> str:
    marks = _marks()
    width = max(len(r.name) for r in results)
    lines = [f"SwapCast {__version__} doctor — {platform.system()} {platform.machine()}, Python {platform.python_version()}", ""]
    for result in results:
        lines.append(f"{marks[result.status]:>2} {result.name:<{width}}  {result.summary}")
        if result.fix and result.status != "ok":
            lines.append(f"   {'':<{width}}  fix: {result.fix}")
    ready = ready_for(results)
    blockers = {p: [r.name for r in results if r.status == "fail" and p in r.needed_for] for p in ready}
    lines.append("")
    for purpose, ok in ready.items():
        state = "ready" if ok else "not ready (" + ", ".join(blockers[purpose]) + ")"
        lines.append(f"{purpose}: {state}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    results = run_checks(DoctorContext.default(models_override(args)))
    ok = all_ok(results)
    if args.json:
        document = {"ok": ok, "ready": ready_for(results), "checks": [r.to_dict() for r in results]}
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(render_table(results))
    return 0 if ok else 1
