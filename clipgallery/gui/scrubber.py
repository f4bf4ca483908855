"""The timeline's scrubber: a strip at the grid's right edge with the years along it; click or drag
to jump through the years and months, a bubble names the month under the pointer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QPoint, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPalette
from PySide6.QtWidgets import QLabel, QWidget

WIDTH = 52
MARGIN = 10  # above and below the track


@dataclass(frozen=True)
class Mark:
    """A point of the track: a fraction of the content's height, and what starts there."""

    at: float  # 0..1
    year: int
    month: int
    new_year: bool  # the first mark of its year: labelled


class Scrubber(QWidget):
    """Calls `scrubbed(fraction)` while pressed or dragged, and `year_clicked(year)` for a click on a year."""

    def __init__(self, parent: QWidget, label_at: Callable[[float], str], scrubbed: Callable[[float], None],
                 year_clicked: Callable[[int], None]):
        """`label_at(fraction)` names the section at that point of the content (for the bubble)."""
        super().__init__(parent)
        self.label_at, self.scrubbed, self.year_clicked = label_at, scrubbed, year_clicked
        self.marks: list[Mark] = []
        self.band = (0.0, 1.0)  # the part of the content in view, as fractions
        self.dragging = False
        self.setFixedWidth(WIDTH)
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("")
        # The bubble belongs to the grid, so it can reach over the photos to the left of the strip.
        self.bubble = QLabel(parent)
        self.bubble.setObjectName("scrubber-bubble")
        self.bubble.setStyleSheet("QLabel#scrubber-bubble { background: palette(highlight); "
                                  "color: palette(highlighted-text); border-radius: 10px; padding: 3px 10px; "
                                  "font-weight: bold; }")
        self.bubble.hide()

    # -- state ------------------------------------------------------------------------------------

    def set_marks(self, marks: list[Mark]) -> None:
        self.marks = marks
        self.update()

    def set_band(self, top: float, bottom: float) -> None:
        if (top, bottom) != self.band:
            self.band = (top, bottom)
            self.update()

    def year_positions(self) -> list[tuple[int, float]]:
        """(year, y in this widget) of each labelled year: where a click jumps to that year."""
        out: list[tuple[int, float]] = []
        min_gap = self.fontMetrics().height() + 2
        for m in self.marks:
            if m.new_year:
                y = self._y(m.at)
                if not out or y - out[-1][1] >= min_gap:  # years too close to tell apart keep only their tick
                    out.append((m.year, y))
        return out

    def fraction_at(self, y: float) -> float:
        track = max(1.0, self.height() - 2 * MARGIN)
        return min(1.0, max(0.0, (y - MARGIN) / track))

    def _y(self, fraction: float) -> float:
        return MARGIN + fraction * max(1.0, self.height() - 2 * MARGIN)

    # -- painting ---------------------------------------------------------------------------------

    def paintEvent(self, e) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = QColor(pal.color(QPalette.ColorRole.WindowText))
        faint = QColor(text)
        faint.setAlpha(70)
        x = self.width() - 8
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(faint)
        for m in self.marks:  # a dot per month
            p.drawEllipse(QRectF(x - 1.5, self._y(m.at) - 1.5, 3, 3))
        font = QFont(p.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        p.setPen(text)
        h = p.fontMetrics().height()
        for year, y in self.year_positions():
            p.drawText(QRectF(0, y - h / 2, self.width() - 14, h), Qt.AlignmentFlag.AlignRight
                       | Qt.AlignmentFlag.AlignVCenter, str(year))
        hl = QColor(pal.color(QPalette.ColorRole.Highlight))
        top, bottom = self._y(self.band[0]), self._y(self.band[1])
        hl.setAlpha(200)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(hl)
        p.drawRoundedRect(QRectF(self.width() - 4, top, 3, max(4.0, bottom - top)), 1.5, 1.5)
        p.end()

    # -- mouse ------------------------------------------------------------------------------------

    def mousePressEvent(self, e: QMouseEvent) -> None:
        if e.button() != Qt.MouseButton.LeftButton:
            return
        y = e.position().y()
        h = self.fontMetrics().height()
        for year, at in self.year_positions():
            if abs(y - at) <= h / 2 + 1:
                self.year_clicked(year)
                self._show_bubble(y)
                return
        self.dragging = True
        self.scrubbed(self.fraction_at(y))
        self._show_bubble(y)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        y = e.position().y()
        if self.dragging:
            self.scrubbed(self.fraction_at(y))
        self._show_bubble(y)

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        self.dragging = False
        self.bubble.hide()

    def leaveEvent(self, e) -> None:
        if not self.dragging:
            self.bubble.hide()

    def _show_bubble(self, y: float) -> None:
        label = self.label_at(self.fraction_at(y))
        if not label:
            self.bubble.hide()
            return
        self.bubble.setText(label)
        self.bubble.adjustSize()
        at = self.mapTo(self.parentWidget(), QPoint(0, int(y)))
        self.bubble.move(at.x() - self.bubble.width() - 6, max(0, at.y() - self.bubble.height() // 2))
        self.bubble.show()
        self.bubble.raise_()
