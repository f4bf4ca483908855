"""The Albums tab: albums with counts (create, rename, delete, click to show), and the marks a
person sets on the selection: stars, favourites, albums and hand-made tags (grid menu and keys)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from .dialogs.export_dialog import ExportSource
from .facade import Photo
from .side_panel import PanelBase, SidePanel

STAR = "\u2605"


class AlbumsPanel(PanelBase):
    def __init__(self, side: SidePanel):
        super().__init__(side)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Album", "Photos"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, self.tree.header().ResizeMode.Stretch)
        self.tree.itemClicked.connect(lambda item, _: self.show_album(item.data(0, Qt.ItemDataRole.UserRole)))
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._tree_menu)
        self.new_button = QPushButton("New album…")
        self.new_button.clicked.connect(self.ask_create)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(lambda: self.ask_rename(self.current_album()))
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the album; its photos stay where they are")
        self.delete_button.clicked.connect(lambda: self.ask_delete(self.current_album()))
        self.empty = QLabel("No albums yet. Press “New album…”, or select photos and choose “Add to album” "
                            "from their menu. Rate the selected photos with the keys 0-5; “.” makes "
                            "them favourites.", wordWrap=True)
        self.empty.setStyleSheet("color: gray;")
        row = QHBoxLayout()
        row.addWidget(self.new_button)
        row.addWidget(self.rename_button)
        row.addWidget(self.delete_button)
        col = QVBoxLayout(self)
        col.addLayout(row)
        col.addWidget(self.task)
        col.addWidget(self.tree, 1)
        col.addWidget(self.empty)
        self.albums: list[tuple[str, int]] = []
        self.marks: dict[int, tuple[int, bool]] = {}
        self.shown_album: str | None = None
        self.tree.currentItemChanged.connect(lambda *_: self._enable())
        self._enable()

    # -- folder -----------------------------------------------------------------------------------

    def folder_opened(self, lib: Any) -> None:
        super().folder_opened(lib)
        self.reload()

    def folder_closed(self) -> None:
        super().folder_closed()
        self.shown_album = None
        self._show(None)

    def library_changed(self) -> None:
        self.reload()

    def reload(self) -> None:
        self.run("albums", "", lambda lib, spec: self.ctx.facade.organized(lib), on_done=self._show,
                 long=False, quiet=True)

    def _show(self, organized: Any) -> None:
        self.albums = organized.albums if organized is not None else []
        self.marks = organized.marks if organized is not None else {}
        current = self.current_album()
        self.tree.clear()
        for name, count in self.albums:
            item = QTreeWidgetItem([name, f"{count:,}"])
            item.setData(0, Qt.ItemDataRole.UserRole, name)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setToolTip(0, f"Click to show the {count:,} photos of “{name}”")
            self.tree.addTopLevelItem(item)
            if name == current:
                self.tree.setCurrentItem(item)
        self.tree.resizeColumnToContents(1)
        self.empty.setVisible(not self.albums)
        self._enable()
        if organized is not None and self.ctx.organized is not None:
            self.ctx.organized(organized)

    def _enable(self) -> None:
        has = self.current_album() is not None
        self.rename_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    def current_album(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    # -- albums -----------------------------------------------------------------------------------

    def _change(self, fn: Callable[..., Any], done: str, then: Callable[[Any], None] | None = None) -> None:
        """Run a quick write in the background, then say so and show the new state."""
        def finished(result: Any) -> None:
            if done:
                self.ctx.notify(done if "{}" not in done else done.format(result), 6000)
            if then is not None:
                then(result)
            self.reload()

        self.run("organize", "", lambda lib, spec: fn(lib), on_done=finished, long=False)

    def show_album(self, name: str | None) -> None:
        """Narrow the gallery to an album's photos."""
        if name is None:
            return
        self.shown_album = name
        self.run("show", "", lambda lib, spec: self.ctx.facade.album_photos(lib, name),
                 on_done=lambda ids: self.ctx.show_photos(ids, f"Album: {name}"), long=False)

    def create_album(self, name: str, photos: list[Photo] | None = None) -> None:
        facade, ids = self.ctx.facade, _ids(photos or [])

        def work(lib: Any) -> int:
            facade.create_album(lib, name)
            return facade.add_to_album(lib, name, ids) if ids else 0

        self._change(work, f"Album “{name.strip()}” created" + (" with {} photos." if ids else "."))

    def rename_album(self, old: str, new: str) -> None:
        self._change(lambda lib: self.ctx.facade.rename_album(lib, old, new), f"Album renamed to “{new.strip()}”.")

    def delete_album(self, name: str) -> None:
        self._change(lambda lib: self.ctx.facade.delete_album(lib, name),
                     f"Album “{name}” deleted; its photos are untouched.")

    def add_to_album(self, name: str, photos: list[Photo]) -> None:
        ids = _ids(photos)
        if ids:
            self._change(lambda lib: self.ctx.facade.add_to_album(lib, name, ids), f"Added {{}} photos to “{name}”.")

    def remove_from_album(self, name: str, photos: list[Photo]) -> None:
        ids = _ids(photos)
        if ids:
            self._change(lambda lib: self.ctx.facade.remove_from_album(lib, name, ids),
                         f"Removed {{}} photos from “{name}”.",
                         then=lambda _: self.show_album(name) if self.shown_album == name else None)

    def ask_create(self, photos: list[Photo] | None = None) -> None:
        name, ok = QInputDialog.getText(self, "New album", "Name of the new album:")
        if ok and name.strip():
            self.create_album(name, photos)

    def ask_rename(self, name: str | None) -> None:
        if name is None:
            return
        new, ok = QInputDialog.getText(self, "Rename album", f"New name of “{name}”:", text=name)
        if ok and new.strip() and new.strip() != name:
            self.rename_album(name, new)

    def ask_delete(self, name: str | None) -> None:
        if name is None:
            return
        answer = QMessageBox.question(self, "Delete album",
                                      f"Delete the album “{name}”? Its photos stay in the folder.")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_album(name)

    def _tree_menu(self, pos: Any) -> None:
        item = self.tree.itemAt(pos)
        if item is None:
            return
        name = item.data(0, Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        menu.addAction("Show", lambda: self.show_album(name))
        menu.addAction("Rename…", lambda: self.ask_rename(name))
        menu.addAction("Delete", lambda: self.ask_delete(name))
        menu.addAction("Export…", lambda: self.ctx.export(f"album:{name}"))
        menu.exec(self.tree.viewport().mapToGlobal(pos))

    # -- stars, favourites, hand-made tags ----------------------------------------------------------

    def rate(self, photos: list[Photo], stars: int) -> None:
        ids = _ids(photos)
        if ids:
            self._change(lambda lib: self.ctx.facade.set_stars(lib, ids, stars),
                         f"{len(ids)} photo{'s' if len(ids) != 1 else ''}: "
                         + (STAR * stars if stars else "rating cleared") + ".")

    def set_favourite(self, photos: list[Photo], on: bool) -> None:
        ids = _ids(photos)
        if ids:
            self._change(lambda lib: self.ctx.facade.set_favourite(lib, ids, on),
                         f"{len(ids)} photo{'s' if len(ids) != 1 else ''} "
                         + ("marked as favourite." if on else "no longer favourite."))

    def toggle_favourite(self, photos: list[Photo]) -> None:
        """Favourite the photos, or, when every one already is, unmark them."""
        ids = _ids(photos)
        self.set_favourite(photos, not all(self.marks.get(i, (0, False))[1] for i in ids))

    def add_tag(self, label: str, photos: list[Photo]) -> None:
        ids = _ids(photos)
        if ids and label.strip():
            self._change(lambda lib: self.ctx.facade.add_tag(lib, label, ids),
                         f"Tagged {len(ids)} photos “{label.strip()}”.", then=lambda _: self._tags_changed())

    def remove_tag(self, label: str, photos: list[Photo]) -> None:
        ids = _ids(photos)
        if ids and label.strip():
            self._change(lambda lib: self.ctx.facade.remove_tag(lib, label, ids),
                         f"“{label.strip()}” taken off {len(ids)} photos.", then=lambda _: self._tags_changed())

    def _tags_changed(self) -> None:
        self.side.tags.reload()

    def ask_tag(self, photos: list[Photo], remove: bool = False) -> None:
        if not photos:
            return
        label, ok = QInputDialog.getText(
            self, "Remove a tag" if remove else "Add a tag",
            f"Tag to take off the {len(photos)} selected photo(s) (hand-made or automatic):" if remove
            else f"Tag for the {len(photos)} selected photo(s):")
        if ok and label.strip():
            (self.remove_tag if remove else self.add_tag)(label, photos)

    def extend_context_menu(self, menu: QMenu, row: int) -> None:
        photos = self.ctx.selected_photos()
        if not _ids(photos):
            return
        menu.addSeparator()
        albums = menu.addMenu("Add to album")
        for name, _ in self.albums:
            albums.addAction(name, lambda n=name: self.add_to_album(n, photos))
        if self.albums:
            albums.addSeparator()
        albums.addAction("New album…", lambda: self.ask_create(photos))
        if self.shown_album is not None:
            menu.addAction(f"Remove from “{self.shown_album}”",
                           lambda n=self.shown_album: self.remove_from_album(n, photos))
        rate = menu.addMenu("Rate")
        for n in range(6):
            rate.addAction(STAR * n if n else "No stars", lambda n=n: self.rate(photos, n)).setShortcut(str(n))
        menu.addAction("Favourite", lambda: self.toggle_favourite(photos)).setShortcut(".")
        menu.addAction("Add a tag…", lambda: self.ask_tag(photos))
        menu.addAction("Remove a tag…", lambda: self.ask_tag(photos, remove=True))

    def export_sources(self) -> list[ExportSource]:
        facade = self.ctx.facade
        return [ExportSource(f"album:{name}", f"Album “{name}” ({n:,} photos)",
                             lambda lib, spec, x=name: facade.export_album(lib, x)) for name, n in self.albums if n]


def _ids(photos: list[Photo]) -> list[int]:
    return [p.file_id for p in photos if p.file_id is not None]
