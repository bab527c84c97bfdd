"""Engine health: a thin panel that only observes (like DeepFaceLive's backend panels).

It is fed snapshots — LiveStats while a session runs, the engine's own EngineHealth otherwise — and
shows each model (loaded, provider, fallback), per-stage times with a short history plot, fps,
dropped frames and the last error, coloured ok / degraded / down.
"""

from __future__ import annotations

import html
from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QFormLayout, QHeaderView, QLabel, QSizePolicy, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from app.pipeline.api import LiveStats, SessionState
from engines.base import EngineHealth, HealthState, ModelHealth

from .style import LEVEL_COLOURS, STAGE_COLOURS, level_colour

HISTORY = 120  # samples kept per stage: 30 s at the 4 Hz stats poll


def short_provider(provider: str) -> str:
    """'CUDAExecutionProvider' → 'CUDA'."""
    return provider.removesuffix("ExecutionProvider") or provider


def provider_summary(health: EngineHealth) -> str:
    """'detector CPU · recognizer CPU · swapper CUDA', or 'all on CPU' when they agree."""
    providers = {short_provider(m.provider) for m in health.models}
    if len(providers) == 1 and health.models:
        return f"all models on {providers.pop()}"
    return " · ".join(f"{m.role} {short_provider(m.provider)}" for m in health.models) or "not loaded"


@dataclass(frozen=True)
class ModelRow:
    """One line of the models table, with the level that colours it."""

    role: str
    model_id: str
    loaded: str
    provider: str
    detail: str
    level: str

    @classmethod
    def of(cls, model: ModelHealth) -> ModelRow:
        if not model.loaded:
            level, detail = "down", model.note or "not loaded"
        elif not model.healthy:
            level, detail = "down", model.note or "unhealthy"
        elif model.fallback_reason:
            # Asked for a GPU provider, got another: loud, with the reason (the peers' #1 complaint).
            level, detail = "degraded", f"fallback: {model.fallback_reason}"
        else:
            level, detail = "ok", model.note or "ok"
        return cls(model.role, model.model_id, "yes" if model.loaded else "no", short_provider(model.provider),
                   detail, level)


def overall_level(health: EngineHealth | None, session: SessionState | None, engine_failed: bool = False) -> str:
    """ok | degraded | down | idle, from what is known right now."""
    if session is SessionState.FAILED or engine_failed:
        return "down"
    if health is None:
        return "idle"
    if health.state is HealthState.DOWN:
        return "down"
    if health.state is HealthState.DEGRADED or any(ModelRow.of(m).level != "ok" for m in health.models):
        return "degraded"
    return "ok"


