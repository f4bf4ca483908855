"""The People tab: the people found in the photos, each with a face cropped from a photo; name them in
place (double-click or F2), merge a selection or drop a person on another, show a person's photos, take
a wrong face out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QMimeData, QSize, Qt
from PySide6.QtGui import QDragMoveEvent, QDropEvent, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QStyledItemDelegate,
    QVBoxLayout,
)

from . import faces_facade
from .dialogs.export_dialog import ExportSource
from .facade import Photo
from .side_panel import PanelBase, SidePanel
from .thumbnails import pil_to_qimage
from .workers import Jobs

FACE_PX = 72
PERSON_ROLE = Qt.ItemDataRole.UserRole
NAME_ROLE = Qt.ItemDataRole.UserRole + 1
FACE_ROLE = Qt.ItemDataRole.UserRole + 2
PEOPLE_MIME = "application/x-clipgallery-people"  # person ids, comma-separated


class _PeopleList(QListWidget):
    """The people, as faces. Dragging people onto a person merges them into that person."""

    def __init__(self, panel: PeoplePanel):
        super().__init__()
        self.panel = panel

    def mimeTypes(self) -> list[str]:
        return [PEOPLE_MIME]

    def mimeData(self, items) -> QMimeData:
        data = QMimeData()
        data.setData(PEOPLE_MIME, QByteArray(",".join(str(i.data(PERSON_ROLE)) for i in items).encode()))
        return data

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction  # never Move: the view must not remove the dragged items itself

    def drop_target(self, event: QDragMoveEvent | QDropEvent) -> tuple[int, list[int]] | None:
        """(person dropped on, people dropped) when the event carries people onto another person."""
        if not event.mimeData().hasFormat(PEOPLE_MIME):
            return None
        item = self.itemAt(event.position().toPoint())
        if item is None:
            return None
        target = item.data(PERSON_ROLE)
        raw = bytes(event.mimeData().data(PEOPLE_MIME).data()).decode("ascii", "replace")
        dropped = [int(x) for x in raw.split(",") if x.strip().isdigit() and int(x) != target]
        return (target, dropped) if dropped else None

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(PEOPLE_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        super().dragMoveEvent(event)  # auto-scroll and the drop indicator
        if self.drop_target(event) is not None:
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        target = self.drop_target(event)
        if target is None:
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self.panel.merge_into(*target)


class _NameDelegate(QStyledItemDelegate):
    """Edits only the person's name (the item shows the name and a count); a commit renames."""

    def __init__(self, panel: PeoplePanel):
        super().__init__(panel.list)
        self.panel = panel

    def createEditor(self, parent, option, index):
        editor = QLineEdit(parent)
        editor.setPlaceholderText("Name")
        return editor

    def setEditorData(self, editor, index) -> None:
        editor.setText(index.data(NAME_ROLE) or "")
        editor.selectAll()

    def setModelData(self, editor, model, index) -> None:
        name = editor.text().strip()
        if name != (index.data(NAME_ROLE) or ""):
            self.panel.rename(index.data(PERSON_ROLE), name)


class FaceIcons:
    """Face thumbnails cropped from the photos in a worker thread, kept by face id. Items are found
    again by their face id when a crop arrives (the lists may have been refilled meanwhile)."""

    def __init__(self, panel: PeoplePanel):
        self.panel = panel
        self.jobs = Jobs(max_threads=1, parent=panel)
        self.pixmaps: dict[int, QPixmap] = {}
        self.waiting: set[int] = set()
        self.px = int(FACE_PX * panel.devicePixelRatioF())

    def attach(self, item: QListWidgetItem, face: Any) -> None:
        if face is None:
            return
        item.setData(FACE_ROLE, face.id)
        pm = self.pixmaps.get(face.id)
        if pm is not None:
            item.setIcon(QIcon(pm))
        elif face.id not in self.waiting:
            self.waiting.add(face.id)
            self.jobs.submit(_crop, face.path, face.box, self.px,
                             on_done=lambda img, fid=face.id: self._ready(fid, img),
                             on_error=lambda _m, fid=face.id: self.waiting.discard(fid))

    def _ready(self, face_id: int, image: Any) -> None:
        self.waiting.discard(face_id)
        pm = self.pixmaps[face_id] = QPixmap.fromImage(image)
        for widget in (self.panel.list, self.panel.faces):
            for i in range(widget.count()):
                item = widget.item(i)
                if item.data(FACE_ROLE) == face_id:
                    item.setIcon(QIcon(pm))

    def clear(self) -> None:
        self.jobs.forget()
        self.waiting.clear()
        self.pixmaps.clear()


