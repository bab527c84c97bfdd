"""The Jobs tab: the queue from the database, one row per job with a progress bar, fps and ETA;
add, cancel, retry, remove, open the output folder; pause or resume the background worker."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRect, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPainter
from PySide6.QtWidgets import (
    QApplication, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QStyle, QStyledItemDelegate, QStyleOptionProgressBar,
    QStyleOptionViewItem, QTableView, QVBoxLayout, QWidget,
)

from app.jobs import EventKind, Job, JobEvent, JobState

from .add_job_dialog import AddJobDialog
from .job_queue import JobQueue
from .messages import brief_text
from .qt_compat import emit
from .style import DEGRADED, DOWN, IDLE, OK

COLUMNS = ("#", "State", "Progress", "Targets", "Output", "Message")
PROGRESS_COLUMN = 2
PROGRESS_TEMPLATE = "100 % · 999/999 · 99.9 fps · ETA 0:00"
FractionRole = Qt.ItemDataRole.UserRole + 1
JobIdRole = Qt.ItemDataRole.UserRole + 2

STATE_COLOURS = {JobState.COMPLETED: OK, JobState.PROCESSING: "#3498db", JobState.FAILED: DOWN,
                 JobState.CANCELLED: IDLE, JobState.PENDING: DEGRADED}


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_text(job: Job) -> str:
    parts = [f"{job.fraction * 100:.0f} %"]
    if job.progress.total:
        parts.append(f"{job.progress.done}/{job.progress.total}")
    if job.segments:
        parts.append(f"segments {job.segments.done}/{job.segments.total}")
    if job.state is JobState.PROCESSING:
        if job.fps:
            parts.append(f"{job.fps:.1f} fps")
        if job.eta_s is not None:
            parts.append(f"ETA {format_eta(job.eta_s)}")
    return " · ".join(parts)


def _names(paths: list[str]) -> str:
    names = [Path(p).name for p in paths]
    return names[0] if len(names) == 1 else f"{names[0]} +{len(names) - 1}"


class JobsModel(QAbstractTableModel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs: list[Job] = []

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.jobs)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        job = self.jobs[index.row()]
        column = index.column()
        if role == JobIdRole:
            return job.id
        if role == FractionRole:
            return job.fraction
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return str(job.id)
            if column == 1:
                return job.state.value.lower() + (" (cancelling)" if job.cancel_requested and
                                                  job.state is JobState.PROCESSING else "")
            if column == PROGRESS_COLUMN:
                return progress_text(job)
            if column == 3:
                return _names(job.spec.targets)
            if column == 4:
                return Path(job.output or job.spec.output).name  # the folder: tooltip, "Open output folder"
            if column == 5:
                return job.error or ("; ".join(job.warnings) if job.warnings else "")
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 3:
                return "\n".join(job.spec.targets)
            if column == 5 and (job.error or job.warnings):
                return "\n".join([job.error or "", *job.warnings]).strip()
            if column == 4:
                return job.output or job.spec.output
        if role == Qt.ItemDataRole.ForegroundRole and column == 1:
            from PySide6.QtGui import QColor

            return QColor(STATE_COLOURS.get(job.state, IDLE))
        return None

    # ---- updates ----------------------------------------------------------------------------------
    def set_jobs(self, jobs: list[Job]) -> None:
        if [j.id for j in jobs] == [j.id for j in self.jobs]:
            self.jobs = list(jobs)  # same rows: repaint in place, selection kept
            if jobs:
                emit(self.dataChanged, self.index(0, 0), self.index(len(jobs) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self.jobs = list(jobs)
        self.endResetModel()

    def apply(self, event: JobEvent) -> bool:
        """Apply a progress event in place; False when the row set changed (reload instead)."""
        if event.kind in (EventKind.ADDED, EventKind.REMOVED):
            return False
        for row, job in enumerate(self.jobs):
            if job.id == event.job_id:
                self.jobs[row] = dataclasses.replace(job, state=event.state, progress=event.progress, fps=event.fps,
                                                     eta_s=event.eta_s, segments=event.segments)
                emit(self.dataChanged, self.index(row, 0), self.index(row, len(COLUMNS) - 1))
                return event.kind is EventKind.PROGRESS  # state changes bring more (error, output): reload
        return False

    def job_at(self, row: int) -> Job | None:
        return self.jobs[row] if 0 <= row < len(self.jobs) else None

    def row_of(self, job_id: int) -> int:
        return next((row for row, job in enumerate(self.jobs) if job.id == job_id), -1)


class ProgressDelegate(QStyledItemDelegate):
    """Paints the Progress column as a progress bar with its text."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        fraction = index.data(FractionRole)
        if fraction is None:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = QRect(option.rect.adjusted(2, 3, -2, -3))
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(float(fraction) * 1000)
        bar.text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        bar.textVisible = True
        bar.state = option.state | QStyle.StateFlag.State_Enabled
        style = option.widget.style() if option.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)


