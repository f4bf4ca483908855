"""Search by sketch: a small drawing canvas (pen, colours, eraser, undo) whose picture becomes an image
term of the query, saved as a PNG in the library's cache folder."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QMouseEvent, QPainter, QPaintEvent, QPen, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

SIDE = 320  # the sketch's pixels: CLIP sees it at 224 or less, so more would only cost disk
COLOURS = [("black", "#202020"), ("red", "#d7261e"), ("orange", "#f5871a"), ("yellow", "#f0d71e"),
           ("green", "#23a532"), ("blue", "#2341d7"), ("purple", "#872daf"), ("brown", "#7a4b28"),
           ("grey", "#8a8a8a")]
UNDO_LIMIT = 50


class SketchCanvas(QWidget):
    """A white square to draw on with the mouse; each stroke can be undone."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.image = QImage(SIDE, SIDE, QImage.Format.Format_RGB32)
        self.image.fill(Qt.GlobalColor.white)
        self.colour = QColor(COLOURS[0][1])
        self.width = 8
        self.eraser = False
        self._undo: list[QImage] = []
        self._last: QPoint | None = None
        self.setFixedSize(SIDE, SIDE)
        self.setCursor(Qt.CursorShape.CrossCursor)

    @property
    def empty(self) -> bool:
        white = QImage(SIDE, SIDE, QImage.Format.Format_RGB32)
        white.fill(Qt.GlobalColor.white)
        return self.image == white

    def stroke(self, points: list[QPoint]) -> None:
        """Draw one stroke through points (what a mouse drag does; also for tests and scripts)."""
        self._undo = [*self._undo[-(UNDO_LIMIT - 1):], self.image.copy()]
        painter = QPainter(self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = QColor(Qt.GlobalColor.white) if self.eraser else self.colour
        width = self.width * 3 if self.eraser else self.width
        painter.setPen(QPen(colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        if len(points) == 1:
            painter.drawPoint(points[0])
        for a, b in zip(points, points[1:]):
            painter.drawLine(a, b)
        painter.end()
        self.update()
        self.changed.emit()

    def undo(self) -> None:
        if self._undo:
            self.image = self._undo.pop()
            self.update()
            self.changed.emit()

    def clear(self) -> None:
        if not self.empty:
            self._undo = [*self._undo[-(UNDO_LIMIT - 1):], self.image.copy()]
            self.image.fill(Qt.GlobalColor.white)
            self.update()
            self.changed.emit()

    def mousePressEvent(self, e: QMouseEvent) -> None:
        if e.button() == Qt.MouseButton.LeftButton:
            self._last = e.position().toPoint()
            self.stroke([self._last])

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        if self._last is not None:
            p = e.position().toPoint()
            # one drag is one undo step: draw the segment onto the snapshot taken at the press
            painter = QPainter(self.image)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            colour = QColor(Qt.GlobalColor.white) if self.eraser else self.colour
            painter.setPen(QPen(colour, self.width * 3 if self.eraser else self.width, Qt.PenStyle.SolidLine,
                                Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
            painter.drawLine(self._last, p)
            painter.end()
            self._last = p
            self.update()

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        if self._last is not None:
            self._last = None
            self.changed.emit()

    def paintEvent(self, e: QPaintEvent) -> None:
        p = QPainter(self)
        p.drawImage(0, 0, self.image)
        p.setPen(QColor("#b0b0b0"))
        p.drawRect(0, 0, SIDE - 1, SIDE - 1)

    def sizeHint(self) -> QSize:
        return QSize(SIDE, SIDE)


class SketchDialog(QDialog):
    """Draw what to look for; OK saves the sketch into `folder` and sets `path`."""

    def __init__(self, folder: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Search by sketch")
        self.folder = Path(folder)
        self.path: Path | None = None
        self.canvas = SketchCanvas()
        tools = QHBoxLayout()
        self.swatches = QButtonGroup(self)
        for i, (name, hex_colour) in enumerate(COLOURS):
            b = QToolButton(checkable=True, autoRaise=False)
            b.setFixedSize(24, 24)
            b.setToolTip(name)
            b.setStyleSheet(f"QToolButton {{ background: {hex_colour}; border: 1px solid #888; border-radius: 3px; }}"
                            f"QToolButton:checked {{ border: 3px solid #3daee9; }}")
            self.swatches.addButton(b, i)
            tools.addWidget(b)
        self.swatches.button(0).setChecked(True)
        self.swatches.idClicked.connect(self._pick)
        self.eraser = QToolButton(text="Eraser", checkable=True)
        self.eraser.toggled.connect(lambda on: setattr(self.canvas, "eraser", on))
        self.undo_button = QToolButton(text="Undo")
        self.undo_button.clicked.connect(self.canvas.undo)
        clear = QToolButton(text="Clear")
        clear.clicked.connect(self.canvas.clear)
        self.size = QSlider(Qt.Orientation.Horizontal, minimum=2, maximum=40, value=self.canvas.width)
        self.size.setMaximumWidth(90)
        self.size.setToolTip("Pen size")
        self.size.valueChanged.connect(lambda v: setattr(self.canvas, "width", v))
        tools.addSpacing(8)
        tools.addWidget(self.size)
        tools.addWidget(self.eraser)
        tools.addWidget(self.undo_button)
        tools.addWidget(clear)
        tools.addStretch(1)
        QShortcut(QKeySequence.StandardKey.Undo, self, activated=self.canvas.undo)
        hint = QLabel("Draw what you are looking for; the sketch joins the search as an image, next to any "
                      "words you type (e.g. +beach).")
        hint.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Search with this sketch")
        self.ok.setEnabled(False)
        self.canvas.changed.connect(lambda: self.ok.setEnabled(not self.canvas.empty))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addLayout(tools)
        col.addWidget(self.canvas, 0, Qt.AlignmentFlag.AlignHCenter)
        col.addWidget(hint)
        col.addWidget(buttons)

    def _pick(self, i: int) -> None:
        self.canvas.colour = QColor(COLOURS[i][1])
        self.eraser.setChecked(False)

    def accept(self) -> None:
        if self.canvas.empty:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"sketch-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6:06d}.png"
        if not self.canvas.image.save(str(path), "PNG"):
            self.ok.setText("Could not save the sketch")
            return
        self.path = path
        super().accept()
