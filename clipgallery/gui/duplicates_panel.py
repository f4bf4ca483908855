"""The Duplicates tab: groups of photos that are the same picture (pixels confirmed), the suggested
keeper of each marked; the groups that are only similar, on request; a side-by-side compare view;
and "Move extras to Trash…", after a confirmation that lists every file."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from .compare_dialog import COMPARE_PX, CompareDialog, TrashConfirmDialog
from .groups_panel import COVER_PX
from .side_panel import PanelBase, SidePanel
from .thumbnails import ThumbnailLoader

KEEP_MARK = "★ keep"
GROUP_ROLE = Qt.ItemDataRole.UserRole + 1  # ("duplicate" | "similar", index in that list)


class DuplicatesPanel(PanelBase):
    def __init__(self, side: SidePanel):
        super().__init__(side)
        self.threshold = QDoubleSpinBox(minimum=0.80, maximum=1.0, singleStep=0.01, decimals=2)
        self.threshold.setValue(side.ctx.facade.default_duplicate_threshold())
        self.threshold.setToolTip("How alike two photos must look to CLIP (cosine similarity) to be compared "
                                  "pixel by pixel: the pixels then decide which are the same picture (resized, "
                                  "recompressed or lightly cropped copies); the rest are only similar")
        self.run_button = QPushButton("Find duplicates")
        self.run_button.clicked.connect(lambda: self.find())
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Photo", "Similarity", ""])
        self.tree.setIconSize(QSize(COVER_PX, COVER_PX))
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, self.tree.header().ResizeMode.Stretch)
        self.tree.itemClicked.connect(self._clicked)
        self.tree.itemDoubleClicked.connect(lambda item, column: self.compare(self._group_key(item)))
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.show_similar = QCheckBox("Show similar photos too")
        self.show_similar.setToolTip("Photos that look alike but are not the same picture: shown for a look, "
                                     "never moved to the Trash")
        self.show_similar.toggled.connect(lambda: self._show(self.report))
        self.compare_button = QPushButton("Compare…")
        self.compare_button.setToolTip("Show the photos of the chosen group side by side")
        self.compare_button.clicked.connect(lambda: self.compare(self._group_key(self.tree.currentItem())))
        self.trash_button = QPushButton("Move extras to Trash…")
        self.trash_button.setToolTip("Move every duplicate but the photo to keep of each group to the Trash "
                                     "(asks first, lists every file; restorable from the Trash)")
        self.trash_button.clicked.connect(lambda: self.request_trash(None))
        self.info = QLabel("Press “Find duplicates” to look for photos that are copies of each other.",
                           wordWrap=True)
        self.info.setStyleSheet("color: gray;")
        self.loader = ThumbnailLoader(side.ctx.facade, threads=1, parent=self)
        self.loader.set_display_size(int(COVER_PX * self.devicePixelRatioF()))
        self.loader.ready.connect(self._thumb)
        self.big_loader = ThumbnailLoader(side.ctx.facade, threads=1, parent=self)  # the compare view's
        self.big_loader.set_display_size(int(COMPARE_PX * self.devicePixelRatioF()))
        self.compare_dialog: CompareDialog | None = None
        self.confirm_dialog: TrashConfirmDialog | None = None
        self.last_trash: Any = None  # the latest core TrashReport
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
        col.addWidget(self.show_similar)
        col.addWidget(self.tree, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.compare_button)
        actions.addStretch(1)
        actions.addWidget(self.trash_button)
        col.addLayout(actions)
        self.report: Any = None
        self.task_finished.connect(lambda name: name == "duplicates" and self.run_button.setEnabled(True))
        self.task_finished.connect(lambda name: name == "trash-plan" and self._update_buttons())
        self._update_buttons()

    def folder_opened(self, lib: Any) -> None:
        super().folder_opened(lib)
        self.loader.set_cache_dir(lib.dir / "thumbnails")
        self.big_loader.set_cache_dir(lib.dir / "thumbnails")
        self._show(None)

    def folder_closed(self) -> None:
        super().folder_closed()
        self.loader.set_cache_dir(None)
        self.big_loader.set_cache_dir(None)
        for dialog in (self.compare_dialog, self.confirm_dialog):
            if dialog is not None:
                dialog.close()
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
        self._update_buttons()
        if report is None:
            self.info.setText("Press “Find duplicates” to look for photos that are copies of each other.")
            return
        if report.cancelled:
            self.info.setText("Cancelled.")
            return
        extra = sum(len(g.members) - 1 for g in report.groups)
        n, alike = len(report.groups), len(report.similar)
        text = (f"{n:,} group{'s' if n != 1 else ''} of duplicates (the same picture, checked pixel by pixel); "
                f"keeping one photo of each would leave out {extra:,} photo{'s' if extra != 1 else ''}." if n else
                "No duplicates at this similarity.")
        if alike:
            text += (f" {alike:,} more group{'s only look' if alike != 1 else ' only looks'} alike"
                     + (" (shown in grey)." if self.show_similar.isChecked() else "."))
        self.info.setText(text)
        for gi, g in enumerate(report.groups):
            self.tree.addTopLevelItem(self._group_item(g, ("duplicate", gi)))
        if self.show_similar.isChecked():
            for gi, g in enumerate(report.similar):
                self.tree.addTopLevelItem(self._group_item(g, ("similar", gi)))
        self.tree.resizeColumnToContents(1)
        self.tree.resizeColumnToContents(2)
        # Children of collapsed items do not count in resizeColumnToContents: the mark must fit.
        mark = self.tree.fontMetrics().horizontalAdvance(KEEP_MARK) + 24
        self.tree.setColumnWidth(2, max(self.tree.columnWidth(2), mark))
        self._update_buttons()

    def _group_item(self, g: Any, key: tuple[str, int]) -> QTreeWidgetItem:
        bold = QFont(self.tree.font())
        bold.setBold(True)
        confirmed = key[0] == "duplicate"
        title = (f"{len(g.members)} photos · keep {g.keep.path.name}" if confirmed
                 else f"{len(g.members)} photos · similar, not the same picture")
        top = QTreeWidgetItem([title, "", ""])
        top.setData(0, Qt.ItemDataRole.UserRole, key[1] if confirmed else None)
        top.setData(0, GROUP_ROLE, key)
        top.setToolTip(0, "Click to show these photos in the gallery; double-click to compare them")
        self._attach(top, str(g.keep.path))
        grey = QBrush(QColor("gray"))
        for m, sim in zip(g.members, g.similarity):
            keep = confirmed and m.id == g.keep.id
            dims = f"{m.width}×{m.height}, " if m.width and m.height else ""
            child = QTreeWidgetItem([m.relpath, f"{sim:.3f}", KEEP_MARK if keep else ""])
            child.setToolTip(0, f"{m.path}\n{dims}{m.size / 1e6:.2f} MB"
                             + ("\nSuggested keeper: the most pixels, then a lossless file (PNG, TIFF, RAW) before a JPEG, then the largest file" if keep else ""))
            child.setData(0, Qt.ItemDataRole.UserRole, key[1] if confirmed else None)
            child.setData(0, GROUP_ROLE, key)
            if keep:
                child.setFont(0, bold)
                child.setFont(2, bold)
            if not confirmed:
                for c in range(3):
                    child.setForeground(c, grey)
            top.addChild(child)
        if not confirmed:
            top.setForeground(0, grey)
        return top

    def _group_key(self, item: QTreeWidgetItem | None) -> tuple[str, int] | None:
        return None if item is None else item.data(0, GROUP_ROLE)

    def group(self, key: tuple[str, int] | None) -> Any:
        if self.report is None or key is None:
            return None
        groups = self.report.groups if key[0] == "duplicate" else self.report.similar
        return groups[key[1]] if 0 <= key[1] < len(groups) else None

    def _update_buttons(self) -> None:
        has = self.report is not None and not self.report.cancelled
        self.trash_button.setEnabled(bool(has and self.report.groups and self.library is not None))
        self.compare_button.setEnabled(self.group(self._group_key(self.tree.currentItem())) is not None)

    # -- compare and trash ---------------------------------------------------------------------------

    def compare(self, key: tuple[str, int] | None) -> CompareDialog | None:
        """Open the side-by-side view of a group (non-modal)."""
        g = self.group(key)
        if g is None or key is None:
            return None
        if self.compare_dialog is not None:
            self.compare_dialog.close()
        dialog = CompareDialog(g, self.big_loader, self)
        index = key[1]
        dialog.trash_requested.connect(lambda keep_id: self.request_trash({index: keep_id}, only=index))
        self.compare_dialog = dialog
        dialog.show()
        return dialog

    def request_trash(self, keep: dict[int, int] | None, only: int | None = None) -> None:
        """Check what would move (in the background), then ask with the list of files."""
        if self.library is None or self.report is None or not self.report.groups:
            return
        groups = list(self.report.groups)
        if only is not None:
            groups, keep = [groups[only]], {0: (keep or {}).get(only, groups[only].keep.id)}
        self.trash_button.setEnabled(False)
        self.run("trash-plan", "Checking the files…",
                 lambda lib, spec, progress, cancel: self.ctx.facade.plan_trash(lib, groups, keep, progress,
                                                                                  cancel),
                 on_done=self._confirm)

    def _confirm(self, plan: Any) -> None:
        if not plan.moves and not plan.refused:
            return
        dialog = TrashConfirmDialog(plan, self)
        dialog.accepted.connect(lambda: self._move(plan))
        self.confirm_dialog = dialog
        dialog.open()

    def _move(self, plan: Any) -> None:
        self.run("trash", "Moving to the Trash…",
                 lambda lib, spec, progress, cancel: self.ctx.facade.trash_extras(lib, plan, progress, cancel),
                 on_done=self._moved)

    def _moved(self, report: Any) -> None:
        self.last_trash = report
        n = len(report.trashed)
        where = report.trash
        message = f"Moved {n} photo{'s' if n != 1 else ''} to the Trash ({where}); restore them from there if needed."
        if report.failed:
            message += f" {len(report.failed)} could not be moved: {report.failed[0][1]}."
        self.ctx.notify(message, 15_000)
        if self.compare_dialog is not None:
            self.compare_dialog.close()
        gone = [str(p) for p, _ in report.trashed]
        if gone:
            self.ctx.photos_removed(gone)
        self.find()  # the groups as they are now

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
        key = self._group_key(item)
        g = self.group(key)
        if g is not None and key is not None:
            label = f"Duplicates of {g.keep.path.name}" if key[0] == "duplicate" else f"Alike to {g.keep.path.name}"
            self.ctx.show_photos(frozenset(m.id for m in g.members), label)

    def show_group(self, index: int) -> None:
        g = self.group(("duplicate", index))
        if g is not None:
            self.ctx.show_photos(frozenset(m.id for m in g.members), f"Duplicates of {g.keep.path.name}")
