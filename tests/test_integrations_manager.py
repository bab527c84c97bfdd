"""The manager's choices with scripted adapters: priority, skips with reasons, retries with back-off,
failover, user errors that stop at once, resting engines, live mode; and the health monitor's view."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.monitor.health import HealthMonitor
from engines.base import HealthState
from engines.errors import InputError, ModelError, TransientError
from engines.external.base import Availability, EngineAdapter, SwapRequest, SwapResult
from engines.external.config import Mode, parse_integrations
from engines.external.errors import EngineFailure, EngineUnavailable, SourceError
from engines.manager import EngineManager
from standins.helpers import builtin_entry, deep_live_cam_entry, document, facefusion_entry


class Scripted(EngineAdapter):
    """Runs a script of outcomes: "ok", or an exception to raise, one per call (the last repeats)."""

    def __init__(self, config, script: list[object], available: bool = True, why: str = "not installed") -> None:
        super().__init__(config)
        self.script = script
        self.calls = 0
        self.available = available
        self.why = why

    def check(self) -> Availability:
        return Availability(True, None, "1.0") if self.available else Availability.no(self.why)

    def unsupported(self, request: SwapRequest) -> str | None:
        return "no reference photos" if request.faces == "reference" and not self.in_process else None

    def run(self, request, progress) -> SwapResult:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        progress(1, 4)
        if isinstance(step, BaseException):
            raise step
        progress(4, 4)
        return SwapResult(request.output, self.name, 4)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def build(entries: dict[str, dict], scripts: dict[str, list[object]], **kwargs) -> tuple[EngineManager, dict[str, Scripted], Clock]:
    config = parse_integrations(document(entries), Path("test.json"))
    adapters = {name: Scripted(config.engine(name), scripts.get(name, ["ok"]), **kwargs.get(name, {}))
                for name in entries}
    clock = Clock()
    return EngineManager(config, adapters=adapters, sleep=clock.sleep, clock=clock), adapters, clock


def req(mode: Mode = Mode.IMAGE_TO_VIDEO, **options) -> SwapRequest:
    return SwapRequest(sources=(Path("s.png"),), target=Path("t.mp4"), output=Path("o.mp4"), mode=mode, **options)


ENTRIES = {"builtin": builtin_entry(priority=50), "facefusion": facefusion_entry(priority=80),
           "deep-live-cam": deep_live_cam_entry(priority=60)}


def test_the_highest_priority_available_engine_runs() -> None:
    manager, adapters, _ = build(ENTRIES, {})
    outcome = manager.run(req(), lambda d, t: None)
    assert outcome.engine == "facefusion" and adapters["builtin"].calls == 0


def test_disabled_unavailable_and_unable_engines_are_skipped_with_the_reason() -> None:
    entries = {**ENTRIES, "facefusion": facefusion_entry(priority=80, enabled=False)}
    manager, _, _ = build(entries, {}, **{"deep-live-cam": {"available": False, "why": "no install path set"}})
    chosen, skipped = manager.candidates(Mode.IMAGE_TO_VIDEO)
    assert [a.name for a in chosen] == ["builtin"]
    assert skipped == ["facefusion: disabled", "deep-live-cam: no install path set"]
    manager2, _, _ = build(ENTRIES, {})
    chosen, skipped = manager2.candidates(Mode.IMAGE_TO_IMAGE, req(faces="reference"))
    assert [a.name for a in chosen] == ["builtin"] and "facefusion: no reference photos" in skipped


def test_transient_errors_are_retried_with_exponential_back_off_then_succeed() -> None:
    entries = {"facefusion": facefusion_entry(retries={"attempts": 3, "backoffS": 1, "maxBackoffS": 10})}
    manager, adapters, clock = build(entries, {"facefusion": [TransientError("busy"), TransientError("busy"), "ok"]})
    heartbeats: list[tuple[int, int]] = []
    outcome = manager.run(req(), lambda d, t: heartbeats.append((d, t)))
    assert adapters["facefusion"].calls == 3
    assert [a.outcome for a in outcome.attempts] == ["transient", "transient", "ok"]
    assert sum(clock.slept) == pytest.approx(1 + 2)  # 1 s, then 2 s
    assert (0, 4) in heartbeats  # the back-off keeps reporting, so a cancel gets through


def test_a_permanent_engine_error_fails_over_to_the_next_engine() -> None:
    manager, adapters, _ = build(ENTRIES, {"facefusion": [EngineFailure("facefusion crashed (SIGSEGV)", crashed=True)]})
    calls: list[tuple[int, int]] = []
    outcome = manager.run(req(), lambda d, t: calls.append((d, t)))
    assert outcome.engine == "deep-live-cam" and outcome.failed_over
    assert outcome.failover_note() == "facefusion failed (facefusion crashed (SIGSEGV)); done by deep-live-cam instead"
    assert calls == [(1, 4), (1, 4), (4, 4)]  # progress passes through, and starts again after the failover
    assert adapters["facefusion"].calls == 1  # an engine error is not retried


def test_transient_errors_past_the_last_attempt_fail_over_too() -> None:
    manager, _, _ = build(ENTRIES, {"facefusion": [TransientError("timed out")], "deep-live-cam": [EngineFailure("bad output")]})
    assert manager.run(req(), lambda d, t: None).engine == "builtin"


def test_a_user_error_stops_at_once_without_failover() -> None:
    manager, adapters, _ = build(ENTRIES, {"facefusion": [SourceError("no face found in s.png")]})
    with pytest.raises(SourceError, match="no face found in s.png"):
        manager.run(req(), lambda d, t: None)
    assert adapters["deep-live-cam"].calls == 0 and adapters["builtin"].calls == 0
    manager, adapters, _ = build(ENTRIES, {"facefusion": [InputError("t.mp4: not a video")]})
    with pytest.raises(InputError):
        manager.run(req(), lambda d, t: None)
    assert adapters["builtin"].calls == 0


def test_when_every_engine_fails_one_line_names_each_failure() -> None:
    manager, _, _ = build(ENTRIES, {name: [EngineFailure(f"{name} broke")] for name in ENTRIES})
    with pytest.raises(EngineFailure) as caught:
        manager.run(req(), lambda d, t: None)
    message = caught.value.one_line()
    assert message.startswith("every engine failed (facefusion: facefusion broke; deep-live-cam: deep-live-cam broke; "
                              "builtin: builtin broke)") and "\n" not in message
    manager, _, _ = build(ENTRIES, {"facefusion": [EngineFailure("x")], "deep-live-cam": [EngineFailure("y")],
                                    "builtin": [TransientError("GPU out of memory")]})
    with pytest.raises(TransientError, match="every engine failed"):  # the queue retries the job later
        manager.run(req(), lambda d, t: None)


def test_a_single_failure_keeps_its_own_error() -> None:
    manager, _, _ = build({"builtin": builtin_entry()}, {"builtin": [ModelError("inswapper_128.onnx is missing")]})
    with pytest.raises(ModelError, match="inswapper_128.onnx is missing"):
        manager.run(req(), lambda d, t: None)


def test_in_process_engines_share_models_so_a_model_error_skips_the_others() -> None:
    entries = {"builtin": builtin_entry(priority=50), "builtin-lite": builtin_entry(priority=10)}
    manager, adapters, _ = build(entries, {"builtin": [ModelError("inswapper_128.onnx is missing")]})
    with pytest.raises(ModelError):
        manager.run(req(), lambda d, t: None)
    assert adapters["builtin-lite"].calls == 0


def test_a_failed_external_engine_rests_with_growing_back_off() -> None:
    manager, adapters, clock = build(ENTRIES, {"facefusion": [EngineFailure("crashed", crashed=True), EngineFailure("crashed", crashed=True), "ok"]})
    assert manager.run(req(), lambda d, t: None).engine == "deep-live-cam"
    chosen, skipped = manager.candidates(Mode.IMAGE_TO_VIDEO)
    assert "facefusion" not in [a.name for a in chosen]
    assert skipped[0].startswith("facefusion: resting 5 s after 1 failure(s) (crashed)")
    clock.now += 5.1
    assert manager.run(req(), lambda d, t: None).engine == "deep-live-cam"  # tried again, failed again
    assert manager.resting("facefusion")[:2] == (10.0, 2)  # twice as long
    clock.now += 10.1
    assert manager.run(req(), lambda d, t: None).engine == "facefusion"
    assert manager.resting("facefusion")[:2] == (0.0, 0)


def test_live_mode_only_ever_uses_an_in_process_engine() -> None:
    entries = {**ENTRIES, "builtin-lite": builtin_entry(priority=90)}
    manager, _, _ = build(entries, {})
    assert manager.live_adapter().name == "builtin-lite"
    manager, _, _ = build({"facefusion": facefusion_entry()}, {})
    with pytest.raises(EngineUnavailable, match="no engine can swap live camera frames now"):
        manager.live_adapter()


def test_no_engine_for_a_mode_says_why_each_was_left_out() -> None:
    manager, _, _ = build({"facefusion": facefusion_entry(enabled=False)}, {})
    with pytest.raises(EngineUnavailable) as caught:
        manager.run(req(), lambda d, t: None)
    assert "no engine can swap videos now (facefusion: disabled)" in caught.value.one_line()


def test_the_health_monitor_counts_crashes_and_measures_runs() -> None:
    manager, _, clock = build(ENTRIES, {"facefusion": [EngineFailure("facefusion crashed (SIGSEGV)", crashed=True)]})
    monitor = HealthMonitor(manager, restart=False)
    manager.run(req(), lambda d, t: None)
    reports = {r.name: r for r in monitor.check_now()}
    assert reports["facefusion"].state is HealthState.DEGRADED and reports["facefusion"].crashes == 1
    assert "failed 1 time(s) in a row (facefusion crashed (SIGSEGV)); next try in 5 s" == reports["facefusion"].reason
    assert reports["deep-live-cam"].state is HealthState.OK
    assert reports["deep-live-cam"].metrics.runs == 1 and reports["deep-live-cam"].metrics.frames == 4
    monitor.record_frames("builtin", frames=30, seconds=1.5)
    builtin = monitor.check_now()[-1]
    assert builtin.name == "builtin" and builtin.metrics.fps == pytest.approx(20.0)
    assert builtin.metrics.latency_ms == pytest.approx(50.0)
    monitor.record_frames("builtin", frames=0, seconds=0, errors=3)
    builtin = {r.name: r for r in monitor.check_now()}["builtin"]
    assert builtin.state is HealthState.DEGRADED and builtin.metrics.error_rate == pytest.approx(0.75)
    assert {r.name for r in monitor.reports()} == set(ENTRIES)
    monitor.stop()


def test_disabled_and_unavailable_engines_are_down_with_the_reason() -> None:
    entries = {**ENTRIES, "facefusion": facefusion_entry(enabled=False)}
    manager, _, _ = build(entries, {}, **{"deep-live-cam": {"available": False, "why": "Deep-Live-Cam 0.9 is too old"}})
    reports = {r.name: r for r in HealthMonitor(manager, restart=False).check_now()}
    assert (reports["facefusion"].state, reports["facefusion"].reason) == (HealthState.DOWN, "disabled in integrations.json")
    assert (reports["deep-live-cam"].state, reports["deep-live-cam"].reason) == (HealthState.DOWN, "Deep-Live-Cam 0.9 is too old")
    assert reports["builtin"].state is HealthState.OK


def test_the_monitor_thread_checks_periodically_and_stops() -> None:
    manager, _, _ = build(ENTRIES, {})
    checks: list[int] = []
    monitor = HealthMonitor(manager, interval_s=0.02, restart=False)
    original: Callable = monitor.check_now
    monitor.check_now = lambda: checks.append(1) or original()  # type: ignore[method-assign]
    monitor.start()
    import time

    deadline = time.monotonic() + 2
    while len(checks) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    monitor.stop()
    assert len(checks) >= 3 and len(monitor.reports()) == 3
