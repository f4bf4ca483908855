"""The Groups tab: group the photos (k chosen or automatic), list groups with name, count and cover."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from .dialogs.export_dialog import ExportSource
from .side_panel import PanelBase, SidePanel
from .thumbnails import ThumbnailLoader

COVER_PX = 56


class CoverIcons:
    """Small cover thumbnails for list items, from the same disk cache as the gallery."""

    def __init__(self, panel: PanelBase, widget: QListWidget):
        self.loader = ThumbnailLoader(panel.ctx.facade, threads=1, parent=panel)
        self.loader.set_display_size(int(COVER_PX * panel.devicePixelRatioF()))
        self.loader.ready.connect(self._ready)
        self.widget = widget
        self.items: dict[str, list[QListWidgetItem]] = {}

    def set_cache_dir(self, cache_dir: Path | None) -> None:
        self.loader.set_cache_dir(cache_dir)
        self.items.clear()

    def attach(self, item: QListWidgetItem, path: Path) -> None:
        key = str(path)
        self.items.setdefault(key, []).append(item)
        pm = self.loader.get(key)
        if pm is not None:
            item.setIcon(QIcon(pm))

    def _ready(self, path: str) -> None:
        pm = self.loader.get(path)
        for item in self.items.get(path, []):
            if pm is not None:
                item.setIcon(QIcon(pm))

    def shutdown(self) -> None:
        self.loader.shutdown()


class GroupsPanel(PanelBase):
    def __init__(self, side: SidePanel):
        super().__init__(side)
        self.k = QSpinBox(minimum=0, maximum=200, specialValueText="Automatic")
        self.k.setPrefix("")
        self.k.setToolTip("How many groups; Automatic picks the number that separates the photos best")
        self.run_button = QPushButton("Group photos")
        self.run_button.clicked.connect(lambda: self.run_grouping())
        self.list = QListWidget()
        self.list.setIconSize(QSize(COVER_PX, COVER_PX))
        self.list.setUniformItemSizes(True)
        self.list.setSpacing(2)
        self.list.itemClicked.connect(self._clicked)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._list_menu)
        self.covers = CoverIcons(self, self.list)
        self.info = QLabel(wordWrap=True)
        self.info.setStyleSheet("color: gray;")
        self.export_button = QPushButton("Export all groups…")
        self.export_button.setToolTip("Copy or link every group into its own folder")
        self.export_button.clicked.connect(lambda: side.ctx.export("groups"))
        self.export_button.setEnabled(False)
        self.draw_button = QPushButton("Draw a cover…")
        self.draw_button.setToolTip("Draw the chosen group's name with the model (CLIPDraw) as its cover")
        self.draw_button.clicked.connect(lambda: self.draw_cover())
        self.draw_dialog: Any = None
        row = QHBoxLayout()
        row.addWidget(QLabel("Groups"))
        row.addWidget(self.k, 1)
        row.addWidget(self.run_button)
        col = QVBoxLayout(self)
        col.addLayout(row)
        col.addWidget(self.task)
        col.addWidget(self.info)
        col.addWidget(self.list, 1)
        col.addWidget(self.draw_button)
        col.addWidget(self.export_button)
        self.grouping: Any = None
        self.task_finished.connect(lambda name: name == "group" and self.run_button.setEnabled(True))
        self._show(None)

    def folder_opened(self, lib: Any) -> None:
        super().folder_opened(lib)
        self.covers.set_cache_dir(lib.dir / "thumbnails")
        self.run("load", "", lambda lib, spec: self.ctx.facade.last_grouping(lib, spec),
                 on_done=self._show, long=False, quiet=True)

    def folder_closed(self) -> None:
        super().folder_closed()
        self.covers.set_cache_dir(None)
        self._show(None)

    def run_grouping(self, k: int | None = None) -> None:
        """Group the photos: k groups, or (k None and the spin box on Automatic) the best number."""
        if self.library is None:
            return
        k = k if k is not None else (self.k.value() or None)
        device = self.ctx.settings.device
        self.run_button.setEnabled(False)
        self.run("group", "Grouping…",
                 lambda lib, spec, progress, cancel: self.ctx.facade.group(lib, spec, device, k,
                                                                                   progress, cancel),
                 on_done=self._grouped)

    def _grouped(self, grouping: Any) -> None:
        if grouping.cancelled:
            self.ctx.notify("Grouping cancelled; the previous groups are kept.", 6000)
            return
        self._show(grouping)
        self.ctx.notify(
            f"{len(grouping.groups)} groups made in {grouping.seconds:.1f} s.", 6000)

    def _show(self, grouping: Any) -> None:
        self.grouping = grouping
        self.list.clear()
        self.covers.items.clear()
        if grouping is None or not grouping.groups:
            self.info.setText("No groups yet. Press “Group photos” to sort the photos into groups "
                              "of similar pictures, named automatically.")
            self.export_button.setEnabled(False)
            return
        when = datetime.fromtimestamp(grouping.created_at).strftime("%Y-%m-%d %H:%M") if grouping.created_at else ""
        how = "chosen automatically" if grouping.auto else "as asked"
        self.info.setText(f"{len(grouping.groups)} groups ({how}), made {when}. Click one to show it.")
        for g in grouping.groups:
            item = QListWidgetItem(f"{g.name}\n{len(g.file_ids):,} photos")
            item.setData(Qt.ItemDataRole.UserRole, g.cluster)
            item.setToolTip(f"{g.name}: {len(g.file_ids):,} photos; the cover is the most typical one")
            self.list.addItem(item)
            self.covers.attach(item, g.cover_path)
        self.export_button.setEnabled(True)

    def draw_cover(self, cluster: int | None = None, steps: int = 120, strokes: int = 16) -> Any:
        """Open the drawing dialog on a group's name (the current one by default); the finished drawing
        becomes that group's cover in the list."""
        from .draw_dialog import DrawDialog

        g = self.group(cluster) if cluster is not None else self.current_group()
        if g is None or self.library is None:
            self.ctx.notify("Choose a group first, then draw its cover.", 6000)
            return None
        spec = self.ctx.facade.search_spec(self.library, self.ctx.settings.model)
        dialog = DrawDialog(self.ctx.facade, spec, self.ctx.settings.device, g.name, f"Draw a cover for “{g.name}”",
                            self, steps=steps, strokes=strokes)
        dialog.drawn.connect(lambda text, image, c=g.cluster: self._set_drawn_cover(c, image))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.draw_dialog = dialog
        dialog.show()
        return dialog

    def _set_drawn_cover(self, cluster: int, image: Any) -> None:
        from PySide6.QtGui import QIcon, QPixmap

        from .thumbnails import pil_to_qimage

        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == cluster:
                for items in self.covers.items.values():  # a late thumbnail must not replace the drawing
                    if item in items:
                        items.remove(item)
                item.setIcon(QIcon(QPixmap.fromImage(pil_to_qimage(image))))
                item.setToolTip(item.toolTip().split(";")[0] + "; the cover is drawn by the model from its name")

    def group(self, cluster: int) -> Any:
        return next((g for g in self.grouping.groups if g.cluster == cluster), None) if self.grouping else None

    def _clicked(self, item: QListWidgetItem) -> None:
        self.show_group(item.data(Qt.ItemDataRole.UserRole))

    def show_group(self, cluster: int) -> None:
        g = self.group(cluster)
        if g is not None:
            self.ctx.show_photos(frozenset(g.file_ids), f"Group: {g.name}")

    def current_group(self) -> Any:
        item = self.list.currentItem()
        return self.group(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def export_sources(self) -> list[ExportSource]:
        """All groups (a folder each) and each group alone, from the grouping shown."""
        grouping, facade = self.grouping, self.ctx.facade
        if grouping is None or not grouping.groups:
            return []
        run = grouping.run_id
        total = sum(len(g.file_ids) for g in grouping.groups)
        out = [ExportSource("groups", f"All {len(grouping.groups)} groups ({total:,} photos, a folder each)",
                            lambda lib, spec: facade.export_groups(lib, spec, None, run))]
        for g in grouping.groups:
            out.append(ExportSource(f"group:{g.cluster}", f"Group “{g.name}” ({len(g.file_ids):,} photos)",
                                    lambda lib, spec, c=g.cluster: facade.export_groups(lib, spec, [c], run)))
        return out

    # -- renaming and merging (stored in the grouping itself) ----------------------------------------

    def rename_group(self, cluster: int, name: str) -> None:
        if name.strip():
            self.run("rename", "", lambda lib, spec: self.ctx.facade.rename_group(lib, spec, cluster, name),
                     on_done=self._show, long=False)

    def merge_groups(self, source: int, target: int) -> None:
        """Every photo of group `source` joins group `target`, which keeps its name."""
        self.run("merge", "", lambda lib, spec: self.ctx.facade.merge_groups(lib, spec, source, target),
                 on_done=self._show, long=False)

    def _list_menu(self, pos: Any) -> None:
        item = self.list.itemAt(pos)
        g = self.group(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None
        if g is None:
            return
        menu = QMenu(self)
        menu.addAction("Show", lambda: self.show_group(g.cluster))
        menu.addAction("Rename…", lambda: self.ask_rename(g.cluster))
        into = menu.addMenu("Merge into")
        for other in self.grouping.groups:
            if other.cluster != g.cluster:
                into.addAction(f"{other.name} ({len(other.file_ids):,})",
                               lambda t=other.cluster: self.merge_groups(g.cluster, t))
        into.setEnabled(len(self.grouping.groups) > 1)
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def ask_rename(self, cluster: int) -> None:
        g = self.group(cluster)
        if g is None:
            return
        name, ok = QInputDialog.getText(self, "Rename group", f"New name of “{g.name}”:", text=g.name)
        if ok and name.strip() and name.strip() != g.name:
            self.rename_group(cluster, name)
