"""The list of files that could not be indexed, with the reason for each."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..desktop import show_in_file_manager
from ..facade import shown as display


class FailedFilesDialog(QDialog):
    def __init__(self, root: Path, failed: list[tuple[Path, str]], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Files that could not be read")
        self.resize(760, 420)
        self.failed = failed
        intro = QLabel(f"{len(failed)} file{'s' if len(failed) != 1 else ''} in {root} could not be indexed. "
                       "They are tried again whenever the folder is indexed (for example after installing "
                       "a decoder or repairing them).", wordWrap=True)
        self.table = QTableWidget(len(failed), 2)
        self.table.setHorizontalHeaderLabels(["File", "Reason"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        for row, (path, reason) in enumerate(failed):
            try:
                shown = str(path.relative_to(root))
            except ValueError:
                shown = str(path)
            item = QTableWidgetItem(display(shown))
            item.setToolTip(display(str(path)))
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            self.table.setItem(row, 0, item)
            self.table.setItem(row, 1, QTableWidgetItem(reason))
        self.table.resizeColumnToContents(0)
        self.table.setColumnWidth(0, min(self.table.columnWidth(0), 420))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        show = QPushButton("Show in file manager")
        show.clicked.connect(self._show)
        copy = QPushButton("Copy list")
        copy.clicked.connect(self._copy)
        buttons.addButton(show, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)

    def _show(self) -> None:
        row = self.table.currentRow()
        if row >= 0:
            show_in_file_manager(Path(self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)))

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText("\n".join(f"{p}\t{r}" for p, r in self.failed))
