"""Live lip sync: the audio input's thread feeds a MelStream, the video waits in a delay line until
the audio its mel window needs has arrived, and each frame carries its window to the engine.

One clock for both: a sample at `t` seconds on the audio input's clock was heard at `origin + t` on
the pipeline's clock (`frame.now`), and a frame captured at `c` shows the moment `c − origin`. The
mel window of that moment looks ~0.1 s ahead, so the *video* is held back until that audio is in —
never the audio: the delay line releases each frame as soon as its window exists, and outputs mux
the audio on the same clock, so picture and sound stay in sync in files and streams.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import av
import numpy as np

from app.devices.audio_input import AudioBlock, AudioSource
from engines.base import LipSyncFrame, SwapContext
from engines.builtin.lipsync.mel import SAMPLE_RATE, MelStream

from .api import LiveStats
from .frame import LiveFrame, now
from .slot import LatestSlot
from .source_thread import SourceThread
from .stats import WINDOW_S, PipelineStats, percentile

log = logging.getLogger(__name__)

MAX_HOLD_S = 0.5  # audio this late (a stalled device): let the frame go without lip sync
DELAY_CAPACITY = 60  # frames held at most (2 s at 30 fps, far above the look-ahead)
TAP_SECONDS = 10.0  # an output that stalls this long loses its oldest audio, never blocks the feed
READ_TIMEOUT_S = 0.25


@dataclass(frozen=True)
class TimedAudio:
    """A block of the input's sound placed on the pipeline clock, for an output to mux."""

    samples: np.ndarray  # float32 mono
    clock_start: float  # when its first sample was heard (pipeline clock)
    rate: int


class AudioTap:
    """One output's copy of the sound: a bounded queue, filled by the feed, drained by the output."""

    def __init__(self, rate: int, seconds: float = TAP_SECONDS) -> None:
        self.rate = rate
        self._blocks: deque[TimedAudio] = deque(maxlen=max(1, int(seconds * 50)))
        self._lock = threading.Lock()
        self.closed = False

    def put(self, block: TimedAudio) -> None:
        with self._lock:
            self._blocks.append(block)

    def take(self, until_clock: float | None = None) -> list[TimedAudio]:
        """The blocks that start before `until_clock` (all of them for None), oldest first."""
        with self._lock:
            taken = []
            while self._blocks and (until_clock is None or self._blocks[0].clock_start < until_clock):
                taken.append(self._blocks.popleft())
            return taken

    def close(self) -> None:
        self.closed = True


class To16k:
    """The input's rate → the mel's 16 kHz, with one resampler kept across blocks (no seams)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resampler = None if rate == SAMPLE_RATE else av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        if self._resampler is None:
            return samples
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, np.float32)[None, :], format="flt", layout="mono")
        frame.sample_rate = self.rate
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, np.float32)


class AudioFeed(SourceThread):
    """The audio input's own thread: blocks → 16 kHz → MelStream, and a copy to each output's tap."""

    thread_name = "live-audio"

    def __init__(self, source: AudioSource, on_status: Callable[[str], None] = lambda text: None) -> None:
        super().__init__(source)
        self.source: AudioSource = source
        self.on_status = on_status
        self.name = source.name
        self.rate = 0
        self.origin: float | None = None  # pipeline clock time of the input's sample 0
        self.blocks = 0
        self._mel = MelStream()
        self._lock = threading.Lock()
        self._taps: tuple[AudioTap, ...] = ()
        self._listeners: tuple[Callable[[], None], ...] = ()
        self._to16k: To16k | None = None

    def open(self) -> None:
        """On the caller's thread: a device that cannot open fails the start with its one line."""
        info = self.source.open()
        self.rate = info.rate
        self._to16k = To16k(info.rate)

    def tap(self) -> AudioTap:
        tap = AudioTap(self.rate)
        with self._lock:
            self._taps = tuple(t for t in self._taps if not t.closed) + (tap,)
        return tap

    def on_block(self, listener: Callable[[], None]) -> None:
        """listener() after each block reaches the mel (the delay line re-checks its frames)."""
        self._listeners = self._listeners + (listener,)

    # ---- what the video side asks -------------------------------------------------------------
    def moment(self, captured_at: float) -> float | None:
        """The input's time shown by a frame captured at `captured_at`; None before any audio."""
        origin = self.origin
        return None if origin is None else captured_at - origin

    def ready(self, frame: LiveFrame) -> bool:
        from engines.builtin.lipsync.mel import LOOKAHEAD_S

        t = self.moment(frame.captured_at)
        with self._lock:
            return t is not None and self._mel.latest_time + 1e-9 >= t + LOOKAHEAD_S

    def window(self, t: float) -> np.ndarray | None:
        with self._lock:
            return self._mel.window_at(t)

    # ---- the thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                block = self.source.read(READ_TIMEOUT_S)
            except Exception as error:  # noqa: BLE001 — a broken input must not end the session
                log.warning("audio input %s failed: %s", self.name, error)
                self.on_status(f"audio input {self.name}: {error}")
                if self._stop.wait(1.0):
                    return
                continue
            if block is not None:
                self._take(block)

    def _take(self, block: AudioBlock) -> None:
        # Where the input cannot say when a block was heard (a device), its arrival minus its length
        # bounds it; the earliest such estimate is the truest (later ones carry scheduling delay),
        # so the origin only moves back.
        heard = block.first_heard - block.start_s
        if self.origin is None or heard < self.origin:
            self.origin = heard
        assert self._to16k is not None
        mono16 = self._to16k(block.samples)
        with self._lock:
            self._mel.push(mono16)
            taps = self._taps
        self.blocks += 1
        timed = TimedAudio(block.samples, self.origin + block.start_s, block.rate)
        for tap in taps:
            if not tap.closed:
                tap.put(timed)
        for listener in self._listeners:
            listener()


