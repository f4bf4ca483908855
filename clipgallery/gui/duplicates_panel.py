"""The Duplicates tab: groups of near-identical photos, the suggested keeper of each marked."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QIcon
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from .groups_panel import COVER_PX
from .side_panel import PanelBase, SidePanel
from .thumbnails import ThumbnailLoader

KEEP_MARK = "★ keep"


class DuplicatesPanel(PanelBase):
    def __init__(self, side: SidePanel):
        super().__init__(side)
        self.threshold = QDoubleSpinBox(minimum=0.80, maximum=1.0, singleStep=0.01, decimals=2)
        self.threshold.setValue(side.ctx.facade.default_duplicate_threshold())
        self.threshold.setToolTip("How alike two photos must be (cosine similarity): 0.95 finds resized, "
                                  "recompressed and lightly edited copies; lower finds near-identical shots")
        self.run_button = QPushButton("Find duplicates")
        self.run_button.clicked.connect(lambda: self.find())
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Photo", "Similarity", ""])
        self.tree.setIconSize(QSize(COVER_PX, COVER_PX))
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, self.tree.header().ResizeMode.Stretch)
        self.tree.itemClicked.connect(self._clicked)
        self.info = QLabel("Press “Find duplicates” to look for photos that are copies of each other.",
                           wordWrap=True)
        self.info.setStyleSheet("color: gray;")
        self.loader = ThumbnailLoader(side.ctx.facade, threads=1, parent=self)
        self.loader.set_display_size(int(COVER_PX * self.devicePixelRatioF()))
        self.loader.ready.connect(self._thumb)
        self._items: dict[str, list[QTreeWidgetItem]] = {}
        row = QHBoxLayout()
        row.addWidget(QLabel("Alike at least"))
        row.addWidget(self.threshold)
        row.addStretch(1)
        row.addWidget(self.run_button)
        col = QVBoxLayout(self)
        col.addLayout(row)
        col.addWidget(self.task)
        col.addWidget(self.info)
        col.addWidget(self.tree, 1)
        self.report: Any = None
        self.task_finished.connect(lambda name: name == "duplicates" and self.run_button.setEnabled(True))

    def folder_opened(self, lib: Any) -> None:
        super().folder_opened(lib)
        self.loader.set_cache_dir(lib.dir / "thumbnails")
        self._show(None)

    def folder_closed(self) -> None:
        super().folder_closed()
        self.loader.set_cache_dir(None)
        self._show(None)

    def find(self) -> None:
        if self.library is None:
            return
        threshold = self.threshold.value()
        self.run_button.setEnabled(False)
        self.run("duplicates", "Comparing photos…",
                 lambda lib, spec, progress, cancel: self.ctx.facade.duplicates(lib, spec, threshold,
                                                                                       progress, cancel),
                 on_done=self._show)

    def _show(self, report: Any) -> None:
        self.report = report
        self.tree.clear()
        self._items.clear()
        if report is None:
            self.info.setText("Press “Find duplicates” to look for photos that are copies of each other.")
            return
        if report.cancelled:
            self.info.setText("Cancelled.")
            return
        extra = sum(len(g.members) - 1 for g in report.groups)
        n = len(report.groups)
        self.info.setText(f"{n:,} group{'s' if n != 1 else ''} of near-duplicates; keeping one photo of "
                          f"each would leave out {extra:,} photo{'s' if extra != 1 else ''}." if n else
                          "No near-duplicates at this similarity.")
        bold = QFont(self.tree.font())
        bold.setBold(True)
        for gi, g in enumerate(report.groups):
            top = QTreeWidgetItem([f"{len(g.members)} photos · keep {g.keep.path.name}", "", ""])
            top.setData(0, Qt.ItemDataRole.UserRole, gi)
            top.setToolTip(0, "Click to show these photos in the gallery")
            self._attach(top, str(g.keep.path))
            for m, sim in zip(g.members, g.similarity):
                keep = m.id == g.keep.id
                dims = f"{m.width}×{m.height}, " if m.width and m.height else ""
                child = QTreeWidgetItem([m.relpath, f"{sim:.3f}", KEEP_MARK if keep else ""])
                child.setToolTip(0, f"{m.path}\n{dims}{m.size / 1e6:.2f} MB"
                                 + ("\nSuggested keeper: the most pixels, then the largest file" if keep else ""))
                child.setData(0, Qt.ItemDataRole.UserRole, gi)
                if keep:
                    child.setFont(0, bold)
                    child.setFont(2, bold)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
        self.tree.resizeColumnToContents(1)
        self.tree.resizeColumnToContents(2)

    def _attach(self, item: QTreeWidgetItem, path: str) -> None:
        self._items.setdefault(path, []).append(item)
        pm = self.loader.get(path)
        if pm is not None:
            item.setIcon(0, QIcon(pm))

    def _thumb(self, path: str) -> None:
        pm = self.loader.get(path)
        for item in self._items.get(path, []):
            if pm is not None:
                item.setIcon(0, QIcon(pm))

    def _clicked(self, item: QTreeWidgetItem, column: int) -> None:
        self.show_group(item.data(0, Qt.ItemDataRole.UserRole))

    def show_group(self, index: int) -> None:
        if self.report is None or not 0 <= index < len(self.report.groups):
            return
        g = self.report.groups[index]
        self.ctx.show_photos(frozenset(m.id for m in g.members), f"Duplicates of {g.keep.path.name}")
