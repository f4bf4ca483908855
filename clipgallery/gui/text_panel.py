"""The viewer's list of the lines of text read in a photo: select to outline them, Ctrl+C to copy."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class TextPanel(QWidget):
    """Hidden while the photo has no text read; `selection_changed` gives the selected line indices."""

    selection_changed = Signal(list)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel("<b>Text in the photo</b>")
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setWordWrap(True)
        self.list.setToolTip("Click a line to outline it on the photo; Ctrl+C copies the selected lines")
        self.list.itemSelectionChanged.connect(self._selected)
        self.copy_button = QPushButton("Copy all")
        self.copy_button.clicked.connect(self.copy_all)
        copy = QAction("Copy", self.list)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        copy.triggered.connect(self.copy_selected)
        self.list.addAction(copy)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.copy_button)
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 8)
        col.addLayout(head)
        col.addWidget(self.list, 1)
        self.hide()

    def set_lines(self, lines: list[str]) -> None:
        self.list.clear()
        for text in lines:
            QListWidgetItem(text, self.list)
        self.title.setText(f"<b>Text in the photo</b> ({len(lines)} line{'s' if len(lines) != 1 else ''})")
        self.setVisible(bool(lines))

    def select(self, index: int) -> None:
        """Select one line (a click on its outline in the photo)."""
        self.list.clearSelection()
        item = self.list.item(index)
        if item is not None:
            item.setSelected(True)
            self.list.scrollToItem(item)
            self.list.setCurrentItem(item)

    def lines(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def selected_text(self) -> str:
        rows = sorted(self.list.row(it) for it in self.list.selectedItems())
        return "\n".join(self.list.item(r).text() for r in rows)

    def copy_selected(self) -> None:
        QGuiApplication.clipboard().setText(self.selected_text() or "\n".join(self.lines()))

    def copy_all(self) -> None:
        QGuiApplication.clipboard().setText("\n".join(self.lines()))

    def _selected(self) -> None:
        self.selection_changed.emit(sorted(self.list.row(it) for it in self.list.selectedItems()))
