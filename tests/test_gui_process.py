"""The studio as a process, the way `swapcast gui` runs it: fresh starts under CPU load never hit an
import race, and Ctrl-C in the terminal closes it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The child runs the real launcher (run_gui) with a timer that reports what the window shows once
# its start-up work has settled. It imports nothing of the studio beyond what `swapcast gui` does
# before the window starts, so the background threads import the rest concurrently, as for a user.
CHILD = textwrap.dedent("""
    import argparse, os, sys
    from pathlib import Path

    sys.setswitchinterval(float(os.environ.get("PROBE_SWITCH_S", "0.005")))
    delay = float(os.environ.get("PROBE_IMPORT_DELAY_S", "0"))
    if delay:
        # A loaded machine: a thread may be put aside in the middle of importing one of our
        # modules (holding its import lock) while another thread imports the next.
        import importlib.abc, time

        class SlowImports(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if not name.startswith(os.environ.get("PROBE_SLOW_PREFIX", "engines.external")):
                    return None
                for finder in sys.meta_path:
                    if finder is not self and hasattr(finder, "find_spec"):
                        spec = finder.find_spec(name, path, target)
                        if spec is not None:
                            break
                else:
                    return None
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    run = spec.loader.exec_module
                    def slowly(module, run=run):
                        time.sleep(delay)
                        run(module)
                    spec.loader.exec_module = slowly
                return spec

        sys.meta_path.insert(0, SlowImports())
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.gui.launch import make_app, run_gui
    from app.gui.main_window import StudioWindow
    from app.gui.settings import StudioSettings

    mode = sys.argv[2]  # "settle": report and close; "ready": say so and wait for a signal
    make_app()
    StudioSettings().accept_consent()
    told = False

    def poll() -> None:
        global told
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, StudioWindow)]
        if not windows or told:
            return
        w = windows[0]
        engine_settled = w.engine.state.value in ("ready", "failed")
        jobs_settled = w.queue.executor is not None or "cannot run" in w.jobs_tab.status.text()
        devices_read = w.live_panel.outputs.vcam_label.full_text != "checking…"
        if engine_settled and jobs_settled and devices_read and w.models_tab.report is not None:
            told = True
            print(f"ENGINE {w.engine.state.value}: {w.engine.message}", flush=True)
            print(f"STATUS {w.status_bar.engine_label.text()}", flush=True)
            print(f"JOBS {w.jobs_tab.status.text()}", flush=True)
            if mode == "settle":
                w.close()
            else:
                print("READY", flush=True)

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(20)
    sys.exit(run_gui(argparse.Namespace(models=Path(sys.argv[1]))))
""")

BUSY = "while True: pass"


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SWAPCAST_HOME=str(home), QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO),
               PYTHONUNBUFFERED="1", **extra)
    return env


@contextmanager
def busy_cpus(count: int) -> Iterator[None]:
    """Background CPU load from `count` spinning processes, ended afterwards."""
    spinners = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait(timeout=10)


def _start(kit_dir: Path, home: Path, mode: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(kit_dir), mode], cwd=REPO, env=_env(home, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_fresh_starts_under_cpu_load_load_the_engine_and_the_job_runner(kit_dir: Path, tmp_path: Path) -> None:
    starts, at_once = 10, 5
    outputs: list[str] = []
    with busy_cpus(2):
        for wave in range(starts // at_once):
            # Several starts at once add to the load; each has its own home (settings, jobs database).
            children = [_start(kit_dir, tmp_path / f"home{wave}-{i}", "settle", PROBE_SWITCH_S="0.00001",
                              PROBE_IMPORT_DELAY_S="0.02")
                        for i in range(at_once)]
            for child in children:
                try:
                    out, _ = child.communicate(timeout=120)
                except subprocess.TimeoutExpired:
                    child.kill()
                    out, _ = child.communicate()
                    pytest.fail(f"a studio start did not settle within 120 s:\n{out}")
                outputs.append(out)
                assert child.returncode == 0, out
    for out in outputs:
        assert "ENGINE ready" in out, out
        assert "_DeadlockError" not in out and "cannot import name" not in out, out
        assert "jobs cannot run" not in out, out


def test_ctrl_c_in_the_terminal_closes_the_studio_cleanly(kit_dir: Path, tmp_path: Path) -> None:
    child = _start(kit_dir, tmp_path / "home", "ready")
    assert child.stdout is not None
    lines: list[str] = []
    for line in child.stdout:  # ends when the child exits, so a child that dies early cannot hang here
        lines.append(line)
        if line.strip() == "READY":
            break
    assert lines and lines[-1].strip() == "READY", "".join(lines)
    child.send_signal(signal.SIGINT)
    try:
        rest, _ = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()
        rest, _ = child.communicate()
        pytest.fail("the studio kept running after Ctrl-C:\n" + "".join(lines) + rest)
    out = "".join(lines) + rest
    assert child.returncode == 130, out  # the shell's code for "ended by Ctrl-C"
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    # Closed the way the window's close button closes it: the session state was saved.
    ini = "".join(p.read_text() for p in (tmp_path / "home").rglob("studio.ini"))
    assert "geometry" in ini, "the window's state was not saved on the way out"


def test_background_tasks_start_only_once_the_prepared_imports_are_done(qtbot, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import types

    from app.gui.tasks import BackgroundTasks

    # A module whose import holds until the test lets it finish; its last line marks it complete.
    release = types.ModuleType("probe_release")
    release.event = threading.Event()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "probe_release", release)
    (tmp_path / "probe_slow_import.py").write_text("import probe_release\nprobe_release.event.wait(30)\nDONE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "probe_slow_import", raising=False)
    tasks = BackgroundTasks(max_threads=4)
    tasks.prepare(["probe_slow_import"])
    seen: list[bool] = []
    tasks.submit(lambda: getattr(sys.modules.get("probe_slow_import"), "DONE", False), on_done=seen.append)
    # Both runnables are on pool threads: the import (held) and the task (at the gate, or done).
    qtbot.waitUntil(lambda: tasks.pool.activeThreadCount() == 2, timeout=20000)
    release.event.set()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: bool(seen), timeout=20000)
    assert seen == [True]  # the task ran after the whole import, never beside it
    assert tasks.close()


def test_the_studio_prepares_the_worker_imports_before_its_first_task(qtbot, kit_dir: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Since engines.external loads its adapters lazily, the modules the workers import have no
    import cycle left, so the start-up test above passes even without prepare(): this keeps the
    guard from being dropped unseen (a new cycle would bring the _DeadlockError back)."""
    import app.gui.main_window as main_window
    from app.gui.tasks import BackgroundTasks
    from gui_support import studio

    calls: list[str] = []

    class Recording(BackgroundTasks):
        def prepare(self, modules) -> None:  # type: ignore[no-untyped-def]
            calls.append("prepare:" + ",".join(modules))
            super().prepare(modules)

        def submit(self, fn, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
            calls.append("submit")
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(main_window, "BackgroundTasks", Recording)
    with studio(qtbot, kit_dir) as window:
        qtbot.waitUntil(lambda: "submit" in calls, timeout=20000)
        assert isinstance(window.tasks, Recording)
        assert calls[0] == "prepare:" + ",".join(main_window.WORKER_MODULES), calls[:3]
        assert "prepare" not in "".join(calls[1:])  # once, before every task


def test_every_module_the_workers_import_first_exists() -> None:
    # A module moved or renamed elsewhere must be renamed in this list too, or its import goes
    # back to racing on the workers.
    import importlib

    from app.gui.main_window import WORKER_MODULES

    for name in WORKER_MODULES:
        importlib.import_module(name)
