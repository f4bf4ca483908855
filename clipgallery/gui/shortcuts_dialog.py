"""Help > Keyboard Shortcuts (F1, ?): every key of the main window and the viewer, read from the actions
the window registers and the viewer's key table, so the list says what the keys really do."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

Rows = list[tuple[str, str]]

# The grid's own keys (gallery_view.GalleryView.keyPressEvent / wheelEvent, and the view's activation).
GRID_KEYS: Rows = [
    ("Enter, Double-click", "Open the photo in the viewer"),
    ("0, 1, 2, 3, 4, 5", "Rate the selected photos with 0 to 5 stars (0 clears)"),
    (".", "Favourite the selected photos on or off"),
    ("Ctrl+Wheel", "Thumbnail size"),
]


def action_rows(widget: QWidget) -> Rows:
    """(keys, name) of every action with a shortcut that `widget` and its children register."""
    rows: Rows = []
    seen: set[str] = set()
    for action in [*widget.actions(), *widget.findChildren(QAction)]:
        if not action.shortcuts() or not action.text():
            continue
        owner = action.parent()
        if isinstance(owner, QWidget) and owner.window() is not widget.window():
            continue  # another window's (the viewer is a child of the main window)
        name = action.text().replace("&", "").rstrip("…").rstrip(".")
        if name in seen:
            continue
        seen.add(name)
        keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())
        rows.append((keys, name))
    return rows


class ShortcutsDialog(QDialog):
    """Sections of (keys, what they do), one tree branch per window."""

    def __init__(self, sections: list[tuple[str, Rows]], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.sections = sections
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Keys", "Does"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.NoSelection)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for title, rows in sections:
            head = QTreeWidgetItem([title])
            font = head.font(0)
            font.setBold(True)
            head.setFont(0, font)
            head.setFirstColumnSpanned(True)
            head.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(head)
            head.setFirstColumnSpanned(True)
            for keys, text in rows:
                item = QTreeWidgetItem([keys, text])
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                self.tree.addTopLevelItem(item)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addWidget(self.tree)
        col.addWidget(buttons)
        self.resize(620, 640)

    def rows(self, section: str) -> Rows:
        return next((rows for title, rows in self.sections if title == section), [])

    def listed(self) -> list[tuple[str, str]]:
        """Every (keys, text) row as the tree shows it."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.text(1):
                out.append((item.text(0), item.text(1)))
        return out


def main_window_sections(window: QWidget) -> list[tuple[str, Rows]]:
    from .viewer import key_rows

    return [("Main window", action_rows(window) + GRID_KEYS), ("Photo viewer", key_rows())]
