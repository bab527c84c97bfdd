"""What every live output shares: its own thread, a bounded newest-wins queue, and retry with
backoff when it fails, so one broken output (a dead network, a full disk) never stalls the others
or the processing thread."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from app.pipeline.api import OutputStatus
from app.pipeline.frame import LiveFrame
from app.pipeline.slot import LatestSlot
from app.pipeline.stats import PipelineStats

log = logging.getLogger(__name__)

RETRY_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # then every 8 s
UNAVAILABLE_RECHECK_S = 5.0  # e.g. the user loads v4l2loopback while we run: pick it up

OK, RETRYING, UNAVAILABLE, STOPPED = "ok", "retrying", "unavailable", "stopped"


class OutputUnavailable(Exception):
    """Cannot work on this machine as set up (no device, no display, unsupported URL), with the fix."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} — {fix}" if fix else problem)


class Output(ABC):
    """Subclasses implement `_open(frame)`, `_send(frame)` and `_close(completed)`.

    `_open` runs on the output's thread at the first frame (so the size is known); a failure in any
    of them is reported (state "retrying") and retried after a growing pause.
    """

    name = "output"
    capacity = 1  # frames waiting for this output; the newest wins

    def __init__(self, stats: PipelineStats | None = None) -> None:
        self.stats = stats
        self.frames_sent = 0
        self.dropped = 0
        self._slot: LatestSlot[LiveFrame] = LatestSlot(self.capacity)
        self._lock = threading.Lock()
        self._state = OK
        self._detail = "waiting for the first frame"
        self._opened = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0  # in a row: sets the retry pause
        self.failure_count = 0  # since the start: the end-of-session summary
        self.last_error = ""

    # ---- used by the pipeline ----------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run_guarded, name=f"live-out-{self.name}", daemon=True)
        self._thread.start()

    def offer(self, frame: LiveFrame) -> None:
        """Never blocks: the processing thread hands every frame to every output this way."""
        if self._stop.is_set():
            return
        if self._slot.put(frame) is not None:
            self.dropped += 1

    def request_stop(self) -> None:
        """Ask the thread to finish what is queued and close (e.g. finalise a recording); never waits."""
        self._stop.set()
        self._slot.close()

    def join(self, timeout: float = 5.0) -> bool:
        """Wait for the thread to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s did not stop within %.1f s", self.name, timeout)
                return False
        return True

    def stop(self, timeout: float = 5.0) -> bool:
        self.request_stop()
        return self.join(timeout)

    def status(self) -> OutputStatus:
        with self._lock:
            return OutputStatus(self.name, self._state, self._detail, self.frames_sent,
                                failures=self.failure_count, last_error=self.last_error, worked=self.worked)

    @property
    def worked(self) -> bool:
        """Delivered what it is for at least once (a frame sent; a recording overrides: a file saved)."""
        return self.frames_sent > 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- for subclasses ----------------------------------------------------------------------
    def _set(self, state: str, detail: str) -> None:
        with self._lock:
            changed = (state, detail) != (self._state, self._detail)
            self._state, self._detail = state, detail
        if changed and state in (RETRYING, UNAVAILABLE):
            log.warning("%s: %s", self.name, detail)

    def _record_failure(self, state: str, error: str, retry_in: float | None = None) -> None:
        """A failed attempt: counted and kept for the summary, then shown as the output's state."""
        with self._lock:
            self.failure_count += 1
            self.last_error = error
        self._set(state, error if retry_in is None else f"{error} — retrying in {retry_in:g} s")

    def _wait(self, seconds: float) -> bool:
        """Sleep unless asked to stop; True when stopping."""
        return self._stop.wait(seconds)

    @abstractmethod
    def _open(self, frame: LiveFrame) -> None: ...

    @abstractmethod
    def _send(self, frame: LiveFrame) -> bool | None:
        """Deliver one frame; False when it was skipped on purpose (not counted as sent)."""

    @abstractmethod
    def _close(self, completed: bool) -> None:
        """completed=True: a normal stop (finalise); False: after a failure (salvage or discard)."""

    def _describe(self) -> str:
        return ""

    # ---- the thread --------------------------------------------------------------------------
    def _run_guarded(self) -> None:
        try:
            self._run()
        except Exception as error:  # noqa: BLE001 — never let an output thread die silently
            log.exception("%s crashed", self.name)
            self._record_failure(STOPPED, f"crashed: {type(error).__name__}: {error}")
            return
        with self._lock:
            if self._state != UNAVAILABLE:
                self._state = STOPPED

    def _run(self) -> None:
        while True:
            frame = self._slot.get(timeout=0.25)
            if frame is None:
                if self._stop.is_set():
                    break
                continue
            if not self._opened and not self._try_open(frame):
                continue
            start = time.perf_counter()
            try:
                sent = self._send(frame)
            except Exception as error:  # noqa: BLE001
                self._failed(error)
                continue
            if self.stats is not None:
                self.stats.stage(f"out:{self.name}", (time.perf_counter() - start) * 1000.0)
            if sent is not False:  # False: skipped on purpose (an encoder's clock slot already used)
                self.frames_sent += 1
            if self._failures or self._state != OK:
                self._failures = 0
                self._set(OK, self._describe())
        if self._opened:
            try:
                self._close(True)
            except Exception as error:  # noqa: BLE001
                log.exception("%s failed to close", self.name)
                self._record_failure(STOPPED, f"failed to finish: {describe_error(error)}")
                return
            self._opened = False

    def _try_open(self, frame: LiveFrame) -> bool:
        try:
            self._open(frame)
        except OutputUnavailable as error:
            self._record_failure(UNAVAILABLE, str(error))
            self._wait(UNAVAILABLE_RECHECK_S)
            self._slot.clear()
            return False
        except Exception as error:  # noqa: BLE001
            self._failed(error, opening=True)
            return False
        self._opened = True
        self._set(OK, self._describe())
        return True

    def _failed(self, error: BaseException, opening: bool = False) -> None:
        if self._opened:
            try:
                self._close(False)
            except Exception:  # noqa: BLE001 — already failing; the close is best effort
                log.debug("%s: close after failure failed", self.name, exc_info=True)
            self._opened = False
        pause = RETRY_BACKOFF_S[min(self._failures, len(RETRY_BACKOFF_S) - 1)]
        self._failures += 1
        what = "cannot open" if opening else "failed"
        self._record_failure(RETRYING, f"{what}: {describe_error(error)}", retry_in=pause)
        self._wait(pause)
        self._slot.clear()  # frames that waited out the pause are stale


