"""The Models tab: which model files are present and verified, downloads with progress, and where
to put a file by hand.

Everything slow is on workers: hashing a 500 MB model on first check, and downloads. The texts
(problem, how to fix it) are the model store's own, so the GUI and `swapcast models` agree.
"""

from __future__ import annotations

import html
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (
    QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout,
    QWidget,
)

from app.paths import user_paths
from engines.errors import DownloadCancelled, ModelError
from engines.models import ModelStatus, ModelStore
from engines.models.catalog import REQUIRED_ROLES

from .qt_compat import emit
from .style import DEGRADED, DOWN, IDLE, OK
from .tasks import BackgroundTasks

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class ModelRow:
    status: ModelStatus
    fix: str | None  # how to get a good file (the store's words), when it is not verified

    @property
    def required(self) -> bool:
        return self.status.spec.default and self.status.spec.role in REQUIRED_ROLES

    @property
    def state(self) -> str:
        if self.status.verified:
            return "verified"
        return "fails its check" if self.status.present else "missing"


@dataclass(frozen=True)
class ModelsReport:
    store: ModelStore
    rows: tuple[ModelRow, ...]

    @property
    def missing_required(self) -> list[str]:
        return [r.status.spec.id for r in self.rows if r.required and not r.status.verified]


def read_models(models: Path | None) -> ModelsReport:
    """Check every model of the catalog (or of --models DIR). Hashes files: call it on a worker."""
    store = ModelStore.resolve(user_paths().models, models)
    rows = []
    for spec in store.specs():
        status = store.status(spec.id)
        fix = None
        if not status.verified:
            try:
                store.require(spec.id)
            except ModelError as error:  # the store says how to get a good file
                fix = error.fix
        rows.append(ModelRow(status, fix))
    return ModelsReport(store, tuple(rows))


@dataclass(frozen=True)
class DownloadOutcome:
    done: tuple[str, ...]
    failed: tuple[tuple[str, BaseException], ...]  # model id, why


def _error_text(error: BaseException) -> str:
    return error.one_line() if hasattr(error, "one_line") else f"{type(error).__name__}: {error}"


def _size(value: int | None) -> str:
    if not value:
        return "–"
    return f"{value / 1024**2:.0f} MB" if value >= 1024**2 else f"{value / 1024:.0f} kB"


