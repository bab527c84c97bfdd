"""The thin adapters between worker threads and the GUI thread, and the PySide6 emit workaround."""

from __future__ import annotations

import sys
import threading

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtWidgets import QApplication

from app.gui.bridges import EventPump, PreviewBridge, bgr_to_qimage, qimage_to_bgr
from app.gui.qt_compat import emit
from app.gui.tasks import BackgroundTasks


class _Pinger(QObject):
    ping = Signal(object)


def test_emit_keeps_true_alive_through_many_emits(qtbot) -> None:
    # PySide6 6.12.0 on Python 3.11 loses a reference to True on every emit(); through the helper
    # the count stays put, so a long preview session cannot run it down to zero.
    pinger = _Pinger()
    got: list[object] = []
    pinger.ping.connect(got.append)
    before = sys.getrefcount(True)
    for _ in range(500):
        emit(pinger.ping, 1)
    assert abs(sys.getrefcount(True) - before) <= 2
    assert len(got) == 500


def test_qimage_round_trip_keeps_bgr_pixels() -> None:
    frame = np.random.default_rng(1).integers(0, 255, (37, 53, 3), np.uint8)
    image = bgr_to_qimage(frame)
    frame[:] = 0  # the QImage owns a copy
    back = qimage_to_bgr(image)
    assert back.shape == (37, 53, 3)
    assert np.array_equal(back, np.random.default_rng(1).integers(0, 255, (37, 53, 3), np.uint8))


def test_preview_bridge_keeps_only_the_newest_frame(qtbot) -> None:
    bridge = PreviewBridge()
    shown: list[tuple[int, bool]] = []
    bridge.frameReady.connect(
        lambda image, t: shown.append((int(t), QThread.currentThread() is QApplication.instance().thread())))
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(50)]

    def pipeline() -> None:
        for i, frame in enumerate(frames):
            bridge.listener(frame, float(i))

    worker = threading.Thread(target=pipeline)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(shown) and shown[-1][0] == 49, timeout=20000)
    # The GUI thread was busy while 50 frames arrived: it painted the newest, dropped the rest.
    assert len(shown) < 50 and bridge.dropped == 50 - len(shown)
    assert all(on_gui for _, on_gui in shown)


def test_event_pump_coalesces_wakeups(qtbot) -> None:
    pump = EventPump()
    woke: list[int] = []
    pump.ready.connect(lambda: woke.append(1))
    threads = [threading.Thread(target=lambda: [pump.notify() for _ in range(100)]) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    qtbot.waitUntil(lambda: len(woke) >= 1, timeout=20000)
    assert len(woke) <= 3  # hundreds of notifications, a few GUI turns


def test_background_tasks_report_on_the_gui_thread(qtbot) -> None:
    tasks = BackgroundTasks(max_threads=2)
    results: list[tuple[str, object, bool]] = []

    def on_gui() -> bool:
        return QThread.currentThread() is QApplication.instance().thread()

    def work(report) -> str:  # type: ignore[no-untyped-def]
        assert not on_gui()
        report(0.5)
        return "done"

    def fail() -> None:
        raise ValueError("boom")

    tasks.submit(work, on_done=lambda v: results.append(("done", v, on_gui())),
                 on_progress=lambda v: results.append(("progress", v, on_gui())))
    tasks.submit(fail, on_error=lambda e: results.append(("error", str(e), on_gui())))
    qtbot.waitUntil(lambda: len(results) == 3, timeout=20000)
    assert sorted(results, key=lambda r: r[0]) == [("done", "done", True), ("error", "boom", True),
                                                   ("progress", 0.5, True)]
    assert tasks.close(3000)
    assert not tasks.submit(lambda: None)
