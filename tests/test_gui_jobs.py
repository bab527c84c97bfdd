"""The Jobs tab: a job added through its dialog runs in the background (the real offline runner on
the generated models) and its row reaches 100 %; cancel and retry; the dialog refuses what the CLI
refuses."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from app.gui.jobs_tab import PROGRESS_COLUMN, FractionRole
from app.jobs import JobState
from gui_support import studio, wait_engine


def _row_fraction(window, job_id: int) -> float:  # type: ignore[no-untyped-def]
    model = window.jobs_tab.model
    row = model.row_of(job_id)
    return -1.0 if row < 0 else float(model.index(row, PROGRESS_COLUMN).data(FractionRole))


def test_a_job_added_in_the_jobs_tab_completes_and_reaches_100_percent(qtbot, kit_dir: Path,
                                                                        tmp_path: Path) -> None:
    samples = kit_dir / "samples"
    output = tmp_path / "out" / "swapped.mp4"
    with studio(qtbot, kit_dir) as window:
        wait_engine(qtbot, window)
        window.sources.add_photos([samples / "source_a.png"])
        qtbot.waitUntil(lambda: not window.sources.busy, timeout=60000)
        window.tabs.setCurrentWidget(window.jobs_tab)
        window.jobs_tab.add_button.click()
        dialog = window.jobs_tab.dialog
        assert dialog is not None and dialog.isVisible()
        # The active source face is filled in; the user adds a target and an output.
        assert dialog.sources.paths() == [samples / "source_a.png"]
        dialog.targets.add([samples / "target.mp4"])
        assert dialog.output.text().endswith("target_swapped.mp4")  # suggested in the output folder
        dialog.output.setText(str(output))
        dialog.trim.setChecked(True)
        dialog.trim_start.setValue(0.0)
        dialog.trim_end.setValue(1.0)
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
        assert not dialog.isVisible()

        jobs = window.queue.store.list()
        assert len(jobs) == 1
        job = jobs[0]
        assert job.spec.models == str(kit_dir.resolve()) and job.spec.trim == (0.0, 1.0)
        assert window.jobs_tab.model.row_of(job.id) == 0
        # The background worker runs it; the row follows it live, up to 100 %.
        seen: list[float] = []
        qtbot.waitUntil(lambda: seen.append(_row_fraction(window, job.id)) or
                        window.queue.store.get(job.id).state.is_final, timeout=60000)
        final = window.queue.store.get(job.id)
        assert final.state is JobState.COMPLETED, final.error
        qtbot.waitUntil(lambda: window.jobs_tab.model.index(0, 1).data() == "completed", timeout=20000)
        assert _row_fraction(window, job.id) == 1.0
        index = window.jobs_tab.model.index(0, PROGRESS_COLUMN)
        assert index.data(Qt.ItemDataRole.DisplayRole).startswith("100 %")
        assert 0 < max(seen) <= 1.0  # the row moved while the worker ran
        assert output.is_file() and output.stat().st_size > 0
        window.jobs_tab.select_job(job.id)
        assert window.jobs_tab.output_folder(window.jobs_tab.selected_job()) == output.parent
        assert window.jobs_tab.retry_button.isEnabled() and not window.jobs_tab.cancel_button.isEnabled()


def test_cancel_and_retry_from_the_jobs_tab(qtbot, kit_dir: Path, tmp_path: Path) -> None:
    samples = kit_dir / "samples"
    with studio(qtbot, kit_dir) as window:
        tab = window.jobs_tab
        tab.run_button.click()  # pause the queue: the job waits
        qtbot.waitUntil(lambda: not window.queue.running, timeout=20000)
        assert tab.run_button.text() == "Resume queue"
        dialog = tab.open_add_dialog()
        dialog.sources.add([samples / "source_a.png"])
        dialog.targets.add([samples / "target.png"])
        dialog.output.setText(str(tmp_path / "one.png"))
        dialog.accept()
        job = window.queue.store.list()[0]
        assert job.state is JobState.PENDING
        tab.select_job(job.id)
        tab.cancel_button.click()
        qtbot.waitUntil(lambda: tab.model.index(0, 1).data() == "cancelled", timeout=20000)
        tab.select_job(job.id)
        tab.retry_button.click()
        qtbot.waitUntil(lambda: tab.model.index(0, 1).data() == "pending", timeout=20000)
        tab.run_button.click()  # resume: the worker picks it up
        qtbot.waitUntil(lambda: window.queue.store.get(job.id).state is JobState.COMPLETED, timeout=60000)
        qtbot.waitUntil(lambda: _row_fraction(window, job.id) == 1.0, timeout=20000)
        assert (tmp_path / "one.png").is_file()


def test_add_dialog_refuses_what_the_cli_refuses(qtbot, kit_dir: Path, tmp_path: Path) -> None:
    samples = kit_dir / "samples"
    existing = tmp_path / "exists.png"
    existing.write_bytes(b"x")
    with studio(qtbot, kit_dir) as window:
        dialog = window.jobs_tab.open_add_dialog()
        dialog.accept()
        assert "source face" in dialog.error.text() and dialog.isVisible()
        dialog.sources.add([tmp_path / "gone.png"])
        dialog.targets.add([samples / "target.png"])
        dialog.output.setText(str(existing))
        dialog.accept()
        assert "source face image not found" in dialog.error.text()  # the CLI's words
        dialog.sources.list.clear()
        dialog.sources.add([samples / "source_a.png"])
        dialog.accept()
        assert "output exists" in dialog.error.text()
        dialog.overwrite.setChecked(True)
        dialog.faces.setCurrentIndex(dialog.faces.findData("reference"))
        dialog.accept()
        assert "reference" in dialog.error.text()
        assert window.queue.store.list() == []
        dialog.reject()


def test_add_dialog_refuses_a_job_that_could_never_run(qtbot, kit_dir: Path, tmp_path: Path) -> None:
    """A video given as the source face passes the option checks but can never run: the dialog says
    so in one line, as `swapcast jobs add` does, stays open, and queues nothing."""
    samples = kit_dir / "samples"
    with studio(qtbot, kit_dir) as window:
        dialog = window.jobs_tab.open_add_dialog()
        dialog.sources.add([samples / "target.mp4"])
        dialog.targets.add([samples / "target.png"])
        dialog.output.setText(str(tmp_path / "out.png"))
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
        message = dialog.error.text()
        assert message.startswith("the source face target.mp4 is a video") and "give a photo" in message
        assert "\n" not in message
        assert dialog.isVisible() and dialog.spec is None
        assert window.queue.store.list() == []
        dialog.sources.list.clear()  # the fix: a photo of the face; now it is queued
        dialog.sources.add([samples / "source_a.png"])
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
        assert not dialog.isVisible() and dialog.error.text() == ""
        assert [job.spec.sources for job in window.queue.store.list()] == [[str(samples / "source_a.png")]]