class ModelsTab(QWidget):
    modelsChecked = Signal(object)  # ModelsReport

    def __init__(self, tasks: BackgroundTasks, models: Path | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsTab")
        self._tasks = tasks
        self.models = models
        self.report: ModelsReport | None = None
        self.downloading: str | None = None
        self.where = QLabel("checking…", self)
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, 6, self)
        self.table.setObjectName("modelsTable")
        self.table.setHorizontalHeaderLabels(["Model", "Role", "File", "Status", "Size", "Licence"])
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)  # one line a model; long licences end in "…" (whole in the tooltip)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        for column in range(5):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.detail = QLabel("", self)
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setObjectName("modelDetail")
        # The outcome of the last download, kept until the user's next action (a re-check or a
        # download refreshes the table and the detail, which must not wipe it).
        self.notice = QLabel("", self)
        self.notice.setObjectName("downloadNotice")
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.setVisible(False)
        self.download_button = QPushButton("Download", self)
        self.download_all_button = QPushButton("Download missing", self)
        self.verify_button = QPushButton("Check again", self)
        self.open_button = QPushButton("Open models folder", self)
        self.cancel_button = QPushButton("Cancel download", self)
        self.cancel_button.setVisible(False)
        self._cancel = threading.Event()
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        self.progress.setTextVisible(True)
        buttons = QHBoxLayout()
        for button in (self.download_button, self.download_all_button, self.verify_button, self.open_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.where)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.detail)
        layout.addWidget(self.notice)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        layout.addLayout(progress_row)
        layout.addLayout(buttons)
        self.table.itemSelectionChanged.connect(self._show_detail)
        self.download_button.clicked.connect(self._download_selected)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.download_all_button.clicked.connect(self._download_missing)
        self.verify_button.clicked.connect(self._check_again)
        self.open_button.clicked.connect(self._open_folder)
        self._update_buttons()

    # ---- checking ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        models = self.models
        self.verify_button.setEnabled(False)
        self._tasks.submit(lambda: read_models(models), on_done=self.show_report, on_error=self._failed)

    def _check_again(self) -> None:
        self.show_notice("")
        self.refresh()

    def show_notice(self, html_text: str, colour: str = "", details: str = "") -> None:
        """The last download's outcome ("" hides it); `details` is the whole error, as a tooltip."""
        self.notice.setText(html_text)
        self.notice.setToolTip(details)
        self.notice.setStyleSheet(f"color: {colour};" if colour else "")
        self.notice.setVisible(bool(html_text))

    def _failed(self, error: BaseException) -> None:
        self.verify_button.setEnabled(True)
        text = error.one_line() if hasattr(error, "one_line") else str(error)
        self.where.setText(f"cannot read the model list: {text}")
        self.where.setStyleSheet(f"color: {DOWN};")

    def show_report(self, report: ModelsReport) -> None:
        self.report = report
        self.verify_button.setEnabled(True)
        store = report.store
        source = "the models folder given with --models" if store.from_manifest else "the model catalog"
        missing = report.missing_required
        summary = (f"Models from {source}, kept in {store.directory}. "
                   + (f"Missing or unverified: {', '.join(missing)} — download them or put the files there by hand."
                      if missing else "Everything needed is present and verified."))
        self.where.setText(summary)
        self.where.setStyleSheet(f"color: {DOWN};" if missing else "")
        selected = self._selected_row()
        self.table.setRowCount(len(report.rows))
        for r, row in enumerate(report.rows):
            spec = row.status.spec
            cells = [spec.id + (" (default)" if spec.default else ""), spec.role, spec.file, row.state,
                     _size(spec.size), spec.license or "–"]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(r, c, item)
            colour = OK if row.status.verified else (DOWN if row.required else (DEGRADED if row.status.present else IDLE))
            self.table.item(r, 3).setForeground(QColor(colour))
        if report.rows:
            self.table.selectRow(selected if 0 <= selected < len(report.rows) else 0)
        self._show_detail()
        emit(self.modelsChecked, report)

    def _selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def _show_detail(self) -> None:
        row = self._row()
        if row is None:
            self.detail.setText("")
        else:
            spec = row.status.spec
            e = html.escape
            lines = [f"<b>{e(spec.id)}</b> — {e(spec.description or spec.role)}"]
            lines.append(f"File: {e(str(row.status.path))}")
            if row.status.verified:
                lines.append(f"Verified (sha256 {row.status.sha256 or spec.sha256 or '?'})")
            else:
                lines.append(f"<span style='color:{DOWN}'>{e(row.status.problem or 'not usable')}</span>")
                if row.fix:
                    lines.append(f"How to fix: {e(row.fix)}")
            if spec.all_urls:
                lines.append("From: " + " · ".join(e(url) for url in spec.all_urls[:2]))
            if row.status.note:
                lines.append(e(row.status.note))
            self.detail.setText("<br>".join(lines))
        self._update_buttons()

    def _row(self) -> ModelRow | None:
        index = self._selected_row()
        if self.report is None or not 0 <= index < len(self.report.rows):
            return None
        return self.report.rows[index]

    def _update_buttons(self) -> None:
        row = self._row()
        idle = self.downloading is None
        can = row is not None and not row.status.verified and bool(row.status.spec.all_urls)
        self.download_button.setEnabled(idle and can)
        missing = [r for r in (self.report.rows if self.report else ()) if not r.status.verified and r.status.spec.all_urls]
        self.download_all_button.setEnabled(idle and bool(missing))

    # ---- downloads --------------------------------------------------------------------------------
    def _download_selected(self) -> None:
        row = self._row()
        if row is not None:
            self.download([row.status.spec.id])

    def _download_missing(self) -> None:
        if self.report is not None:
            self.download([r.status.spec.id for r in self.report.rows
                           if not r.status.verified and r.status.spec.all_urls])

    def download(self, ids: list[str]) -> None:
        if self.report is None or not ids or self.downloading is not None:
            return
        store = self.report.store
        self.show_notice("")
        self.downloading = ids[0]
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"{ids[0]}: connecting…")
        self._cancel.clear()
        self.cancel_button.setVisible(True)
        self._update_buttons()
        cancel = self._cancel

        def relay(model_id: str, got: int, total: int | None, report) -> None:  # type: ignore[no-untyped-def]
            # Raised from inside the downloader's read loop: it stops at once, keeping the .part.
            if cancel.is_set():
                raise DownloadCancelled(f"download of {model_id} cancelled",
                                        "Download again to resume where it stopped")
            report((model_id, got, total))

        def work(report) -> DownloadOutcome:  # type: ignore[no-untyped-def]
            done: list[str] = []
            failed: list[tuple[str, BaseException]] = []
            for model_id in ids:
                try:
                    store.download(model_id, progress=lambda got, total, m=model_id: relay(m, got, total, report))
                except DownloadCancelled:
                    raise
                except Exception as error:  # the next model may come from another host: go on, like the CLI
                    failed.append((model_id, error))
                else:
                    done.append(model_id)
            return DownloadOutcome(tuple(done), tuple(failed))

        self._tasks.submit(work, on_done=self._downloaded, on_error=self._download_failed,
                           on_progress=self._download_progress)

    def _download_progress(self, value: tuple[str, int, int | None]) -> None:
        model_id, got, total = value
        self.downloading = model_id
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(got / total * 1000))
            self.progress.setFormat(f"{model_id}: {got / 1024**2:.0f} / {total / 1024**2:.0f} MB")
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat(f"{model_id}: {got / 1024**2:.0f} MB")

    def cancel_download(self) -> None:
        self._cancel.set()

    def _downloaded(self, outcome: DownloadOutcome) -> None:
        self._download_ended()
        e = html.escape
        lines = [f"Downloaded and verified: {e(', '.join(outcome.done))}"] if outcome.done else []
        details = []
        store = self.report.store if self.report is not None else None
        for model_id, error in outcome.failed:
            lines.append(self._failure_html(model_id, store))
            details.append(_error_text(error))
        self.show_notice("<br>".join(lines), DOWN if outcome.failed else OK, "\n\n".join(details))
        self.refresh()

    def _failure_html(self, model_id: str, store: ModelStore | None) -> str:
        """What failed, the URLs tried and where a hand-fetched file goes (the details: the tooltip)."""
        e = html.escape
        if store is None:
            return f"<b>Download of {e(model_id)} failed.</b>"
        spec = store.spec(model_id)
        tried = " · ".join(e(url) for url in spec.all_urls) or "no URL"
        return (f"<b>Download of {e(model_id)} failed</b> (details: hover here).<br>Tried: {tried}<br>"
                f"Check the connection and press Download again, or fetch the file by hand and put it into "
                f"{e(str(store.directory))} as {e(spec.file)}")

    def _download_failed(self, error: BaseException) -> None:
        self._download_ended()
        self.show_notice(f"Download stopped: {html.escape(_error_text(error))}",
                         IDLE if isinstance(error, DownloadCancelled) else DOWN, _error_text(error))
        self.refresh()

    def _download_ended(self) -> None:
        self.downloading = None
        self.cancel_button.setVisible(False)
        self.progress.setVisible(False)

    def _open_folder(self) -> None:
        folder = self.report.store.directory if self.report else user_paths().models
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
