"""What FaceFusion's and Deep-Live-Cam's CLI adapters share: the install check, the run, the verdict.

Both print tqdm bars ("Processing:  45%|====  | 45/100 [00:05<00:06, 9.01frame/s]") while they swap
a video, and status lines otherwise. Their exit codes are not enough to judge a run (Deep-Live-Cam
exits 0 when it finds no face), so the verdict also reads their messages and checks the output.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from engines.errors import InputError

from .base import Availability, EngineAdapter, ProgressCallback, SwapRequest, SwapResult
from .config import EngineConfig, Mode
from .errors import EngineFailure, EngineUnavailable, SourceError
from .install import InstallInfo, InstallSpec, check_install
from .outputs import discard, finalize, temp_output
from .process import ProcessOutcome, run_tool

_PROGRESS = re.compile(r"Processing\b.*?\b(\d+)/(\d+)\s*\[")
CHECK_TTL_S = 30.0  # an install does not change often; the interpreter probe costs ~50 ms


@dataclass(frozen=True)
class UserErrorPhrase:
    phrase: str  # lower case, as the engine prints it
    about: str  # "source" or "target"


def parse_progress(line: str) -> tuple[int, int] | None:
    match = _PROGRESS.search(line)
    if match is None:
        return None
    done, total = int(match.group(1)), int(match.group(2))
    return (done, total) if total > 0 and done <= total else None


def signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


class CliAdapter(EngineAdapter):
    install_spec: InstallSpec
    user_errors: tuple[UserErrorPhrase, ...] = ()
    exit_meanings: dict[int, str] = {}

    def __init__(self, config: EngineConfig, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config)
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, InstallInfo | EngineUnavailable] | None = None

    # ---- install ---------------------------------------------------------------------------
    def install(self, fresh: bool = False) -> InstallInfo:
        with self._lock:
            now = self._clock()
            if fresh or self._cached is None or now - self._cached[0] > CHECK_TTL_S:
                try:
                    result: InstallInfo | EngineUnavailable = check_install(self.config, self.install_spec,
                                                                            self.config.timeouts.health_s)
                except EngineUnavailable as error:
                    result = error
                self._cached = (now, result)
            result = self._cached[1]
        if isinstance(result, EngineUnavailable):
            raise result
        return result

    def check(self) -> Availability:
        started = time.monotonic()
        try:
            info = self.install()
        except EngineUnavailable as error:
            return Availability.no(error.one_line())
        return Availability(True, None, info.version, latency_ms=(time.monotonic() - started) * 1000)

    # ---- run -------------------------------------------------------------------------------
    @abstractmethod
    def build_argv(self, info: InstallInfo, request: SwapRequest, output: str) -> list[str]: ...

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        # Piped stdout is block-buffered in Python: without this, status lines arrive at exit.
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONIOENCODING"] = "utf-8"
        return env

    def run(self, request: SwapRequest, progress: ProgressCallback) -> SwapResult:
        info = self.install()
        reason = self.unsupported(request)
        if reason:
            raise EngineFailure(f"{self.name} cannot do this job: {reason}")
        produced = temp_output(request.output, self.name)
        state = {"done": 0, "total": max(1, request.frames_hint)}
        messages: list[str] = []

        def on_line(line: str) -> None:
            parsed = parse_progress(line)
            if parsed is None:
                messages.append(line)
                del messages[:-40]
                return
            state["done"], state["total"] = parsed
            progress(*parsed)

        try:
            outcome = run_tool(self.build_argv(info, request, str(produced)), name=self.name,
                               timeouts=self.config.timeouts, on_line=on_line,
                               heartbeat=lambda: progress(state["done"], state["total"]),
                               complete=lambda text: text.endswith("]") and parse_progress(text) is not None,
                               cwd=str(info.root), env=self.environment(), clock=self._clock)
            self.judge(outcome, messages, request, state["done"], state["total"])
            try:
                finalize(self.name, info.version, produced, request.output, request.mode is Mode.IMAGE_TO_IMAGE)
            except EngineFailure as error:
                if outcome.garbage_lines:
                    raise EngineFailure(f"{error.problem}; it printed {outcome.garbage_lines} unreadable line(s) "
                                        "instead of its usual messages") from None
                raise
        finally:
            discard(produced)
        frames = state["total"] if request.mode is Mode.IMAGE_TO_VIDEO else 1
        progress(frames, frames)
        return SwapResult(output=request.output, engine=self.name, frames=frames)

    def judge(self, outcome: ProcessOutcome, messages: list[str], request: SwapRequest, done: int, total: int) -> None:
        """Raise what the run means: a user error, a crash, an engine failure. Silence: success so far."""
        for line in messages:
            lowered = line.lower()
            for phrase in self.user_errors:
                if phrase.phrase in lowered:
                    said = line.strip()[:160]
                    if phrase.about == "source":
                        names = ", ".join(str(s) for s in request.sources)
                        raise SourceError(f"no face found in {names} ({self.name} says: {said})",
                                          "use a clear, front-facing photo of one face")
                    raise InputError(f"{request.target}: {self.name} cannot use this target ({said})",
                                     "check that it is a readable image or video")
        code = outcome.returncode
        if code == 0:
            return
        last = self.last_message(messages)
        where = f" after {done}/{total} frames" if done else ""
        if code < 0:
            raise EngineFailure(f"{self.name} crashed ({signal_name(code)}){where}{last}", crashed=True)
        meaning = self.exit_meanings.get(code)
        meaning = f", {meaning}" if meaning else ""
        # A documented "check failed" is a refusal, not a crash; anything else is a crash.
        raise EngineFailure(f"{self.name} failed (exit code {code}{meaning}){where}{last}",
                            crashed=code not in self.refusal_codes())

    def refusal_codes(self) -> tuple[int, ...]:
        return ()

    @staticmethod
    def last_message(messages: list[str]) -> str:
        for line in reversed(messages):
            text = line.strip()
            if text and sum(ch.isprintable() for ch in text) >= 0.8 * len(text):
                return f"; last message: {text[:160]}"
        return ""