# ---------------------------------------------------------------- helpers shared by encoders


def describe_error(error: BaseException) -> str:
    """FFmpeg's and the OS's errors read "[Errno 111] Connection refused"; the reason alone is clearer."""
    reason = getattr(error, "strerror", None)
    return str(reason) if reason else (str(error) or type(error).__name__)


def rate_fraction(fps: float) -> Fraction:
    """29.97 → 30000/1001, 30 → 30: the exact rate a container should declare."""
    fps = fps if fps and fps > 0 else 30.0
    ntsc = Fraction(round(fps * 1.001) * 1000, 1001)  # cameras report 29.97 for 30000/1001
    if abs(float(ntsc) - fps) < 0.002 and ntsc.denominator != 1:
        return ntsc
    return Fraction(fps).limit_denominator(1000)


class FrameClock:
    """Capture times → presentation timestamps on a constant-rate grid (time base 1/fps).

    A frame that lands on the grid slot of the previous one is skipped rather than pushed later, so
    the timeline never drifts away from the capture clock; a dropped frame just leaves a gap.
    """

    def __init__(self, fps: float) -> None:
        self.rate = rate_fraction(fps)
        self.time_base = 1 / self.rate
        self._origin: float | None = None
        self._last: int | None = None

    @property
    def origin(self) -> float | None:
        """The capture time at pts 0 (the first frame's); None before it."""
        return self._origin

    @property
    def end(self) -> float | None:
        """The capture-clock time where the last frame encoded ends (its pts + one frame)."""
        if self._origin is None or self._last is None:
            return None
        return self._origin + (self._last + 1) / float(self.rate)

    def pts(self, captured_at: float) -> int | None:
        if self._origin is None:
            self._origin = captured_at
        pts = int(round((captured_at - self._origin) * float(self.rate)))
        if self._last is not None and pts <= self._last:
            return None
        self._last = pts
        return pts


def encode_on_clock(container: Any, stream: Any, clock: FrameClock, size: tuple[int, int], frame: LiveFrame) -> bool:
    """Encode one frame at its capture time on the clock's grid and mux it (PyAV outputs: stream,
    recording). False when the frame fell on an already-used grid slot and was skipped."""
    import av

    pts = clock.pts(frame.captured_at)
    if pts is None:
        return False
    video = av.VideoFrame.from_ndarray(fit_frame(frame.image, *size), format="bgr24")
    video.pts = pts
    video.time_base = clock.time_base
    container.mux(stream.encode(video))
    return True


def fit_frame(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The frame at exactly width×height (an output's size is fixed once open; a camera reopened at
    another size is scaled to it) and C-contiguous."""
    if image.shape[1] != width or image.shape[0] != height:
        if image.shape[1] >= width and image.shape[0] >= height and \
                image.shape[1] - width <= 1 and image.shape[0] - height <= 1:
            image = image[:height, :width]  # an odd size cropped to even: drop the last column/row
        else:
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def even_size(width: int, height: int) -> tuple[int, int]:
    """yuv420p encoders and most virtual cameras need even dimensions."""
    return max(2, width - width % 2), max(2, height - height % 2)
