"""The sources gallery: the faces to swap in.

- Add photos with the dialog or by dropping files (gallery_list); dropping onto a face adds the photos
  to that person (several photos form one identity, averaged by the engine).
- Each photo is checked on a worker with the engine's detector. A photo with several faces opens a
  picker (face_picker); the chosen face is saved as its own photo (face_crops), which the pipeline takes.
- The active identity is the current item, highlighted; keys 1–9 switch (wired by the window).
- The gallery is remembered in the settings.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog, QGridLayout, QInputDialog, QLabel, QListWidgetItem, QMenu, QPushButton, QVBoxLayout, QWidget,
)

from app.paths import user_paths
from engines.imaging import IMAGE_SUFFIXES

from .engine_service import EngineService, EngineState, FoundFace
from .face_crops import save_face_crop
from .face_picker import FacePickerDialog
from .gallery_list import GalleryList, load_thumbnail
from .qt_compat import emit
from .settings import SavedIdentity
from .style import DEGRADED, DOWN
from .tasks import BackgroundTasks

log = logging.getLogger(__name__)

HINT = "Drop photos here · keys 1–9 switch faces"
IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"


@dataclass
class GalleryIdentity:
    """One person in the gallery (mutable: photos are added and checked over time)."""

    name: str
    photos: list[Path]
    problems: dict[Path, str] = field(default_factory=dict)  # photo → why it cannot be used
    checking: set[Path] = field(default_factory=set)

    @property
    def usable_photos(self) -> tuple[Path, ...]:
        return tuple(p for p in self.photos if p not in self.problems)


class SourcesPanel(QWidget):
    identitiesChanged = Signal()  # photos added/removed/checked: the live session gets set_sources
    activeChanged = Signal(int)
    pickerOpened = Signal(object)  # the FacePickerDialog (tests and screenshots drive it)

    def __init__(self, tasks: BackgroundTasks, engine: EngineService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sourcesPanel")
        self._tasks = tasks
        self._engine = engine
        self.identities: list[GalleryIdentity] = []
        self.active = 0
        self._icons: dict[Path, QIcon] = {}
        self._waiting_for_engine: list[tuple[GalleryIdentity, Path]] = []
        self.crops_dir = user_paths().data / "sources"
        self.picker: FacePickerDialog | None = None
        self._picks: list[tuple[GalleryIdentity, Path, list[FoundFace]]] = []  # pickers still to show
        self._digests: dict[tuple[Path, int, int], str] = {}

        self.list = GalleryList(self)
        self.list.setObjectName("sourcesList")
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.currentRowChanged.connect(self._row_changed)
        self.list.filesDropped.connect(self._dropped)
        self.add_button = QPushButton("Add face…", self)
        self.add_button.setToolTip("Each photo becomes a new source face (drop files here too)")
        self.add_button.clicked.connect(self._add_dialog)
        self.more_button = QPushButton("+ photo", self)
        self.more_button.setToolTip("Add photos of the same person to the active face (or drop them onto it)")
        self.more_button.clicked.connect(self._add_more_dialog)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.clicked.connect(lambda: self.remove(self.active))
        self.hint = QLabel(HINT, self)
        self.hint.setObjectName("sourcesHint")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: palette(mid);")
        # Two rows: the dock stays one thumbnail wide, leaving the room to the live view.
        buttons = QGridLayout()
        buttons.addWidget(self.add_button, 0, 0)
        buttons.addWidget(self.more_button, 0, 1)
        buttons.addWidget(self.remove_button, 1, 0, 1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.hint)
        engine.stateChanged.connect(self._engine_state)
        self._refresh()

    # ---- what the live session and the jobs use ---------------------------------------------------
    def groups(self) -> tuple[tuple[Path, ...], ...]:
        """One tuple of usable photos per identity (identities with none are left out)."""
        return tuple(g for g in (i.usable_photos for i in self.identities) if g)

    def active_group_index(self) -> int:
        """The active identity's index among `groups()` (unusable identities are skipped there)."""
        usable = [i for i, identity in enumerate(self.identities) if identity.usable_photos]
        return usable.index(self.active) if self.active in usable else 0

    def group_names(self) -> tuple[str, ...]:
        """The names of the identities in `groups()`, in the same order (the remote-control API uses them)."""
        return tuple(i.name for i in self.identities if i.usable_photos)

    def gallery_index(self, group: int) -> int | None:
        """The gallery row of `groups()[group]`; None when there is no such group."""
        usable = [i for i, identity in enumerate(self.identities) if identity.usable_photos]
        return usable[group] if 0 <= group < len(usable) else None

    def active_photos(self) -> tuple[Path, ...]:
        if 0 <= self.active < len(self.identities):
            return self.identities[self.active].usable_photos
        return ()

    @property
    def busy(self) -> bool:
        """Photos still being checked (or waiting for the engine)."""
        return any(i.checking for i in self.identities)

    # ---- persistence ------------------------------------------------------------------------------
    def restore(self, saved: list[SavedIdentity], active: int) -> None:
        self.identities = [GalleryIdentity(s.name, [p for p in s.photos]) for s in saved]
        for identity in self.identities:
            for photo in identity.photos:
                if not photo.is_file():
                    identity.problems[photo] = "file not found"
        self.active = min(max(0, active), max(0, len(self.identities) - 1))
        self._refresh()

    def saved(self) -> tuple[list[SavedIdentity], int]:
        return [SavedIdentity(i.name, tuple(i.photos)) for i in self.identities], self.active

    # ---- adding -----------------------------------------------------------------------------------
    def _add_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add source faces (one face per photo)", "", IMAGE_FILTER)
        if files:
            self.add_photos([Path(f) for f in files])

    def _add_more_dialog(self) -> None:
        if not self.identities:
            self._add_dialog()
            return
        name = self.identities[self.active].name
        files, _ = QFileDialog.getOpenFileNames(self, f"More photos of {name}", "", IMAGE_FILTER)
        if files:
            self.add_photos([Path(f) for f in files], into=self.active)

    def _dropped(self, files: list[Path], row: int) -> None:
        self.add_photos(files, into=row if row >= 0 else None)

    def add_photos(self, photos: list[Path], into: int | None = None) -> None:
        """New identities (one per photo), or more photos of identity `into`. A photo already in the
        gallery (the same bytes, under any name) is not added twice; the hint says where it is."""
        repeats: list[str] = []
        for photo in photos:
            photo = Path(photo).expanduser().resolve()
            holder = self._holder_of(photo)
            if holder is not None:
                repeats.append(f"{photo.name} is already in the gallery as {holder}")
                continue
            if into is not None and 0 <= into < len(self.identities):
                identity = self.identities[into]
                identity.photos.append(photo)
            else:
                identity = GalleryIdentity(photo.stem, [photo])
                self.identities.append(identity)
                if len(self.identities) == 1:
                    self.active = 0
            self._check(identity, photo)
        self._show_hint("; ".join(repeats))
        self._refresh()
        emit(self.identitiesChanged)

    def _holder_of(self, photo: Path) -> str | None:
        """The gallery name of the identity that already has this photo's content, if any."""
        digest = self._digest(photo)
        for index, identity in enumerate(self.identities):
            for known in identity.photos:
                if known == photo or (digest is not None and self._digest(known) == digest):
                    return f"{index + 1} · {identity.name}" if index < 9 else identity.name
        return None

    def _digest(self, photo: Path) -> str | None:
        """sha256 of the file, remembered per path and modification (photos are small)."""
        try:
            stat = photo.stat()
        except OSError:
            return None
        key = (photo, stat.st_size, stat.st_mtime_ns)
        digest = self._digests.get(key)
        if digest is None:
            try:
                with photo.open("rb") as handle:
                    digest = hashlib.file_digest(handle, "sha256").hexdigest()
            except OSError:
                return None
            self._digests[key] = digest
        return digest

    def _show_hint(self, notice: str) -> None:
        """A notice about the last add (until the next one), else the usual hint."""
        self.hint.setText(notice or HINT)
        self.hint.setStyleSheet(f"color: {DEGRADED};" if notice else "color: palette(mid);")

    def remove(self, index: int) -> None:
        if not 0 <= index < len(self.identities):
            return
        del self.identities[index]
        self.active = min(self.active, max(0, len(self.identities) - 1))
        self._refresh()
        emit(self.identitiesChanged)
        emit(self.activeChanged, self.active)

    # ---- checking photos on the engine ----------------------------------------------------------
    def _check(self, identity: GalleryIdentity, photo: Path) -> None:
        identity.checking.add(photo)
        if self._engine.state is not EngineState.READY:
            self._waiting_for_engine.append((identity, photo))
            return
        self._tasks.submit(lambda: self._engine.find_faces(photo),
                           on_done=lambda faces: self._checked(identity, photo, faces),
                           on_error=lambda error: self._check_failed(identity, photo, error))

    def _engine_state(self, state: str, _message: str) -> None:
        self._refresh()
        if state == EngineState.READY.value:
            waiting, self._waiting_for_engine = self._waiting_for_engine, []
            for identity, photo in waiting:
                self._check(identity, photo)

    def _checked(self, identity: GalleryIdentity, photo: Path, faces: list[FoundFace]) -> None:
        if identity not in self.identities or photo not in identity.photos:
            return  # removed while it was being checked
        if not faces:
            identity.checking.discard(photo)
            identity.problems[photo] = "no face found"
        elif len(faces) == 1:
            identity.checking.discard(photo)
            identity.problems.pop(photo, None)
        else:
            self._picks.append((identity, photo, faces))
            self._next_picker()
            return
        self._refresh()
        emit(self.identitiesChanged)

    def _check_failed(self, identity: GalleryIdentity, photo: Path, error: BaseException) -> None:
        identity.checking.discard(photo)
        text = error.one_line() if hasattr(error, "one_line") else str(error)
        identity.problems[photo] = text
        self._refresh()
        emit(self.identitiesChanged)

    def _next_picker(self) -> None:
        if self.picker is not None or not self._picks:
            return
        identity, photo, faces = self._picks.pop(0)
        dialog = FacePickerDialog(photo, faces, self)
        self.picker = dialog
        dialog.finished.connect(lambda _result: self._picked(dialog, identity, photo, faces))
        dialog.open()  # window-modal but not blocking: the event loop (and the preview) go on
        emit(self.pickerOpened, dialog)

    def _picked(self, dialog: FacePickerDialog, identity: GalleryIdentity, photo: Path,
                faces: list[FoundFace]) -> None:
        self.picker = None
        dialog.deleteLater()
        if dialog.chosen is None:
            identity.checking.discard(photo)
            identity.photos.remove(photo)
            if not identity.photos:
                self.identities.remove(identity)
                self.active = min(self.active, max(0, len(self.identities) - 1))
            self._refresh()
            emit(self.identitiesChanged)
        else:
            index = dialog.chosen
            boxes = [f.box for f in faces]
            self._tasks.submit(lambda: save_face_crop(photo, boxes, index, self.crops_dir),
                               on_done=lambda crop: self._cropped(identity, photo, crop, index),
                               on_error=lambda error: self._check_failed(identity, photo, error))
        self._next_picker()

    def _cropped(self, identity: GalleryIdentity, photo: Path, crop: Path, index: int) -> None:
        identity.checking.discard(photo)
        if identity not in self.identities or photo not in identity.photos:
            return
        identity.photos[identity.photos.index(photo)] = crop
        if identity.name == photo.stem:
            identity.name = f"{photo.stem} #{index + 1}"
        self._refresh()
        emit(self.identitiesChanged)

    # ---- active -----------------------------------------------------------------------------------
    def set_active(self, index: int) -> None:
        if 0 <= index < len(self.identities) and index != self.active:
            self.active = index
            self._refresh()
            emit(self.activeChanged, index)

    def _row_changed(self, row: int) -> None:
        if row >= 0:
            self.set_active(row)

    # ---- drawing ----------------------------------------------------------------------------------
    def _icon(self, photo: Path) -> QIcon:
        icon = self._icons.get(photo)
        if icon is None:
            icon = self._icons[photo] = QIcon()  # placeholder until the thumbnail is read
            if photo.is_file():
                self._tasks.submit(lambda: load_thumbnail(photo), on_done=lambda image: self._thumb(photo, image))
        return icon

    def _thumb(self, photo: Path, image: QImage) -> None:
        self._icons[photo] = QIcon(QPixmap.fromImage(image))
        self._refresh()

    def _refresh(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for i, identity in enumerate(self.identities):
            count = len(identity.photos)
            label = f"{i + 1} · {identity.name}" if i < 9 else identity.name
            if count > 1:
                label += f"\n{count} photos"
            if identity.checking:
                state = self._engine.state
                label += {EngineState.READY: "\nchecking…",
                          EngineState.FAILED: "\n⚠ engine down"}.get(state, "\nwaiting for the models…")
            elif identity.problems:
                label += f"\n⚠ {next(iter(identity.problems.values()))}"
            item = QListWidgetItem(self._icon(identity.photos[0]) if identity.photos else QIcon(), label)
            tips = [f"{p}{' — ' + identity.problems[p] if p in identity.problems else ''}" for p in identity.photos]
            item.setToolTip("\n".join(tips))
            if i == self.active:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
                item.setBackground(QColor(46, 157, 87, 90))
            if identity.problems and not identity.usable_photos:
                item.setForeground(QColor(DOWN))
            self.list.addItem(item)
        if self.identities:
            self.list.setCurrentRow(self.active)
        self.list.blockSignals(False)
        self.remove_button.setEnabled(bool(self.identities))
        self.more_button.setEnabled(bool(self.identities))

    def _context_menu(self, point) -> None:  # type: ignore[no-untyped-def]
        item = self.list.itemAt(point)
        if item is None:
            return
        row = self.list.row(item)
        menu = QMenu(self)
        menu.addAction("Use this face", lambda: self.set_active(row))
        menu.addAction("Add photos of this person…", lambda: (self.set_active(row), self._add_more_dialog()))
        menu.addAction("Rename…", lambda: self._rename(row))
        menu.addAction("Remove", lambda: self.remove(row))
        menu.popup(self.list.viewport().mapToGlobal(point))

    def _rename(self, row: int) -> None:
        identity = self.identities[row]
        name, ok = QInputDialog.getText(self, "Rename", "Name:", text=identity.name)
        if ok and name.strip():
            identity.name = name.strip()
            self._refresh()