class JobsTab(QWidget):
    addRequested = Signal()
    runOnChanged = Signal(object)  # str | None: the Ray address ("" local), None for this machine

    def __init__(self, queue: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("jobsTab")
        self.queue = queue
        self.dialog: AddJobDialog | None = None
        self.dialog_defaults: dict[str, Any] = {}  # sources / output folder / models, set by the window
        self.model = JobsModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("jobsTable")
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(PROGRESS_COLUMN, ProgressDelegate(self.table))
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        # Every column fits the view: the paths and messages share what is left and are elided
        # (in the middle, so a file's name and its folder's end both stay), whole in the tooltip.
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.table.horizontalHeader()
        header.setMinimumSectionSize(36)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(PROGRESS_COLUMN, QHeaderView.ResizeMode.Fixed)
        # As wide as a running job's longest text, fixed so the columns do not jump as it changes.
        header.resizeSection(PROGRESS_COLUMN, self.fontMetrics().horizontalAdvance(PROGRESS_TEMPLATE) + 24)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.add_button = QPushButton("Add job…", self)
        self.add_button.setObjectName("addJob")
        self.cancel_button = QPushButton("Cancel", self)
        self.retry_button = QPushButton("Retry", self)
        self.remove_button = QPushButton("Remove", self)
        self.open_button = QPushButton("Open output folder", self)
        self.run_button = QPushButton("Pause queue", self)
        self.run_button.setCheckable(True)
        # Where the queue's jobs run: here, or on Ray actors (a long video split across them).
        self.run_on = QComboBox(self)
        self.run_on.setObjectName("runOn")
        self.run_on.addItems(["This machine", "Ray cluster"])
        self.ray_address = QLineEdit(self)
        self.ray_address.setObjectName("rayAddress")
        self.ray_address.setPlaceholderText("local Ray, or auto / ray://HOST:10001")
        self.ray_address.setEnabled(False)
        self.ray_address.setMinimumWidth(240)
        self.ray_address.setVisible(False)  # shown only for "Ray cluster": no squeezed, empty box otherwise
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.cancel_button, self.retry_button, self.remove_button, self.open_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("Run on:", self))
        buttons.addWidget(self.run_on)
        buttons.addWidget(self.ray_address)
        buttons.addWidget(self.run_button)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

        self.add_button.clicked.connect(self.open_add_dialog)
        self.cancel_button.clicked.connect(lambda: self._on_selected(self.queue.cancel))
        self.retry_button.clicked.connect(lambda: self._on_selected(self.queue.retry))
        self.remove_button.clicked.connect(lambda: self._on_selected(self.queue.remove))
        self.open_button.clicked.connect(self.open_output_folder)
        self.run_button.toggled.connect(self._run_toggled)
        self.run_on.currentIndexChanged.connect(lambda _index: self._run_on_changed())
        self.ray_address.editingFinished.connect(self._run_on_changed)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        queue.jobsChanged.connect(self._jobs_changed)
        queue.eventsArrived.connect(self._events)
        queue.runningChanged.connect(self._running_changed)
        queue.errorRaised.connect(self._error)
        self._update_buttons()

    # ---- queue updates ----------------------------------------------------------------------------
    def _jobs_changed(self, jobs: list[Job]) -> None:
        selected = self.selected_job()
        self.model.set_jobs(jobs)
        if selected is not None:
            row = self.model.row_of(selected.id)
            if row >= 0 and self.table.currentIndex().row() != row:
                self.table.selectRow(row)
        self._update_buttons()
        running = sum(1 for j in jobs if j.state is JobState.PROCESSING)
        pending = sum(1 for j in jobs if j.state is JobState.PENDING)
        if not self.status.text().startswith("jobs cannot run"):
            self.status.setText(f"{len(jobs)} jobs · {running} running · {pending} waiting")

    def _error(self, text: str) -> None:
        # One line (what failed and the fix); the whole text in the tooltip.
        self.status.setText(brief_text(text).line)
        self.status.setToolTip(text)

    def _events(self, events: list[JobEvent]) -> None:
        if not all(self.model.apply(event) for event in events):
            self.queue.reload()
        self._update_buttons()

    def _running_changed(self, running: bool) -> None:
        self.run_button.blockSignals(True)
        self.run_button.setChecked(not running)
        self.run_button.setText("Resume queue" if not running else "Pause queue")
        self.run_button.blockSignals(False)

    def set_run_on(self, on_ray: bool, address: str) -> None:
        """Show the saved choice and apply it to the queue (the window calls this once at start)."""
        for widget in (self.run_on, self.ray_address):
            widget.blockSignals(True)
        self.run_on.setCurrentIndex(1 if on_ray else 0)
        self.ray_address.setText(address)
        self.ray_address.setEnabled(on_ray)
        self.ray_address.setVisible(on_ray)
        for widget in (self.run_on, self.ray_address):
            widget.blockSignals(False)
        self.queue.run_on(address.strip() if on_ray else None)

    def _run_on_changed(self) -> None:
        on_ray = self.run_on.currentIndex() == 1
        self.ray_address.setEnabled(on_ray)
        self.ray_address.setVisible(on_ray)
        choice = self.ray_address.text().strip() if on_ray else None
        if choice != self.queue.ray_address:
            self.queue.run_on(choice)
            emit(self.runOnChanged, choice)

    def _run_toggled(self, paused: bool) -> None:
        if paused:
            self.queue.pause()
        else:
            self.queue.start()

    # ---- selection and actions --------------------------------------------------------------------
    def selected_job(self) -> Job | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.job_at(rows[0].row()) if rows else None

    def select_job(self, job_id: int) -> None:
        row = self.model.row_of(job_id)
        if row >= 0:
            self.table.selectRow(row)

    def _on_selected(self, action: Any) -> None:
        job = self.selected_job()
        if job is not None:
            action(job.id)

    def _update_buttons(self) -> None:
        job = self.selected_job()
        self.cancel_button.setEnabled(job is not None and not job.state.is_final)
        self.retry_button.setEnabled(job is not None and job.state.is_final)
        self.remove_button.setEnabled(job is not None and job.state is not JobState.PROCESSING)
        self.open_button.setEnabled(job is not None)

    def output_folder(self, job: Job) -> Path:
        output = Path(job.output or job.spec.output)
        return output if output.is_dir() or (len(job.spec.targets) > 1 and not output.suffix) else output.parent

    def open_output_folder(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        folder = self.output_folder(job)
        if not folder.exists():
            self.status.setText(f"{folder} does not exist yet")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # ---- adding -----------------------------------------------------------------------------------
    def open_add_dialog(self) -> AddJobDialog:
        dialog = AddJobDialog(self, **self.dialog_defaults)
        self.dialog = dialog
        dialog.accepted.connect(lambda: self._add(dialog))
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        dialog.open()
        return dialog

    def _add(self, dialog: AddJobDialog) -> None:
        if dialog.spec is None:
            return
        job = self.queue.add(dialog.spec)
        self.select_job(job.id)
        if not self.queue.running:
            self.status.setText(f"job {job.id} queued; the queue is paused")
