"""A lip-synced video: the target's picture fitted to the given audio, through the engine, with
that audio as its sound.

The output runs on a constant frame rate (the target video's, or `still_fps` for a photo): frame i
is shown at i / fps, which is the time its mel window is taken at. Its length is the audio's
(VideoFit.LOOP: a shorter target starts again from its first frame) or the shorter of the two
(VideoFit.TRIM: the audio is cut with the picture); a longer target is always cut at the audio's end.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from engines.errors import InputError
from engines.imaging import IMAGE_SUFFIXES, read_image
from engines.video_fit import DEFAULT_STILL_FPS, VideoFit

from .probe import MediaInfo, probe
from .reader import DecodedFrame, VideoReader
from .speech_audio import SpeechAudio, probe_speech
from .transcode import Progress, TranscodeOptions, TranscodeResult, check_batching, encode_settings, run_pipeline
from .writer import VideoWriter

# (frames, the time each is shown at in seconds) → processed frames
TimedProcess = Callable[[list[np.ndarray], list[float]], list[np.ndarray]]


@dataclass(frozen=True)
class Timeline:
    """The output's frames: how many, at which rate, and where its sound ends."""

    frames: int
    fps: Fraction
    audio_end_s: float | None  # None: the whole audio

    def time_of(self, index: int) -> float:
        return float(index / self.fps)


def is_photo(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def plan_timeline(target: MediaInfo | None, audio: SpeechAudio, fit: VideoFit,
                  still_fps: float = DEFAULT_STILL_FPS) -> Timeline:
    """`target` None: a photo. A video's rate is its nominal one (a variable-rate clip is re-timed)."""
    if target is None:
        fps = Fraction(still_fps).limit_denominator(1001)
    else:
        fps = target.frame_rate or Fraction(target.fps or DEFAULT_STILL_FPS).limit_denominator(1001)
    wanted = max(1, int(audio.duration_s * fps + Fraction(1, 2)))  # half up: 2.5 s at 25 fps → 63
    if target is not None and VideoFit.parse(fit) is VideoFit.TRIM and target.frame_count < wanted:
        frames = max(1, target.frame_count)
        return Timeline(frames, fps, float(frames / fps))
    return Timeline(wanted, fps, None)


class FittedFrames:
    """The target's frames on the output's timeline (a FrameSource for run_pipeline)."""

    def __init__(self, target: Path, info: MediaInfo | None, timeline: Timeline, still: np.ndarray | None = None) -> None:
        """`info` None: `still` is the photo, held for the whole timeline."""
        self.target, self.info, self.timeline, self.still = target, info, timeline, still
        self.warnings: list[str] = []
        self._reader: VideoReader | None = None
        self._time_base = 1 / timeline.fps

    @property
    def frames_total(self) -> int:
        return self.timeline.frames

    def _pictures(self) -> Iterator[np.ndarray]:
        if self.info is None:
            assert self.still is not None
            while True:
                yield self.still.copy()  # the engine pastes into the frame it is given
        while True:
            self._reader = VideoReader(self.target, info=self.info)
            count = 0
            for frame in self._reader:
                count += 1
                yield frame.image
            if count == 0:
                raise InputError(f"{self.target}: no frame could be decoded", "re-encode the video or pick another")
            # The target ended before the audio: start it again from its first frame.

    def __iter__(self) -> Iterator[DecodedFrame]:
        pictures = self._pictures()
        try:
            for index in range(self.timeline.frames):
                yield DecodedFrame(image=next(pictures), pts=index, time_base=self._time_base, index=index)
        finally:
            pictures.close()
            self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


def lip_sync_transcode(
    target: str | Path,
    audio: str | Path,
    dst: str | Path,
    process: TimedProcess,
    options: TranscodeOptions | None = None,
    *,
    fit: VideoFit = VideoFit.LOOP,
    still_fps: float = DEFAULT_STILL_FPS,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> TranscodeResult:
    """`target` (a video or a photo) fitted to `audio`, each frame through `process` with its time,
    encoded to `dst` with `audio` as its sound (temp file, then rename; tagged AI-altered)."""
    options = options or TranscodeOptions()
    check_batching(options)
    target = Path(target)
    sound = probe_speech(audio)
    info = probe(target)
    if info.kind == "image" and not is_photo(target):
        raise InputError(f"{target.name}: a one-frame video cannot be lip-synced", "give a photo or a video")
    timeline = plan_timeline(None if info.kind == "image" else info, sound, fit, still_fps)
    still = read_image(target) if info.kind == "image" else None
    if still is not None:  # the picture as decoded sets the size (and it carries no display rotation)
        info = dataclasses.replace(info, width=still.shape[1], height=still.shape[0], rotation=0, display_matrix=None)
    # The writer's clock is the output's constant rate; the sound is the given audio's, never the target's.
    out_info = dataclasses.replace(info, kind="video", time_base=1 / timeline.fps, frame_rate=timeline.fps,
                                   fps=float(timeline.fps), start_pts=0, has_audio=False, is_vfr=False,
                                   frame_count=timeline.frames, frame_count_exact=True,
                                   duration_s=timeline.frames / float(timeline.fps))
    writer = VideoWriter(dst, out_info, encode_settings(options),
                         end_s=timeline.audio_end_s, audio_file=sound.path)
    frames = FittedFrames(target, None if still is not None else info, timeline, still)
    return run_pipeline(frames, lambda batch: process([f.image for f in batch], [f.time_s for f in batch]),
                        writer, options, progress, cancel)