def _crop(path: Path, box: tuple[int, int, int, int], px: int) -> Any:
    return pil_to_qimage(faces_facade.face_crop(path, box, px))


class PeoplePanel(PanelBase):
    def __init__(self, side: SidePanel):
        super().__init__(side)
        self.info = QLabel(wordWrap=True)
        self.info.setStyleSheet("color: gray;")
        self.turn_on = QPushButton("Find faces in this folder")
        self.turn_on.setToolTip("Finds the faces in every photo and groups them into people. Faces are kept "
                                "only in this folder's library; turning faces off (Settings) deletes them all.")
        self.turn_on.clicked.connect(lambda: self.ctx.set_faces(True))
        self.everyone = QCheckBox("Everyone")
        self.everyone.setToolTip("Also people seen in one photo only, and hidden people")
        self.everyone.toggled.connect(lambda _: self.reload())
        self.merge_button = QPushButton("Merge")
        self.merge_button.setToolTip("The selected people are one person: merge them (the named one keeps its "
                                     "name). Or drag a person onto another.")
        self.merge_button.clicked.connect(self.merge_selected)
        self.merge_button.setEnabled(False)
        self.regroup_button = QPushButton("Regroup")
        self.regroup_button.setToolTip("Group all faces again from scratch; named, merged and hidden people "
                                       "and faces you took out stay as they are")
        self.regroup_button.clicked.connect(self.regroup)
        self.list = _PeopleList(self)
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(FACE_PX, FACE_PX))
        self.list.setGridSize(QSize(FACE_PX + 36, FACE_PX + 44))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)  # (turns dragging off: on again below)
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.list.setDragEnabled(True)
        self.list.setAcceptDrops(True)
        self.list.viewport().setAcceptDrops(True)
        self.list.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.list.setDropIndicatorShown(True)
        self.list.setWordWrap(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.list.setItemDelegate(_NameDelegate(self))
        self.list.itemClicked.connect(lambda item: self.show_person(item.data(PERSON_ROLE)))
        self.list.itemSelectionChanged.connect(self._selection_changed)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._person_menu)
        self.faces_label = QLabel(wordWrap=True)
        self.faces = QListWidget()
        self.faces.setViewMode(QListView.ViewMode.IconMode)
        self.faces.setIconSize(QSize(FACE_PX * 2 // 3, FACE_PX * 2 // 3))
        self.faces.setMovement(QListView.Movement.Static)
        self.faces.setResizeMode(QListView.ResizeMode.Adjust)
        self.faces.setMaximumHeight(FACE_PX * 2)
        self.faces.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.faces.customContextMenuRequested.connect(self._face_menu)
        self.faces.setToolTip("Right-click a face that is not this person")
        self.icons = FaceIcons(self)
        top = QHBoxLayout()
        top.addWidget(self.everyone)
        top.addStretch(1)
        top.addWidget(self.regroup_button)
        top.addWidget(self.merge_button)
        col = QVBoxLayout(self)
        col.addWidget(self.info)
        col.addWidget(self.turn_on)
        col.addLayout(top)
        col.addWidget(self.task)
        col.addWidget(self.list, 1)
        col.addWidget(self.faces_label)
        col.addWidget(self.faces)
        self.people: list[Any] = []
        self.enabled = False
        self.merge_question: QMessageBox | None = None  # the open "merge two names?" question
        self._show_state(None)

    # -- loading ----------------------------------------------------------------------------------

    def folder_opened(self, lib: Any) -> None:
        super().folder_opened(lib)
        self.reload()

    def folder_closed(self) -> None:
        super().folder_closed()
        self.icons.clear()
        self.people = []
        self._show_state(None)

    def library_changed(self) -> None:
        self.reload()

    def reload(self) -> None:
        lib = self.library
        if lib is None:
            return
        everyone = self.everyone.isChecked()

        def work():
            on = faces_facade.enabled(lib)
            return on, faces_facade.people(lib, everyone) if on else []

        self._submit(work, lambda result: self._show(*result), lib)

    def _submit(self, fn, on_done, lib=None) -> None:
        lib = lib or self.library

        def done(result):
            if lib is self.library:
                on_done(result)
            self.task_finished.emit("people")

        def failed(message: str):
            if lib is self.library:
                self.show_error(message)
            self.task_finished.emit("people")

        self.ctx.jobs.submit(fn, on_done=done, on_error=failed)

    def _show_state(self, enabled: bool | None) -> None:
        self.enabled = bool(enabled)
        self.turn_on.setVisible(enabled is False)
        self.everyone.setEnabled(bool(enabled))
        self.regroup_button.setEnabled(bool(enabled))
        if enabled is None:
            self.info.setText("Open a folder to see the people in it.")
        elif not enabled and not faces_facade.available():
            self.turn_on.setVisible(False)
            hint = faces_facade.install_hint()
            self.info.setText(hint[:1].upper() + hint[1:] + ".")
        elif not enabled:
            self.info.setText("Faces are off for this folder. Turn them on to group the photos by the people "
                              "in them. Faces are biometric data: they stay in this folder's library on this "
                              "computer, and turning them off deletes them all.")

    def _show(self, enabled: bool, people: list[Any]) -> None:
        self._show_state(enabled)
        current = self.current_person_id()
        self.people = people
        self.list.clear()
        self.faces.clear()
        self.faces_label.clear()
        if not enabled:
            return
        named = sum(1 for p in people if p.name)
        self.info.setText(f"{len(people)} people ({named} named). Click one to show their photos; "
                          "double-click to name; drag a person onto another (or select several and Merge) "
                          "when they are one person."
                          if people else "No people yet: faces are found after indexing (see the status bar).")
        for p in people:
            item = QListWidgetItem(self._label(p))
            item.setData(PERSON_ROLE, p.id)
            item.setData(NAME_ROLE, p.name or "")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setToolTip(f"{p.name or 'Unnamed'}: {len(p.paths)} photos, {len(p.faces)} faces"
                            + (" (hidden)" if p.hidden else ""))
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            self.list.addItem(item)
            self.icons.attach(item, p.cover)
            if p.id == current:
                item.setSelected(True)
                self.list.setCurrentItem(item)
                self._show_faces(p)

    @staticmethod
    def _label(p: Any) -> str:
        return f"{p.name or 'Unnamed'}\n{len(p.paths)} photos" + (" · hidden" if p.hidden else "")

    # -- people -----------------------------------------------------------------------------------

    def person(self, person_id: int) -> Any:
        return next((p for p in self.people if p.id == person_id), None)

    def current_person_id(self) -> int | None:
        item = self.list.currentItem()
        return item.data(PERSON_ROLE) if item is not None else None

    def show_person(self, person_id: int) -> None:
        p = self.person(person_id)
        if p is None:
            return
        self._show_faces(p)
        self.ctx.show_photos(frozenset(p.file_ids), f"Person: {p.name or 'Unnamed'}")

    def _show_faces(self, p: Any) -> None:
        self.faces.clear()
        self.faces_label.setText(f"Faces of {p.name or 'this person'} (right-click one that is not them):")
        for f in p.faces:
            item = QListWidgetItem()
            item.setData(PERSON_ROLE, f.id)
            item.setToolTip(f"{f.path.name} · quality {f.quality:.2f}")
            self.faces.addItem(item)
            self.icons.attach(item, f)

    def _selection_changed(self) -> None:
        self.merge_button.setEnabled(len(self.list.selectedItems()) >= 2)

    def rename(self, person_id: int, name: str) -> None:
        lib = self.library
        self._submit(lambda: faces_facade.rename(lib, person_id, name), lambda _: self._changed(), lib)

    def merge_selected(self) -> None:
        ids = [item.data(PERSON_ROLE) for item in self.list.selectedItems()]
        if len(ids) < 2:
            return
        lib = self.library
        people = [p for p in map(self.person, ids) if p is not None]
        keep = next((p for p in people if p.name), people[0] if people else None)
        self._confirm_merge(lib, keep, people, lambda: self._submit(
            lambda: faces_facade.merge(lib, ids), lambda kept: self._changed(kept), lib))

    def merge_into(self, target: int, others: list[int]) -> None:
        """People dropped on a person: they become that person (asked first when that drops a name)."""
        lib = self.library
        if lib is None or not others:
            return
        people = [p for p in map(self.person, [target, *others]) if p is not None]
        self._confirm_merge(lib, self.person(target), people, lambda: self._submit(
            lambda: faces_facade.merge_into(lib, target, others), lambda kept: self._changed(kept), lib))

    def _confirm_merge(self, lib: Any, keep: Any, people: list[Any], merge: Any) -> None:
        """Merge at once, unless the people carry different names: then ask (not blocking) whether the
        others' names may go."""
        names = list(dict.fromkeys(p.name for p in people if p.name))
        if len(names) < 2 or keep is None:
            merge()
            return
        kept = keep.name or names[0]
        dropped = "”, “".join(n for n in names if n != kept)
        box = QMessageBox(QMessageBox.Icon.Question, "Merge people",
                          f"Merge “{dropped}” into “{kept}”? They become one person, “{kept}”, and the "
                          f"name “{dropped}” is dropped.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(_result: int) -> None:
            self.merge_question = None
            clicked = box.clickedButton()
            if (clicked is not None and box.standardButton(clicked) == QMessageBox.StandardButton.Yes
                    and self.library is lib):
                merge()

        box.finished.connect(answered)
        self.merge_question = box
        box.open()

    def not_this_person(self, face_id: int) -> None:
        lib = self.library
        self._submit(lambda: faces_facade.not_this_person(lib, face_id), lambda _: self._changed(), lib)

    def hide(self, person_id: int, hidden: bool = True) -> None:
        lib = self.library
        self._submit(lambda: faces_facade.hide(lib, person_id, hidden), lambda _: self._changed(), lib)

    def regroup(self) -> None:
        lib = self.library
        self._submit(lambda: faces_facade.recluster(lib), lambda _: self._changed(), lib)

    def _changed(self, select: int | None = None) -> None:
        self.reload()
        self.ctx.refresh()

    def _person_menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        p = self.person(item.data(PERSON_ROLE))
        if p is None:
            return
        menu = QMenu(self)
        menu.addAction("Show photos", lambda: self.show_person(p.id))
        menu.addAction("Name…", lambda: self.list.editItem(item))
        menu.addAction("Show again" if p.hidden else "Hide", lambda: self.hide(p.id, not p.hidden))
        menu.addAction(f"Export {len(p.paths)} photos…", lambda: self.ctx.export(f"person:{p.id}"))
        if len(self.list.selectedItems()) >= 2:
            menu.addAction("Merge selected", self.merge_selected)
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def _face_menu(self, pos) -> None:
        item = self.faces.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self)
        menu.addAction("Not this person", lambda: self.not_this_person(item.data(PERSON_ROLE)))
        menu.exec(self.faces.viewport().mapToGlobal(pos))

    def export_sources(self) -> list[ExportSource]:
        """Every person shown, each as one folder named after them."""
        facade = self.ctx.facade
        return [ExportSource(f"person:{p.id}", f"Person “{p.name or 'Unnamed'}” ({len(p.paths):,} photos)",
                             lambda lib, spec, n=p.name or f"person {p.id}", ps=p.paths: facade.export_photos(
                                 [Photo(str(x), None, None) for x in ps], n))
                for p in self.people]
