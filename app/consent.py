"""The responsible-use notice: one text, one record of its acceptance, shared by the GUI and the CLI.

Accepted once per user (a JSON file in the settings folder); a materially changed text bumps
NOTICE_VERSION and asks again. Automation with no terminal to answer on can accept it up front
with SWAPCAST_ACCEPT_NOTICE=1 (the CLI only; the studio always shows its dialog).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from app.paths import user_paths

NOTICE_VERSION = 1
ACCEPT_ENV = "SWAPCAST_ACCEPT_NOTICE"

NOTICE_POINTS: tuple[str, ...] = (
    "Only use faces of people who have agreed to it — including your own audience's trust.",
    "Do not use it to deceive, impersonate, harass, defraud or to make sexual content of anyone.",
    "Tell viewers when what they see is altered; follow the law and the rules of the platforms you use.",
    "The insightface models SwapCast downloads are licensed for non-commercial research only.",
)
NOTICE_TITLE = "Use SwapCast responsibly"
NOTICE_INTRO = "SwapCast puts one person's face onto another's, live and in recordings. Before you go on:"
NOTICE_OUTRO = "You are responsible for what you make with it. Every output is tagged as AI-altered."


def notice_text() -> str:
    points = "\n".join(f"  - {point}" for point in NOTICE_POINTS)
    return f"{NOTICE_TITLE}\n\n{NOTICE_INTRO}\n{points}\n{NOTICE_OUTRO}"


def notice_html() -> str:
    points = "".join(f"<li>{point}</li>" for point in NOTICE_POINTS)
    return f"<h3>{NOTICE_TITLE}</h3><p>{NOTICE_INTRO}</p><ul>{points}</ul><p>{NOTICE_OUTRO}</p>"


def _record() -> Path:
    return user_paths().settings / "consent.json"


def accepted() -> bool:
    try:
        data = json.loads(_record().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return int(data.get("accepted_version", 0)) >= NOTICE_VERSION


def accept() -> None:
    """Written atomically and at once: a crash right after accepting must not ask again."""
    path = _record()
    user_paths().create("settings")
    payload = json.dumps({"accepted_version": NOTICE_VERSION, "accepted_at": time.time()})
    fd, tmp = tempfile.mkstemp(prefix=".consent.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(payload)
    os.replace(tmp, path)


def ensure_accepted_on_cli() -> bool:
    """True when the user may go on: accepted before, accepted now at the prompt, or by the env var."""
    if accepted():
        return True
    if os.environ.get(ACCEPT_ENV) == "1":
        accept()
        return True
    print(notice_text(), file=sys.stderr)
    if not sys.stdin or not sys.stdin.isatty():
        return False
    answer = input("Type 'yes' to accept and go on: ").strip().lower()
    if answer in ("yes", "y"):
        accept()
        return True
    return False