class DelayLine(LatestSlot[LiveFrame]):
    """Capture → processor, holding each frame until the audio of its mel window is in.

    Frames leave in capture order; when the processor is slower than the camera, the older of the
    frames that are ready are dropped (and counted), as the newest-wins slot does, so the delay
    never grows beyond the look-ahead plus one frame's processing.
    """

    def __init__(self, ready: Callable[[LiveFrame], bool], stats: PipelineStats,
                 capacity: int = DELAY_CAPACITY, max_hold_s: float = MAX_HOLD_S) -> None:
        super().__init__(capacity)
        self._ready = ready
        self._stats = stats
        self._max_hold_s = max_hold_s
        self.holds: deque[tuple[float, float]] = deque()  # (released at, ms held)
        self._holds_lock = threading.Lock()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _releasable(self, frame: LiveFrame, at: float) -> bool:
        return at - frame.captured_at >= self._max_hold_s or self._ready(frame)

    def get(self, timeout: float | None = None) -> LiveFrame | None:
        deadline = None if timeout is None else now() + timeout
        with self._cond:
            while True:
                at = now()
                count = 0
                for frame in self._items:  # readiness only grows with capture time: a prefix is ready
                    if not self._releasable(frame, at):
                        break
                    count += 1
                if count:
                    for _ in range(count - 1):
                        self._items.popleft()
                    if count > 1:
                        self._stats.drop(count - 1)
                    frame = self._items.popleft()
                    self._held(frame, at)
                    return frame
                if self._closed:
                    return None
                wait = self._max_hold_s if not self._items else max(0.001, self._items[0].captured_at + self._max_hold_s - at)
                if deadline is not None:
                    if at >= deadline:
                        return None
                    wait = min(wait, deadline - at)
                self._cond.wait(wait)

    def _held(self, frame: LiveFrame, at: float) -> None:
        with self._holds_lock:
            self.holds.append((at, (at - frame.captured_at) * 1000.0))
            while self.holds and self.holds[0][0] < at - WINDOW_S:
                self.holds.popleft()

    def held_ms(self) -> list[float]:
        with self._holds_lock:
            return [ms for _, ms in self.holds]


@dataclass(frozen=True)
class LipSyncFigures:
    """What the stats show for lip sync: audio sample → output frame latency, the video's delay."""

    audio_input: str = ""
    audio_latency_ms_p50: float = 0.0
    audio_latency_ms_p95: float = 0.0
    av_delay_ms: float = 0.0  # how long the video waited for its audio (median of recent frames)
    synced_frames: int = 0  # frames that went to the engine with a mel window
    unsynced_frames: int = 0  # frames released without one (the audio was late or not there)


class LipSyncStage:
    """The audio feed, the delay line and the per-frame window, as the session wires them in."""

    def __init__(self, source: AudioSource, stats: PipelineStats, weight: float = 1.0,
                 on_status: Callable[[str], None] = lambda text: None) -> None:
        self.weight = min(1.0, max(0.0, weight))
        self.feed = AudioFeed(source, on_status)
        self.delay = DelayLine(self.feed.ready, stats)
        self.feed.on_block(self.delay.wake)
        self._latency: deque[tuple[float, float]] = deque()
        self._lock = threading.Lock()
        self._synced = 0
        self._unsynced = 0

    def open(self) -> None:
        self.feed.open()

    def start(self) -> None:
        self.feed.start()

    def stop(self) -> None:
        self.delay.close()
        self.feed.stop()

    def prepare(self, frame: LiveFrame, context: SwapContext) -> None:
        """Before the engine: the frame's mel window on the context (None when the audio is missing)."""
        t = self.feed.moment(frame.captured_at)
        window = self.feed.window(t) if t is not None else None
        context.lip_sync = LipSyncFrame(mel=window, weight=self.weight) if window is not None else None
        with self._lock:
            if window is None:
                self._unsynced += 1
            else:
                self._synced += 1

    def done(self, frame: LiveFrame) -> None:
        """After the engine: the latency from the moment's sound being heard to its frame being out."""
        t = self.feed.moment(frame.captured_at)
        if t is None or frame.processed_at is None or self.feed.origin is None:
            return
        at = frame.processed_at
        with self._lock:
            self._latency.append((at, (at - (self.feed.origin + t)) * 1000.0))
            while self._latency and self._latency[0][0] < at - WINDOW_S:
                self._latency.popleft()

    def figures(self) -> LipSyncFigures:
        with self._lock:
            latency = sorted(ms for _, ms in self._latency)
            synced, unsynced = self._synced, self._unsynced
        holds = sorted(self.delay.held_ms())
        return LipSyncFigures(self.feed.name, round(percentile(latency, 0.5), 2), round(percentile(latency, 0.95), 2),
                              round(percentile(holds, 0.5), 2), synced, unsynced)


def with_lip_sync(stats: LiveStats, figures: LipSyncFigures) -> LiveStats:
    """The session's stats with the lip-sync figures filled in."""
    return replace(stats, lip_sync=True, audio_input=figures.audio_input,
                   audio_latency_ms_p50=figures.audio_latency_ms_p50,
                   audio_latency_ms_p95=figures.audio_latency_ms_p95, av_delay_ms=figures.av_delay_ms)
