"""The Tags tab: tag the photos with a label set, see how many carry each label, click one to show them;
rename or delete a hand-made tag, take a wrong tag off the selected photos (its context menu)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
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
from .facade import ClipGalleryError
from .side_panel import PanelBase, SidePanel

_LOAD_FILE = "__file__"
HAND_MADE = "hand-made"  # core.organize.MANUAL: the label set of hand-made tags


class TagsPanel(PanelBase):
    def __init__(self, side: SidePanel):
        super().__init__(side)
        self.label_set = QComboBox()
        self.label_set.setToolTip("The vocabulary to tag with: a built-in set, or your own JSON file "
                                  "({\"name\": ..., \"labels\": [...]})")
        facade = side.ctx.facade
        for name in facade.builtin_label_sets():
            self.label_set.addItem(name, name)
        self.label_set.addItem("Load from file…", _LOAD_FILE)
        self.label_set.setCurrentIndex(max(0, self.label_set.findData("emotions")))  # the DESIGN default
        self.label_set.activated.connect(self._chosen)
        self._last_choice = self.label_set.currentIndex()
        self.run_button = QPushButton("Tag photos")
        self.run_button.setToolTip("Give every indexed photo its best labels from this set")
        self.run_button.clicked.connect(lambda: self.run_tagging())
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Tag", "Photos"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, self.tree.header().ResizeMode.Stretch)
        self.tree.itemClicked.connect(self._clicked)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._tree_menu)
        self.empty = QLabel("No tags yet. Choose a label set and press “Tag photos”, or select photos "
                            "and choose “Teach a tag…” from their menu.", wordWrap=True)
        self.empty.setStyleSheet("color: gray;")
        row = QHBoxLayout()
        row.addWidget(self.label_set, 1)
        row.addWidget(self.run_button)
        col = QVBoxLayout(self)
        col.addLayout(row)
        col.addWidget(self.task)
        col.addWidget(self.tree, 1)
        col.addWidget(self.empty)
        self.summaries: list[Any] = []
        self.task_finished.connect(lambda name: name == "tag" and self.run_button.setEnabled(True))

    # -- folder -----------------------------------------------------------------------------------

    def folder_opened(self, lib: Any) -> None:
        super().folder_opened(lib)
        self.reload()

    def folder_closed(self) -> None:
        super().folder_closed()
        self._show([])

    def library_changed(self) -> None:
        self.reload()

    def reload(self) -> None:
        self.run("summaries", "", lambda lib, spec: self.ctx.facade.label_summaries(lib, spec),
                 on_done=self._show, long=False, quiet=True)

    # -- tagging ----------------------------------------------------------------------------------

    def choose_label_set(self, spec: str | Path) -> None:
        """Select a built-in set by name, or add a JSON file (validated first) and select it."""
        spec_text = str(spec)
        i = self.label_set.findData(spec_text)
        if i < 0:
            try:
                ls = self.ctx.facade.read_label_set(Path(spec_text))
            except Exception as e:  # QueryError: a clear sentence
                self.show_error(str(e))
                return
            self.label_set.insertItem(self.label_set.count() - 1, f"{ls.name} ({Path(spec_text).name})", spec_text)
            i = self.label_set.findData(spec_text)
        self.label_set.setCurrentIndex(i)
        self._last_choice = i

    def _chosen(self, index: int) -> None:
        if self.label_set.itemData(index) != _LOAD_FILE:
            self._last_choice = index
            return
        self.label_set.setCurrentIndex(self._last_choice)
        path, _ = QFileDialog.getOpenFileName(self, "Load a label set", str(Path.home()), "Label sets (*.json)")
        if path:
            self.choose_label_set(Path(path))

    def run_tagging(self) -> None:
        spec = self.label_set.currentData()
        if not spec or spec == _LOAD_FILE or self.library is None:
            return
        device = self.ctx.settings.device
        self.run_button.setEnabled(False)
        self.run("tag", "Tagging…",
                 lambda lib, model, progress, cancel: self.ctx.facade.tag(lib, model, device, spec,
                                                                                 progress, cancel),
                 on_done=self._tagged)

    def _tagged(self, report: Any) -> None:
        self.run_button.setEnabled(True)
        if not report.cancelled:
            self.ctx.notify(
                f"Tagged {len(report.photos):,} photos with “{report.label_set}” in {report.seconds:.1f} s.", 8000)
        self.reload()

    # -- showing ----------------------------------------------------------------------------------

    def _show(self, summaries: list[Any]) -> None:
        self.run_button.setEnabled(True)
        self.summaries = summaries
        self.tree.clear()
        for s in summaries:
            top = QTreeWidgetItem([s.name + (" (taught)" if s.kind == "taught" else ""),
                                   f"{sum(1 for n in s.counts.values() if n):,} labels"])
            top.setData(0, Qt.ItemDataRole.UserRole, (s.name, None))
            top.setFlags(top.flags() & ~Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
            for label, n in sorted(s.counts.items(), key=lambda kv: (-kv[1], kv[0].lower())):
                child = QTreeWidgetItem([label, f"{n:,}"])
                child.setData(0, Qt.ItemDataRole.UserRole, (s.name, label))
                child.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                child.setToolTip(0, f"Click to show the {n:,} photos tagged “{label}”")
                if n == 0:
                    child.setDisabled(True)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
        self.tree.resizeColumnToContents(1)
        self.empty.setVisible(not summaries)

    def _clicked(self, item: QTreeWidgetItem, column: int) -> None:
        label_set, label = item.data(0, Qt.ItemDataRole.UserRole)
        if label is not None:
            self.show_tag(label_set, label)

    def show_tag(self, label_set: str, label: str) -> None:
        """Narrow the gallery to the photos carrying this tag."""
        self.run("filter", "", lambda lib, spec: self.ctx.facade.files_with_tag(lib, spec, label, label_set),
                 on_done=lambda ids: self.ctx.show_photos(ids, f"Tag: {label}"), long=False)

    def _tree_menu(self, pos) -> None:
        item = self.tree.itemAt(pos)
        if item is not None:
            self.item_menu(item).exec(self.tree.viewport().mapToGlobal(pos))

    def item_menu(self, item: QTreeWidgetItem) -> QMenu:
        """A label's menu: show it, take it off the selected photos (a wrong zero-shot tag stays off),
        and for a hand-made tag rename or delete it; a label set's: forget it."""
        label_set, label = item.data(0, Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        if label is not None:
            photos = [p for p in self.ctx.selected_photos() if p.file_id is not None]
            menu.addAction(f"Show the photos tagged “{label}”", lambda: self.show_tag(label_set, label))
            n = len(photos)
            remove = menu.addAction(f"Remove “{label}” from the {n} selected photo{'s' if n != 1 else ''}"
                                    if n else f"Remove “{label}” from the selected photos",
                                    lambda: self.remove_from(label, photos))
            remove.setEnabled(bool(photos))
            remove.setToolTip("Tagging again does not put it back")
            if label_set == HAND_MADE:
                menu.addAction(f"Rename “{label}”…", lambda: self.ask_rename(label))
                menu.addAction(f"Delete “{label}”…", lambda: self.ask_delete(label))
            menu.addSeparator()
        menu.addAction(f"Forget the label set “{label_set}”", lambda: self.forget(label_set))
        return menu

    # -- fixing tags --------------------------------------------------------------------------------

    def remove_from(self, label: str, photos: list[Any]) -> None:
        """Take a tag off these photos: a hand-made one, or a wrong zero-shot one, for good."""
        ids = [p.file_id for p in photos if p.file_id is not None]
        if ids:
            self._edit(lambda lib, spec: self.ctx.facade.remove_tag(lib, label, ids),
                       f"“{label}” taken off {len(ids)} photo{'s' if len(ids) != 1 else ''}.", label)

    def _show_again(self, label: str) -> None:
        facade = self.ctx.facade

        def ids(lib: Any, spec: str) -> frozenset[int]:
            try:
                return facade.files_with_tag(lib, spec, label, None)
            except ClipGalleryError:  # no photo carries it any more
                return frozenset()

        self.run("filter", "", ids, on_done=lambda found: self.ctx.show_photos(found, f"Tag: {label}"), long=False)

    def ask_rename(self, label: str) -> None:
        new, ok = QInputDialog.getText(self, "Rename tag", f"New name of the tag “{label}” (on every photo; "
                                       "an existing tag's name joins the two):", text=label)
        if ok and new.strip() and new.strip() != label:
            self.rename_tag(label, new.strip())

    def rename_tag(self, old: str, new: str) -> None:
        self._edit(lambda lib, spec: self.ctx.facade.rename_tag(lib, old, new), f"Tag “{old}” renamed to “{new}”.",
                   old, new)

    def ask_delete(self, label: str) -> None:
        if QMessageBox.question(self, "Delete tag", f"Take the tag “{label}” off every photo? The photos stay "
                                "where they are.") == QMessageBox.StandardButton.Yes:
            self.delete_tag(label)

    def delete_tag(self, label: str) -> None:
        self._edit(lambda lib, spec: self.ctx.facade.delete_tag(lib, label), f"Tag “{label}” deleted.", label)

    def _edit(self, fn: Any, done: str, label: str, renamed: str | None = None) -> None:
        shown = self.ctx.shown_label().casefold() == f"Tag: {label}".casefold()

        def finished(_: Any) -> None:
            self.ctx.notify(done, 6000)
            self.reload()
            if shown:  # the grid shows that tag: show what carries it now
                self._show_again(renamed or label)

        self.run("edit", "", fn, on_done=finished, long=False)

    def forget(self, label_set: str) -> None:
        if label_set == HAND_MADE and QMessageBox.question(
                self, "Forget hand-made tags", "Take every hand-made tag off every photo? This cannot be "
                "undone.") != QMessageBox.StandardButton.Yes:
            return  # a person's own work: asked first
        self.run("forget", "", lambda lib, spec: self.ctx.facade.forget_label_set(lib, spec, label_set),
                 on_done=lambda _: self.reload(), long=False)

    # -- few-shot ---------------------------------------------------------------------------------

    def extend_context_menu(self, menu: QMenu, row: int) -> None:
        menu.addAction("Teach a tag from the selected photos…", self.ask_teach)

    def ask_teach(self) -> None:
        photos = self.ctx.selected_photos()
        if not photos:
            return
        name, ok = QInputDialog.getText(self, "Teach a tag",
                                        f"Name of what the {len(photos)} selected photo(s) show:")
        if ok and name.strip():
            self.teach(name.strip(), [Path(p.path) for p in photos])

    def teach(self, name: str, examples: list[Path]) -> None:
        device = self.ctx.settings.device
        self.run("teach", f"Learning “{name}”…",
                 lambda lib, spec: self.ctx.facade.teach(lib, spec, device, name, examples),
                 on_done=lambda report: self._taught(name, report), long=False)

    def _taught(self, name: str, report: Any) -> None:
        self.ctx.notify(
            f"Taught “{name}” from {report.probe.positives} examples: {len(report.photos):,} photos carry it.", 8000)
        self.reload()

    def export_sources(self) -> list[ExportSource]:
        """Each tag that some photo carries, from the label sets shown."""
        facade, out = self.ctx.facade, []
        for summary in self.summaries:
            for lab, n in summary.counts.items():
                if n:
                    out.append(ExportSource(f"tag:{summary.name}/{lab}", f"Tag “{lab}” ({summary.name}, {n:,} photos)",
                                            lambda lib, spec, s=summary.name, x=lab: facade.export_tag(lib, spec, x, s)))
        return out
