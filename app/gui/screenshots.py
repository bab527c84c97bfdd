"""Save a screenshot of each main view, offscreen: live (running on the sample video), sources,
jobs, models, settings.

    python -m app.gui.screenshots docs/screenshots [--models DIR] [--size 1280x720]

Without --models, the generated test models (with their sample media) are written to a temporary
folder first. Everything runs in a throw-away SWAPCAST_HOME, so the user's settings, gallery and
job queue are never touched.

With a display (e.g. `xvfb-run -s "-screen 0 1280x720x24" env QT_QPA_PLATFORM=xcb python -m
app.gui.screenshots DIR --size 1280x720`) the shots are of the whole screen, dialogs as real
windows, the way a user sees them; offscreen (the default) they are drawn from the widgets.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

VIEWS = ("live", "sources", "jobs", "models", "settings")
SIZE = (1440, 900)


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: write WIDTHxHEIGHT, e.g. 1280x720") from None
    return width, height


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app.gui.screenshots", description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path, help="folder for live.png, sources.png, jobs.png, models.png, settings.png")
    parser.add_argument("--models", type=Path, metavar="DIR",
                        help="a models folder with samples/ (default: generate the test kit into a temp folder)")
    parser.add_argument("--seconds", type=float, default=4.0, help="how long live runs before its screenshot")
    parser.add_argument("--size", type=_size, default=SIZE, metavar="WxH",
                        help=f"window size (default {SIZE[0]}x{SIZE[1]}); with a display, the screen's size")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # Before Qt is imported: no display is needed, and nothing of the user's is read or written.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="swapcast-shots-") as scratch:
        os.environ["SWAPCAST_HOME"] = str(Path(scratch) / "home")
        models = args.models
        if models is None:
            from engines.testing.kit import write_kit

            models = Path(scratch) / "kit"
            write_kit(models, samples=True)
        samples = models / "samples"
        if not (samples / "target.mp4").is_file():
            print(f"{samples} has no target.mp4: use a folder written by `swapcast models kit DIR --samples`",
                  file=sys.stderr)
            return 2
        return _shoot(args.outdir, models.resolve(), samples.resolve(), Path(scratch), args.seconds, args.size)


def _shoot(outdir: Path, models: Path, samples: Path, scratch: Path, live_seconds: float,
           size: tuple[int, int] = SIZE) -> int:
    from PySide6.QtCore import QEvent, QEventLoop, QPoint
    from PySide6.QtGui import QColor, QPainter, QPixmap
    from PySide6.QtWidgets import QApplication, QWidget

    from app.jobs import JobState
    from app.pipeline.api import SessionState

    from .engine_service import EngineState
    from .launch import make_app
    from .main_window import StudioWindow
    from .settings import Preferences, StudioSettings

    app = make_app()
    outdir.mkdir(parents=True, exist_ok=True)
    on_screen = QApplication.platformName() not in ("offscreen", "minimal")

    def spin(seconds: float, until: Callable[[], bool] | None = None) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            if until is not None and until():
                return True
            time.sleep(0.01)
        return until is None or until()

    def save(name: str, pixmap: QPixmap) -> None:
        path = outdir / f"{name}.png"
        if not pixmap.save(str(path)):
            raise OSError(f"could not write {path}")
        print(f"wrote {path}")

    def screen() -> QPixmap:
        return app.primaryScreen().grabWindow(0)  # the root window: what the user sees

    def view(window: QWidget) -> QPixmap:
        return screen() if on_screen else window.grab()

    def over(window: QWidget, dialog: QWidget) -> QPixmap:
        """The window with a dialog drawn over its centre (offscreen, top-level grabs are separate)."""
        if on_screen:
            return screen()
        shot = window.grab()
        top = dialog.grab()
        painter = QPainter(shot)
        painter.fillRect(shot.rect(), QColor(0, 0, 0, 90))
        corner = QPoint((shot.width() - top.width()) // 2, (shot.height() - top.height()) // 2)
        painter.fillRect(corner.x() - 1, corner.y() - 1, top.width() + 2, top.height() + 2, QColor(40, 40, 40))
        painter.drawPixmap(corner, top)
        painter.end()
        return shot

    settings = StudioSettings()
    settings.accept_consent()
    settings.set_preferences(Preferences(output_dir=scratch / "renders"))
    window = StudioWindow(settings, models, list_devices=True)
    window.resize(*size)
    if on_screen:
        window.move(0, 0)
    window.show()
    window.start()
    try:
        if not spin(30, lambda: window.engine.state is not EngineState.LOADING):
            raise RuntimeError("the engine did not load in 30 s")
        if window.engine.state is not EngineState.READY:
            raise RuntimeError(f"the engine did not load: {window.engine.message}")
        gallery = window.sources
        gallery.add_photos([samples / "source_a.png", samples / "source_b.png", samples / "target_two.png"])
        spin(10, lambda: gallery.picker is not None)

        # ---- sources: the gallery, with the face picker open for the group photo ------------------
        if gallery.picker is not None:
            spin(0.5)
            save("sources", over(window, gallery.picker))
            gallery.picker.choose(1)
        spin(10, lambda: not gallery.busy)
        gallery.set_active(0)

        # ---- jobs run in the background while live runs ---------------------------------------------
        queue = window.queue
        from app.jobs import JobSpec

        renders = scratch / "renders"
        specs = [
            JobSpec(sources=[str(samples / "source_a.png")], targets=[str(samples / "target.png")],
                    output=str(renders / "target_swapped.png"), models=str(models)),
            JobSpec(sources=[str(samples / "source_b.png")], targets=[str(samples / "target.mp4")],
                    output=str(renders / "clip_swapped.mp4"), models=str(models)),
            JobSpec(sources=[str(samples / "source_a.png")], targets=[str(samples / "target.mp4")],
                    output=str(renders / "clip_coral.mp4"), models=str(models)),
            JobSpec(sources=[str(samples / "source_b.png")], targets=[str(samples / "target_two.png")],
                    output=str(renders / "group_swapped.png"), faces="all", models=str(models)),
        ]
        jobs = [queue.add(spec) for spec in specs]
        queue.store.cancel(jobs[3].id)  # one cancelled row, to show the states

        # ---- live: the sample video as the camera ------------------------------------------------------
        window.live_panel.use_video_file(samples / "target.mp4")
        window.start_live()
        if not spin(20, lambda: window.live.state is SessionState.RUNNING):
            raise RuntimeError(f"live did not start: {window.live_panel.status_label.text()}")
        spin(live_seconds)
        window.tabs.setCurrentWidget(window.live_panel)
        spin(0.3)
        save("live", view(window))

        # ---- jobs: one done, one running or done, one pending/running, one cancelled -----------------
        window.tabs.setCurrentWidget(window.jobs_tab)
        spin(20, lambda: queue.store.get(jobs[0].id).state.is_final and
             queue.store.get(jobs[1].id).state is not JobState.PENDING)
        window.jobs_tab.select_job(jobs[1].id)
        spin(0.5)
        save("jobs", view(window))

        # ---- models ----------------------------------------------------------------------------------
        window.live.stop()
        spin(10, lambda: not window.live.running and window.live.state is not SessionState.STOPPING)
        window.tabs.setCurrentWidget(window.models_tab)
        spin(10, lambda: window.models_tab.report is not None)
        window.models_tab.table.selectRow(2)
        spin(0.3)
        save("models", view(window))

        # ---- settings --------------------------------------------------------------------------------
        window.tabs.setCurrentWidget(window.live_panel)
        dialog = window.open_settings()
        spin(0.3)
        save("settings", over(window, dialog))
        dialog.reject()
    finally:
        window.close()
        # Delete the widgets while Qt is still fully alive, not in the interpreter's final GC.
        window.deleteLater()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QApplication.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
