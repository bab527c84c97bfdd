"""The studio window: sources on the left, Live / Jobs / Models in the centre, engine health and
GPU/system on the right. It wires the small widgets together; each of them does one job.

Threading: the window and its widgets live on the GUI thread. The pipeline, the job workers, model
loading, face checks, downloads and monitor reads run elsewhere and come back as queued signals.
Closing the window is the one place that waits for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QTabWidget, QWidget

from app import __version__
from app.monitor.gpu import GpuReport, read_gpus
from app.pipeline.api import LiveConfig, LiveStats, SessionState

from .consent import ConsentDialog
from .engine_service import EngineService, EngineState
from .health_panel import HealthPanel
from .hotkeys import StudioHotkeys
from .job_queue import JobQueue
from .jobs_tab import JobsTab
from .live_choices import live_config
from .live_controller import LiveController, SessionFactory
from .live_panel import LivePanel
from .models_tab import ModelsReport, ModelsTab
from .remote_control import RemoteControl
from .settings import Preferences, StudioSettings
from .settings_dialog import SettingsDialog
from .sources_panel import SourcesPanel
from .status_bar import StudioStatus
from .system_panel import SystemPanel
from .tasks import BackgroundTasks

log = logging.getLogger(__name__)

# What the background tasks import lazily (engine loading, the job runner, camera listing, face
# checks, the live session): imported by one worker before any other task runs, so no two threads
# import them at once (see BackgroundTasks.prepare).
WORKER_MODULES: tuple[str, ...] = (
    "engines.base",
    "engines.imaging",
    "engines.models.store",
    "app.engine_host.cache",
    "app.offline.runner",
    "app.devices.cameras",
    "app.devices.virtual_camera",
    "app.monitor.gpu",
    "app.monitor.system",
    "app.pipeline.session",
)


class StudioWindow(QMainWindow):
    def __init__(
        self,
        settings: StudioSettings,
        models: Path | None = None,
        *,
        session_factory: SessionFactory | None = None,
        read_gpu: Callable[[], GpuReport] = read_gpus,
        jobs_db: Path | None = None,
        list_devices: bool = True,
    ) -> None:
        super().__init__()
        self.setWindowTitle(f"SwapCast {__version__}")
        self.setObjectName("studioWindow")
        self.resize(1440, 900)
        self.settings = settings
        self.models = models
        self.prefs: Preferences = settings.preferences()
        self._list_devices = list_devices
        self._closed = False
        self._models_view_shown = False
        self.consent_dialog: ConsentDialog | None = None
        self.settings_dialog: SettingsDialog | None = None

        # ---- services (no widgets) --------------------------------------------------------------
        self.tasks = BackgroundTasks(max_threads=4, parent=self)
        self.tasks.prepare(WORKER_MODULES)
        self.engine = EngineService(self.tasks, models, self)
        self.live = LiveController(self.tasks, session_factory, self)
        self.queue = JobQueue(self.tasks, jobs_db, parent=self)
        self.remote = RemoteControl(self.queue.store, self.queue.bus, self)

        # ---- widgets ------------------------------------------------------------------------------
        self.live_panel = LivePanel(self.live, settings.live(), self)
        self.live_panel.outputs.record_dir = self.prefs.output_dir
        self.jobs_tab = JobsTab(self.queue, self)
        self.jobs_tab.set_run_on(self.prefs.run_on_ray, self.prefs.ray_address)  # before the queue starts
        self.jobs_tab.runOnChanged.connect(self._run_on_changed)
        self.models_tab = ModelsTab(self.tasks, models, self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("mainTabs")
        self.tabs.addTab(self.live_panel, "Live")
        self.tabs.addTab(self.jobs_tab, "Jobs")
        self.tabs.addTab(self.models_tab, "Models")
        self.setCentralWidget(self.tabs)

        self.sources = SourcesPanel(self.tasks, self.engine, self)
        saved, active = settings.identities()
        self.sources.restore(saved, active)
        self.health = HealthPanel(self)
        self.system = SystemPanel(self.tasks, read_gpu=read_gpu, parent=self)
        self.sources_dock = self._dock("Source faces", self.sources, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.health_dock = self._dock("Engine health", self.health, Qt.DockWidgetArea.RightDockWidgetArea)
        self.system_dock = self._dock("GPU and system", self.system, Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.sources_dock], [180], Qt.Orientation.Horizontal)
        self.resizeDocks([self.health_dock], [360], Qt.Orientation.Horizontal)

        self.status_bar = StudioStatus(self.statusBar())
        self._menus()

        # ---- wiring -------------------------------------------------------------------------------
        self.live_panel.startRequested.connect(self.start_live)
        self.live_panel.stopRequested.connect(self.live.stop)
        self.live.statsChanged.connect(self._live_stats)
        self.live.stateChanged.connect(self._live_state)
        self.live.errorRaised.connect(self.status_bar.show_live_error)
        self.live.sessionChanged.connect(self._live_session_changed)
        self.remote.liveChanged.connect(self._live_changed_remotely)
        self.remote.liveStopRequested.connect(self.live.stop)
        self.engine.stateChanged.connect(self._engine_state)
        self.sources.identitiesChanged.connect(self._sources_changed)
        self.live_panel.camera_combo.currentIndexChanged.connect(lambda _i: self._update_readiness())
        self.sources.activeChanged.connect(self._active_changed)
        self.models_tab.modelsChecked.connect(self._models_checked)
        self.remote.addressChanged.connect(self.status_bar.show_remote_address)
        self.remote.errorRaised.connect(self.status_bar.show_remote_error)
        self.remote.tokenCreated.connect(self.status_bar.show_first_token)
        self._update_job_defaults()
        self._update_readiness()
        self.hotkeys = StudioHotkeys(self, self.live_panel, self.sources)
        self.hotkeys.apply(self.prefs.hotkeys)
        geometry, state = settings.window_state()
        if geometry:
            self.restoreGeometry(QByteArray(geometry))
        if state:
            self.restoreState(QByteArray(state))

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_"))
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        settings = QAction("&Settings…", self)
        settings.setShortcut(QKeySequence("Ctrl+,"))
        settings.triggered.connect(self.open_settings)
        file_menu.addAction(settings)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view = self.menuBar().addMenu("&View")
        for dock in (self.sources_dock, self.health_dock, self.system_dock):
            view.addAction(dock.toggleViewAction())
        help_menu = self.menuBar().addMenu("&Help")
        notice = QAction("Responsible use…", self)
        notice.triggered.connect(lambda: ConsentDialog(self).open())
        help_menu.addAction(notice)

    # ---- start-up ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Begin the background work and, on first use, ask for the responsible-use consent."""
        if not self.settings.consent_accepted:
            self._ask_consent()
            return
        self._start_services()

    def _ask_consent(self) -> None:
        for widget in (self.tabs, self.sources_dock, self.health_dock, self.system_dock):
            widget.setEnabled(False)
        dialog = ConsentDialog(self)
        self.consent_dialog = dialog
        dialog.accepted_notice.connect(self._consent_accepted)
        dialog.declined_notice.connect(self.close)
        dialog.open()

    def _consent_accepted(self) -> None:
        self.settings.accept_consent()
        self.consent_dialog = None
        for widget in (self.tabs, self.sources_dock, self.health_dock, self.system_dock):
            widget.setEnabled(True)
        self._start_services()

    @property
    def usable(self) -> bool:
        """False while the consent notice is still open (nothing can be started then)."""
        return self.settings.consent_accepted and self.tabs.isEnabled()

    def _start_services(self) -> None:
        self.engine.load(self.prefs.provider, self.prefs.det_size)
        self.models_tab.refresh()
        self.system.start()
        self.queue.start()
        self.remote.apply(self.prefs)
        if self._list_devices:
            self.tasks.submit(self._read_devices, on_done=self._devices_read)

    @staticmethod
    def _read_devices() -> tuple[list, object]:
        from app.devices.cameras import list_cameras
        from app.devices.virtual_camera import detect_virtual_camera

        return list_cameras(), detect_virtual_camera()

    def _devices_read(self, found: tuple[list, object]) -> None:
        cameras, vcam = found
        self.live_panel.set_cameras(cameras)
        self.live_panel.outputs.set_virtual_camera_status(vcam)  # type: ignore[arg-type]
        self._update_readiness()

    def _models_checked(self, report: ModelsReport) -> None:
        if report.missing_required and not self._models_view_shown:
            self._models_view_shown = True  # once: first run with no models lands on the Models view
            self.tabs.setCurrentWidget(self.models_tab)
        if not report.missing_required and self.engine.state is EngineState.FAILED:
            self.engine.load(self.prefs.provider, self.prefs.det_size)  # the files arrived: try again

    # ---- live -------------------------------------------------------------------------------------
    def live_config(self) -> LiveConfig | str:
        """The session the user asked for, or why it cannot start."""
        return live_config(self.live_panel.choices(), self.sources.groups(), self.live_panel.lip_check.isChecked(),
                           self.prefs.enhance_blend, self.models)

    def start_live(self) -> bool:
        if not self.usable or self.live.running:
            return False
        if self.engine.state is EngineState.FAILED:
            self.live_panel.show_state("failed", self._engine_blocker())
            return False
        config = self.live_config()
        if isinstance(config, str):
            self.live_panel.show_state("failed", config)
            return False
        # The studio's engine is handed over when it is ready, so Start does not load models again
        # and the session runs on the provider and detector size chosen in Settings.
        engine = self.engine.engine if self.engine.state is EngineState.READY else None
        self.live.set_bypass(False)
        if not self.live.start(config, engine):
            return False
        self.live.set_active_source(self.sources.active_group_index())
        self.live.set_bypass(self.live_panel.choices().bypass)
        self.health.plot.clear()
        return True

    def _live_stats(self, stats: LiveStats) -> None:
        self.health.show_stats(stats, self.engine.name)

    def _live_state(self, state: str, message: str) -> None:
        self.status_bar.show_session(state)
        if state in (SessionState.STOPPED.value,) and self.live.session is None:
            self.health.show_engine(self.engine.health(), self.engine.state.value, self.engine.message,
                                    self.engine.name)

    def _live_session_changed(self) -> None:
        # The remote-control API drives the session this window runs (its identities named as the gallery).
        self.remote.follow_live(self.live.session, self.sources.group_names(), self.sources.groups())

    def _live_changed_remotely(self, controls: dict[str, Any]) -> None:
        """A request to the remote-control API changed the session (queued here from the server's thread)."""
        self.live_panel.show_controls(controls)
        active = controls.get("active_source")
        row = self.sources.gallery_index(active) if isinstance(active, int) else None
        if row is not None:
            self.sources.set_active(row)  # the gallery shows it; the session already has it

    def _engine_blocker(self) -> str:
        problem = self.engine.problem
        return (f"The engine could not load: {problem.line}" if problem is not None
                else f"The engine could not load: {self.engine.message}")

    def _update_readiness(self) -> None:
        """What Start needs, said where the user looks (the preview, Start's tooltip)."""
        blocker = self._engine_blocker() if self.engine.state is EngineState.FAILED else None
        if blocker is not None:
            hint = blocker
        elif not self.sources.groups():
            hint = "Add a source face (left panel), pick a camera, then press Start"
        elif not self.live_panel.choices().camera:
            hint = "Pick a camera, or a video file to play as one, then press Start"
        elif self.engine.state is EngineState.LOADING:
            hint = "Loading the models… press Start when you are ready"
        else:
            hint = "Press Start"
        self.live_panel.set_readiness(blocker, hint)

    def _sources_changed(self) -> None:
        self._update_readiness()
        if self.live.running:
            groups = self.sources.groups()
            if groups:
                self.live.set_sources(groups)
                self.live.set_active_source(self.sources.active_group_index())
                self.remote.update_live_sources(self.sources.group_names(), groups)
        self._update_job_defaults()

    def _active_changed(self, _index: int) -> None:
        self.live.set_active_source(self.sources.active_group_index())
        self._update_job_defaults()

    # ---- engine -----------------------------------------------------------------------------------
    def _engine_state(self, state: str, message: str) -> None:
        health = self.engine.health()
        self.status_bar.show_engine(state, message, self.engine, health)
        self._update_readiness()
        if not self.live.running:
            self.health.show_engine(health, state, message, self.engine.name)

    # ---- jobs -------------------------------------------------------------------------------------
    def _update_job_defaults(self) -> None:
        self.jobs_tab.dialog_defaults = {
            "sources": self.sources.active_photos(),
            "output_dir": self.prefs.output_dir,
            "models": self.models,
            "enhance_blend": self.prefs.enhance_blend,
        }

    # ---- settings ---------------------------------------------------------------------------------
    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.prefs, self)
        self.settings_dialog = dialog
        dialog.accepted.connect(lambda: self.apply_preferences(dialog.preferences()))
        dialog.finished.connect(lambda _r: setattr(self, "settings_dialog", None))
        dialog.open()
        return dialog

    def _run_on_changed(self, address: str | None) -> None:
        """The Jobs tab's "Run on" choice, kept with the other preferences."""
        text = address if address is not None else self.jobs_tab.ray_address.text().strip()
        self.prefs = replace(self.prefs, run_on_ray=address is not None, ray_address=text)
        self.settings.set_preferences(self.prefs)

    def apply_preferences(self, prefs: Preferences) -> None:
        old, self.prefs = self.prefs, prefs
        self.settings.set_preferences(prefs)
        self.live_panel.outputs.record_dir = prefs.output_dir
        if old.enhance_blend != prefs.enhance_blend:
            self.live.set_enhance_blend(prefs.enhance_blend)  # a running session takes it at once
        self._update_job_defaults()
        self.hotkeys.apply(prefs.hotkeys)
        if self.usable:
            self.remote.apply(prefs)
        if (old.provider, old.det_size) != (prefs.provider, prefs.det_size) and self.usable:
            self.engine.load(prefs.provider, prefs.det_size)

    # ---- closing ----------------------------------------------------------------------------------
    def save_state(self) -> None:
        self.settings.set_live(self.live_panel.prefs())
        saved, active = self.sources.saved()
        self.settings.set_identities(saved, active)
        self.settings.set_window_state(bytes(self.saveGeometry().data()), bytes(self.saveState().data()))
        self.settings.sync()

    def shutdown(self) -> None:
        """Stop the session and the job workers and wait for every background task (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.settings.consent_accepted:
            self.save_state()
        self.system.stop()
        self.remote.stop()  # before the queue: the API must not take jobs into a store being closed
        self.live.shutdown()
        self.queue.shutdown()
        self.tasks.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
