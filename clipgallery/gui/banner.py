"""A message strip across the top of the window: errors and notices that must not go unseen."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QStyle, QToolButton, QWidget

_STYLES = {
    "error": ("#fdecea", "#b3261e", QStyle.StandardPixmap.SP_MessageBoxCritical),
    "warning": ("#fff4e5", "#8a5300", QStyle.StandardPixmap.SP_MessageBoxWarning),
    "info": ("#e8f1fb", "#0b4f8a", QStyle.StandardPixmap.SP_MessageBoxInformation),
}


class Banner(QFrame):
    """show_message(kind, text, action) shows one message; a newer one replaces it."""

    shown = Signal(str, str)  # kind, text

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.kind = ""
        self.icon = QLabel()
        self.text = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action = QPushButton()
        self.action.hide()
        self.close_button = QToolButton(autoRaise=True, toolTip="Dismiss")
        self.close_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_TitleBarCloseButton))
        self.close_button.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 6, 6)
        row.setSpacing(10)
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.text, 1)
        row.addWidget(self.action, 0, Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self._callback: Callable[[], None] | None = None
        self.action.clicked.connect(self._act)
        self.hide()

    def show_message(self, kind: str, text: str, action: tuple[str, Callable[[], None]] | None = None) -> None:
        bg, fg, icon = _STYLES.get(kind, _STYLES["info"])
        self.kind = kind
        self.setStyleSheet(f"#banner {{ background: {bg}; border-bottom: 1px solid {fg}; }} "
                           f"#banner QLabel {{ color: {fg}; }}")
        self.icon.setPixmap(self.style().standardIcon(icon).pixmap(20, 20))
        self.text.setText(text)
        if action:
            self.action.setText(action[0])
            self._callback = action[1]
            self.action.show()
        else:
            self._callback = None
            self.action.hide()
        self.show()
        self.shown.emit(kind, text)

    def message(self) -> str:
        return self.text.text() if self.isVisible() else ""

    def _act(self) -> None:
        callback = self._callback
        self.hide()
        if callback is not None:
            callback()
