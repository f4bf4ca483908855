"""The Folders tab: the photo folder's subfolders as a tree with photo counts; a click shows that subtree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyle, QTreeWidget, QTreeWidgetItem, QVBoxLayout

from .side_panel import PanelBase

if TYPE_CHECKING:
    from .side_panel import SidePanel

RelRole = Qt.ItemDataRole.UserRole + 1  # the folder's relpath ("" for all photos)


class FoldersPanel(PanelBase):
    """Reads the window's listing (what browsing shows, indexed or not) through the panel context."""

    def __init__(self, side: SidePanel):
        super().__init__(side)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Folder", "Photos"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.itemClicked.connect(self._clicked)
        self.counts: dict[str, int] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tree)

    def folder_opened(self, lib: Any) -> None:
        super().folder_opened(lib)
        self.reload()

    def folder_closed(self) -> None:
        super().folder_closed()
        self.counts = {}
        self.tree.clear()

    def library_changed(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Count the photos per folder off the UI thread, then rebuild the tree."""
        lib = self.library
        listing = self.ctx.listing()
        if lib is None or listing is None:
            return
        # A library's listing is counted by SQLite in the worker: a million photos are never
        # walked row by row here (that took 11 s of the UI thread at a million).
        self.ctx.jobs.submit(self.ctx.facade.folder_counts, lib, listing.photos,
                             on_done=lambda counts: self._show(lib, counts))

    def _show(self, lib: Any, counts: dict[str, int]) -> None:
        if lib is not self.library or counts == self.counts:
            return
        self.counts = counts
        selected = self.current()
        self.tree.clear()
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon)
        top = QTreeWidgetItem(["All photos", f"{counts.get('', 0):,}"])
        top.setData(0, RelRole, "")
        top.setIcon(0, icon)
        self.tree.addTopLevelItem(top)
        items = {"": top}
        for rel in sorted((r for r in counts if r), key=lambda r: r.lower().split("/")):
            parent = items[rel.rsplit("/", 1)[0] if "/" in rel else ""]
            item = QTreeWidgetItem(parent, [rel.rsplit("/", 1)[-1], f"{counts[rel]:,}"])
            item.setData(0, RelRole, rel)
            item.setIcon(0, icon)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
            items[rel] = item
        top.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
        self.tree.expandToDepth(1)
        self.tree.resizeColumnToContents(0)
        self.select(selected)

    def current(self) -> str:
        item = self.tree.currentItem()
        return item.data(0, RelRole) if item is not None else ""

    def select(self, rel: str) -> None:
        """Show `rel` as the chosen folder (the search bar's folder filter changed), without filtering again."""
        for item in self.tree.findItems("*", Qt.MatchFlag.MatchWildcard | Qt.MatchFlag.MatchRecursive):
            if item.data(0, RelRole) == (rel or ""):
                self.tree.setCurrentItem(item)
                return

    def _clicked(self, item: QTreeWidgetItem, column: int) -> None:
        self.ctx.show_folder(item.data(0, RelRole) or "")
