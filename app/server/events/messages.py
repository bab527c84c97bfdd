"""The `/api/events` messages: their types and JSON, `{"type": ..., "data": {...}, "time": ...}`, encoded once.

Each message may carry a second text for subscribers that do not see the server's paths (all but admins).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from app.jobs.events import EventKind, JobEvent
from app.jobs.model import JobState

from ..public_paths import public_name, public_text, public_tree

if TYPE_CHECKING:
    from .outbox import Subscriber


class MessageType(str, Enum):
    JOB = "job"
    LIVE = "live"
    HEALTH = "health"
    HEARTBEAT = "heartbeat"


@dataclass(frozen=True)
class Message:
    type: MessageType
    text: str  # the JSON sent, encoded once for every subscriber
    droppable: bool  # a newer message of the same sort supersedes it (progress, live stats, heartbeat)
    public: str | None = None  # the text for subscribers that do not see server paths, when it differs

    def text_for(self, subscriber: Subscriber) -> str:
        return self.text if subscriber.sees_paths or self.public is None else self.public


def encode(kind: MessageType, data: Any, at: float | None = None) -> str:
    return json.dumps({"type": kind.value, "data": data, "time": time.time() if at is None else at},
                      separators=(",", ":"))


def job_data(event: JobEvent) -> dict[str, Any]:
    """What a `job` message carries."""
    return {
        "id": event.job_id,
        "kind": event.kind.value,
        "state": event.state.value,
        "done": event.progress.done,
        "total": event.progress.total,
        "progress": round(1.0 if event.state is JobState.COMPLETED else event.progress.fraction, 4),
        "fps": event.fps,
        "eta_s": event.eta_s,
        "message": event.message,
        # A video split across Ray actors: segments swapped so far (null when the job is not split).
        "segments_done": event.segments.done if event.segments else None,
        "segments_total": event.segments.total if event.segments else None,
    }


def job_message(event: JobEvent) -> Message:
    """`message` (an output path, an error, a warning) reduced to file names for all but admins."""
    data = job_data(event)
    public = None
    if event.message:
        shown = (public_name(event.message) if event.state is JobState.COMPLETED and event.kind is not EventKind.WARNING
                 else public_text(event.message))
        if shown != event.message:
            public = encode(MessageType.JOB, {**data, "message": shown}, event.time)
    return Message(MessageType.JOB, encode(MessageType.JOB, data, event.time),
                   droppable=event.kind is EventKind.PROGRESS, public=public)


def live_message(live: dict[str, Any]) -> Message:
    """The live session's stats, paths reduced to file names for all but admins."""
    at = time.time()
    text, public = encode(MessageType.LIVE, live, at), encode(MessageType.LIVE, public_tree(live), at)
    return Message(MessageType.LIVE, text, droppable=True, public=public if public != text else None)


def health_message(engines: list[dict[str, Any]]) -> Message:
    return Message(MessageType.HEALTH, encode(MessageType.HEALTH, {"engines": engines}), droppable=False)


def heartbeat_message(interval_s: float) -> Message:
    return Message(MessageType.HEARTBEAT, encode(MessageType.HEARTBEAT, {"interval_s": interval_s}), droppable=True)