class StageHistoryPlot(QWidget):
    """Per-stage milliseconds over the last HISTORY samples, one line per stage, drawn with QPainter."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.history: dict[str, deque[float]] = {}
        self._order: list[str] = []

    def sizeHint(self) -> QSize:
        return QSize(280, 120)

    def add(self, stages_ms: dict[str, float]) -> None:
        for stage in stages_ms:
            if stage not in self.history:
                self.history[stage] = deque(maxlen=HISTORY)
                self._order.append(stage)
        for stage in self._order:
            self.history[stage].append(float(stages_ms.get(stage, 0.0)))
        self.update()

    def clear(self) -> None:
        self.history.clear()
        self._order.clear()
        self.update()

    def colour(self, stage: str) -> QColor:
        index = self._order.index(stage) if stage in self._order else 0
        return QColor(STAGE_COLOURS[index % len(STAGE_COLOURS)])

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        area = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        painter.fillRect(area, QColor(28, 30, 36))
        values = sorted(v for series in self.history.values() for v in series)
        # Scaled to the 98th percentile: one slow warm-up frame must not flatten the rest; the
        # rare taller samples are clipped at the top.
        top = values[int(0.98 * (len(values) - 1))] if values else 0.0
        scale = max(1.0, top * 1.15)
        painter.setPen(QColor(120, 124, 135))
        painter.drawText(area.adjusted(4, 2, -4, -2), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight,
                         f"{scale:.0f} ms")
        if not values:
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "no frames yet")
            painter.end()
            return
        step = area.width() / max(1, HISTORY - 1)
        for stage in self._order:
            series = self.history[stage]
            path = QPainterPath()
            start = HISTORY - len(series)
            for i, value in enumerate(series):
                y = area.bottom() - min(value, scale) / scale * area.height()
                point = QPointF(area.left() + (start + i) * step, y)
                if i == 0:
                    path.moveTo(point)
                else:
                    path.lineTo(point)
            painter.setPen(QPen(self.colour(stage), 1.6))
            painter.drawPath(path)
        painter.end()


class HealthPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("healthPanel")
        self.level = "idle"
        self.last_session: tuple[int, int] | None = None  # frames, errors of the last live session
        self.badge = QLabel("IDLE", self)
        self.badge.setObjectName("healthBadge")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.summary = QLabel("engine not loaded", self)
        self.summary.setWordWrap(True)
        self.models = QTableWidget(0, 4, self)
        self.models.setHorizontalHeaderLabels(["Model", "Loaded", "On", "Status"])
        self.models.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.models.setWordWrap(False)
        self.models.verticalHeader().setVisible(False)
        self.models.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.models.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        header = self.models.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)  # long reasons: elided, full in the tooltip
        self.models.verticalHeader().setDefaultSectionSize(22)
        self.fps_label = QLabel("–", self)
        self.latency_label = QLabel("–", self)
        self.dropped_label = QLabel("–", self)
        self.frames_label = QLabel("–", self)
        numbers = QFormLayout()
        numbers.addRow("fps in / out", self.fps_label)
        numbers.addRow("latency p50 / p95", self.latency_label)
        numbers.addRow("dropped", self.dropped_label)
        numbers.addRow("frames / errors", self.frames_label)
        self.plot = StageHistoryPlot(self)
        self.legend = QLabel("", self)
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.error_label = QLabel("", self)
        self.error_label.setObjectName("lastError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.badge)
        layout.addWidget(self.summary)
        layout.addWidget(self.models)
        layout.addLayout(numbers)
        layout.addWidget(QLabel("Per-stage time (ms)", self))
        layout.addWidget(self.plot)
        layout.addWidget(self.legend)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        self._set_level("idle")

    # ---- inputs ----------------------------------------------------------------------------------
    def show_stats(self, stats: LiveStats, engine_name: str = "") -> None:
        """A live session's snapshot (4× a second)."""
        health = stats.engine
        self._show_models(health)
        self.fps_label.setText(f"{stats.fps_in:.1f} / {stats.fps_out:.1f}")
        self.latency_label.setText(f"{stats.latency_ms_p50:.0f} / {stats.latency_ms_p95:.0f} ms")
        self.dropped_label.setText(str(stats.dropped))
        errors = health.errors if health is not None else 0
        self.frames_label.setText(f"{stats.frames} / {errors}")
        self.last_session = (stats.frames, errors)
        if stats.state is SessionState.RUNNING and stats.stages_ms:
            self.plot.add(stats.stages_ms)
        self._show_legend(stats.stages_ms)
        error = (health.last_error if health is not None else None) or (
            stats.message if stats.state is SessionState.FAILED else "")
        self.error_label.setText(f"last error: {error}" if error else "")
        state_word = {SessionState.STARTING: "starting", SessionState.RUNNING: "live",
                      SessionState.STOPPING: "stopping", SessionState.STOPPED: "stopped",
                      SessionState.FAILED: "failed"}[stats.state]
        if health is not None:
            where = provider_summary(health)
        else:
            where = "engine not loaded" if stats.state is SessionState.FAILED else "engine loading…"
        self.summary.setText(f"{engine_name or 'engine'} · session {state_word} · {where}")
        self._set_level(overall_level(health, stats.state))

    def show_engine(self, health: EngineHealth | None, state: str, message: str, engine_name: str = "") -> None:
        """No session running: what the studio's loaded engine says (or why it did not load)."""
        self._show_models(health)
        self.fps_label.setText("–")
        self.latency_label.setText("–")
        self.dropped_label.setText("–")
        # The engine's own counters mix in face checks and jobs; after a session, its totals stay
        # (they would seem to fall back or jump at Stop otherwise).
        if self.last_session is not None:
            self.frames_label.setText(f"{self.last_session[0]} / {self.last_session[1]} (last session)")
        else:
            self.frames_label.setText("–")
        failed = state == "failed"
        name = engine_name or "engine"
        ready = f"{name} ready · {provider_summary(health)}" if health is not None else f"{name} ready"
        self.summary.setText({"loading": f"loading: {message}", "failed": "the engine could not load",
                              "ready": ready}.get(state, "engine not loaded"))
        self.error_label.setText(message if failed else (f"last error: {health.last_error}"
                                                         if health and health.last_error else ""))
        self._set_level(overall_level(health, None, engine_failed=failed) if state != "loading" else "idle")

    # ---- drawing ---------------------------------------------------------------------------------
    def _show_models(self, health: EngineHealth | None) -> None:
        rows = [ModelRow.of(m) for m in health.models] if health is not None else []
        self.models.setRowCount(len(rows))
        # As tall as its rows: the panel has no room for an empty table area.
        height = self.models.horizontalHeader().height() + 22 * max(1, len(rows)) + 4
        self.models.setFixedHeight(height)
        for r, row in enumerate(rows):
            cells = [f"{row.role} · {row.model_id}", row.loaded, row.provider, row.detail]
            for c, text in enumerate(cells):
                item = self.models.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    self.models.setItem(r, c, item)
                item.setText(text)
                item.setToolTip(text)
            status = self.models.item(r, 3)
            status.setForeground(level_colour(row.level))

    def _show_legend(self, stages_ms: dict[str, float]) -> None:
        # Non-breaking inside an entry, so a line never ends between a colour and its stage.
        parts = [f'<span style="color:{self.plot.colour(stage).name()}">■</span>&nbsp;'
                 f'{html.escape(stage).replace(" ", "&nbsp;")}&nbsp;{ms:.1f}'
                 for stage, ms in stages_ms.items() if stage in self.plot.history]
        self.legend.setText(" &nbsp; ".join(parts))

    def _set_level(self, level: str) -> None:
        self.level = level
        self.badge.setText(level.upper())
        colour = LEVEL_COLOURS.get(level, LEVEL_COLOURS["idle"])
        self.badge.setStyleSheet(
            f"QLabel#healthBadge {{ background: {colour}; color: white; font-weight: bold; padding: 4px;"
            " border-radius: 4px; }")
