"""How a lip-synced video's picture is fitted to its audio: the one list of fit modes for the CLI,
jobs, the adapters and the video path (app/media/lipsync_video)."""

from __future__ import annotations

import enum

from engines.errors import InputError


class VideoFit(str, enum.Enum):
    """The output always starts with the target's first frame, and is never longer than the audio.

    LOOP: the output is as long as the audio; a target video shorter than the audio starts again
    from its first frame until the audio ends (a longer one is cut at the audio's end).
    TRIM: the output stops at the shorter of the two; the audio is cut with the picture.
    A photo target is held for the whole audio either way.
    """

    LOOP = "loop"
    TRIM = "trim"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: object) -> VideoFit:
        """`value` as a fit mode; InputError naming the valid ones otherwise (never a silent default)."""
        for choice in cls:
            if value == choice.value or value is choice:
                return choice
        raise InputError(f"unknown --fit {str(value)!r}",
                         f"use one of {', '.join(choice.value for choice in cls)}")


DEFAULT_STILL_FPS = 25.0  # frames per second of the video a photo becomes
