"""What the window shows before a folder is open: how to start, and the recent folders."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QPushButton, QStyle, QVBoxLayout, QWidget

from .settings import Settings


class WelcomePage(QWidget):
    open_requested = Signal()
    folder_chosen = Signal(Path)

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.title = title = QLabel("<h2>Open a folder of photos</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint = hint = QLabel("clipgallery indexes it in the background, then you can search it by what is "
                                  "in the photos, tag it, group it and export it. Your photos are never "
                                  "changed.<br><br>You can also drop a folder on this window.", wordWrap=True)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setFixedWidth(520)
        # A word-wrapped label centred in a box layout gets the height of one line unless told;
        # its full height at this width keeps the lines from running into the title.
        hint.setMinimumHeight(hint.heightForWidth(520))
        button = QPushButton(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon), "  Open Folder…")
        button.setMinimumHeight(36)
        button.clicked.connect(self.open_requested)
        self.recent_label = QLabel("<b>Recent folders</b>")
        self.recent = QListWidget(maximumWidth=520, maximumHeight=220)
        self.recent.itemActivated.connect(lambda item: self.folder_chosen.emit(Path(item.text())))
        self.recent.itemClicked.connect(lambda item: self.folder_chosen.emit(Path(item.text())))
        col = QVBoxLayout(self)
        col.setSpacing(14)
        col.addStretch(2)
        for w in (title, hint, button, self.recent_label, self.recent):
            col.addWidget(w, 0, Qt.AlignmentFlag.AlignHCenter)
        col.addStretch(3)
        self.fill_recent()

    def changeEvent(self, e) -> None:  # a new font or style changes how tall the wrapped hint is
        super().changeEvent(e)
        if e.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange) and hasattr(self, "hint"):
            self.hint.setMinimumHeight(self.hint.heightForWidth(self.hint.width()))

    def fill_recent(self) -> None:
        self.recent.clear()
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon)
        for folder in self.settings.recent_folders():
            self.recent.addItem(QListWidgetItem(icon, str(folder)))
        has = self.recent.count() > 0
        self.recent.setVisible(has)
        self.recent_label.setVisible(has)
