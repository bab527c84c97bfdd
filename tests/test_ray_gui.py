"""The Jobs tab's "Run on": a Ray cluster that does not answer is one line in the tab and the queue
stays as it was; back on "This machine" the job runs; the choice is kept with the preferences."""

from __future__ import annotations

from pathlib import Path

from app.jobs import JobSpec, JobState
from gui_support import studio, wait_engine
from standins.helpers import free_port


def test_run_on_a_dead_ray_address_says_so_and_this_machine_runs_the_job(qtbot, kit_dir: Path, tmp_path: Path) -> None:
    samples = kit_dir / "samples"
    address = f"ray://127.0.0.1:{free_port()}"
    with studio(qtbot, kit_dir) as window:
        wait_engine(qtbot, window)
        tab = window.jobs_tab
        tab.run_button.click()  # pause the queue while the job is added
        qtbot.waitUntil(lambda: not window.queue.running, timeout=20000)
        job = window.queue.add(JobSpec(sources=[str(samples / "source_a.png")], targets=[str(samples / "target.png")],
                                       output=str(tmp_path / "out.png"), models=str(kit_dir)))
        tab.run_on.setCurrentIndex(1)
        assert tab.ray_address.isEnabled()
        tab.ray_address.setText(address)
        tab.ray_address.editingFinished.emit()
        tab.run_button.click()  # resume: on the cluster
        qtbot.waitUntil(lambda: address in tab.status.text(), timeout=30000)
        assert "did not answer" in tab.status.text() and "\n" not in tab.status.text()
        assert window.queue.store.get(job.id).state is JobState.PENDING
        saved = window.settings.preferences()
        assert (saved.run_on_ray, saved.ray_address) == (True, address)

        tab.run_on.setCurrentIndex(0)  # this machine: the same queue runs here
        if not window.queue.running:
            tab.run_button.click()
        qtbot.waitUntil(lambda: window.queue.store.get(job.id).state.is_final, timeout=60000)
        assert window.queue.store.get(job.id).state is JobState.COMPLETED
        assert (tmp_path / "out.png").exists()
        assert window.settings.preferences().run_on_ray is False
