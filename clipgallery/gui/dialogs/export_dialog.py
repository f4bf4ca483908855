"""Export photos to a folder: what (selection, a group, all groups, a tag, the result), where, how.

A preview (dry run) lists every file that will be written before anything is; the export runs in
the background with progress and Cancel, and offers to open the folder when done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..desktop import open_folder
from ..workers import Jobs, ProgressRelay

MODE_HELP = {
    "copy": "Copy: independent copies (uses disk space)",
    "hardlink": "Hard links: no extra space; same drive only",
    "symlink": "Symbolic links: point to the originals",
}
PREVIEW_ROWS = 2000  # more would make the preview slow to fill; the count is always given


@dataclass(frozen=True)
class ExportSource:
    """One thing that can be exported; `select(lib, spec)` runs in a worker and returns core Selected items."""

    key: str
    title: str
    select: Callable[[Any, str], list[Any]]


class ExportDialog(QDialog):
    exported = Signal(object)  # core ExportResult
    previewed = Signal(object)  # core ExportPlan
    failed = Signal(str)

    def __init__(self, window: Any, sources: list[ExportSource], initial: str | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent or window)
        self.window_ = window
        self.facade, self.settings = window.facade, window.settings
        self.library = window.library
        self.setWindowTitle("Export photos")
        self.resize(760, 540)
        self.jobs = Jobs(max_threads=1, parent=self)
        self.cancel_event: threading.Event | None = None
        self.result: Any = None

        self.source = QComboBox()
        for s in sources:
            self.source.addItem(s.title, s.key)
        self._sources = {s.key: s for s in sources}
        if initial is not None and self.source.findData(initial) >= 0:
            self.source.setCurrentIndex(self.source.findData(initial))
        self.dest = QLineEdit(self.settings.export_dir or str(Path.home() / "clipgallery-export"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        dest_row = QHBoxLayout()
        dest_row.addWidget(self.dest, 1)
        dest_row.addWidget(browse)
        self.mode = QComboBox()
        for m in self.facade.export_modes():
            self.mode.addItem(MODE_HELP.get(m, m), m)
        self.mode.setCurrentIndex(max(0, self.mode.findData(self.settings.export_mode)))
        form = QFormLayout()
        form.addRow("Export", self.source)
        form.addRow("To folder", dest_row)
        form.addRow("As", self.mode)
        note = QLabel("Each group goes into its own folder; nothing is ever overwritten (a name already "
                      "taken gets a number) and your originals are only read. A manifest (CSV and JSON) "
                      "lists what was written.", wordWrap=True)
        note.setStyleSheet("color: gray;")

        self.preview = QTreeWidget()
        self.preview.setHeaderLabels(["Will be written", "From"])
        self.preview.setRootIsDecorated(True)
        self.preview.setUniformRowHeights(True)
        self.status = QLabel(wordWrap=True)
        self.progress = QProgressBar(textVisible=True)
        self.progress.hide()

        self.buttons = QDialogButtonBox()
        self.preview_button = self.buttons.addButton("Preview", QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_button = self.buttons.addButton("Open Folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.hide()
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_button.setDefault(True)
        self.preview_button.clicked.connect(self.start_preview)
        self.export_button.clicked.connect(self.start_export)
        self.open_button.clicked.connect(self._open_result)
        self.close_button.clicked.connect(self._close_or_cancel)

        col = QVBoxLayout(self)
        col.addLayout(form)
        col.addWidget(note)
        col.addWidget(self.preview, 1)
        col.addWidget(self.progress)
        col.addWidget(self.status)
        col.addWidget(self.buttons)
        for w in (self.source, self.mode):
            w.currentIndexChanged.connect(lambda _: self._clear_preview())
        self.dest.textChanged.connect(lambda _: self._clear_preview())

    # -- actions ----------------------------------------------------------------------------------

    def start_preview(self) -> None:
        """Plan in the background and list every file the export would write (a dry run)."""
        self._run(self._plan_in_worker, self._show_plan, "Planning…")

    def start_export(self) -> None:
        if self.cancel_event is not None:
            return
        self.cancel_event = threading.Event()
        relay = ProgressRelay(self)
        relay.progress.connect(self._progress)
        cancel = self.cancel_event

        def work(source, dest, mode):
            plan = self._plan_in_worker(source, dest, mode)
            return self.facade.run_export(plan, relay, cancel)

        self.progress.setRange(0, 0)
        self.progress.show()
        self.close_button.setText("Cancel")
        self._run(work, self._done, "Exporting…")

    def _run(self, fn: Callable, on_done: Callable, text: str) -> None:
        dest = self.dest.text().strip()
        if not dest:
            self._error("Choose a folder to export to.")
            return
        source = self._sources[self.source.currentData()]
        self.status.setStyleSheet("")
        self.status.setText(text)
        for b in (self.preview_button, self.export_button, self.source, self.mode):
            b.setEnabled(False)
        self.jobs.submit(fn, source, Path(dest).expanduser(), self.mode.currentData(),
                         on_done=on_done, on_error=self._error)

    def _plan_in_worker(self, source: ExportSource, dest: Path, mode: str) -> Any:
        spec = self._spec()
        selection = source.select(self.library, spec)
        return self.facade.plan_export(self.library, selection, dest, mode)

    def _spec(self) -> str | None:
        try:
            return self.facade.search_spec(self.library, self.settings.model)
        except Exception:
            return None  # exporting photos of the gallery needs no model

    # -- results ----------------------------------------------------------------------------------

    def _show_plan(self, plan: Any) -> None:
        self._idle()
        self._fill_preview(plan.to_write, plan.dest)
        missing = f" {len(plan.missing)} selected photos no longer exist and will be skipped." if plan.missing else ""
        already = (f" {len(plan.already):,} are already there from an earlier export and will not be written again."
                   if plan.already else "")
        if plan.to_write:
            text = (f"Will {_verb(plan.mode)} {len(plan.to_write):,} photos into {len(plan.folders):,} "
                    f"folder{'s' if len(plan.folders) != 1 else ''} of {plan.dest}, with a manifest "
                    f"({plan.manifest_csv.name}).")
        else:
            text = f"Nothing to write: every photo is already in {plan.dest}."
        self.status.setText(text + already + missing)
        self.previewed.emit(plan)

    def _fill_preview(self, files: list[Any], dest: Path) -> None:
        self.preview.clear()
        folders: dict[Path, QTreeWidgetItem] = {}
        for f in files[:PREVIEW_ROWS]:
            parent = folders.get(f.dest.parent)
            if parent is None:
                parent = QTreeWidgetItem([_relative(f.dest.parent, dest) + "/", ""])
                folders[f.dest.parent] = parent
                self.preview.addTopLevelItem(parent)
            item = QTreeWidgetItem([f.dest.name, str(f.source)])
            item.setToolTip(1, str(f.source))
            parent.addChild(item)
        if len(files) > PREVIEW_ROWS:
            self.preview.addTopLevelItem(QTreeWidgetItem([f"… and {len(files) - PREVIEW_ROWS:,} more", ""]))
        for item in folders.values():
            item.setText(1, f"{item.childCount():,} photos")
        if len(folders) <= 3:
            self.preview.expandAll()
        self.preview.resizeColumnToContents(0)

    def _done(self, result: Any) -> None:
        self._idle()
        self.result = result
        self.settings.export_dir = str(result.plan.dest)
        self.settings.export_mode = result.plan.mode
        self._fill_preview(result.written, result.plan.dest)
        skipped = f" {len(result.skipped)} skipped (no longer exist)." if result.skipped else ""
        if result.already:
            skipped += f" {len(result.already):,} were already there."
        if result.cancelled:
            text = f"Cancelled after {len(result.written):,} photos; they stay, listed in the manifest."
        else:
            text = f"Done: {_verb(result.plan.mode, past=True)} {len(result.written):,} photos to " \
                   f"{result.plan.dest} in {result.seconds:.1f} s.{skipped}"
        self.status.setText(text)
        self.open_button.show()
        self.exported.emit(result)

    def _progress(self, p: Any) -> None:
        if p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
            self.progress.setFormat(f"{p.done:,} / {p.total:,}")

    def _error(self, message: str) -> None:
        self._idle()
        self.status.setStyleSheet("color: #b3261e;")
        self.status.setText(message[:1].upper() + message[1:])
        self.failed.emit(message)

    def _idle(self) -> None:
        self.cancel_event = None
        self.progress.hide()
        self.close_button.setText("Close")
        for b in (self.preview_button, self.export_button, self.source, self.mode):
            b.setEnabled(True)

    def _clear_preview(self) -> None:
        if self.cancel_event is None:
            self.preview.clear()
            self.status.setText("")
            self.open_button.hide()

    def _close_or_cancel(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
            self.status.setText("Cancelling…")
        else:
            self.reject()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to", self.dest.text())
        if folder:
            self.dest.setText(folder)

    def _open_result(self) -> None:
        if self.result is not None:
            open_folder(self.result.plan.dest)

    def done(self, r: int) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
        self.jobs.wait()
        super().done(r)


def _verb(mode: str, past: bool = False) -> str:
    verbs = {"copy": ("copy", "copied"), "hardlink": ("hard-link", "hard-linked"),
             "symlink": ("link", "linked")}
    return verbs.get(mode, (mode, mode))[1 if past else 0]


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base)) or "."
    except ValueError:
        return str(path)

