"""The viewer's picture: fitted to the window or zoomed (wheel around the pointer, 1:1 actual pixels) and
panned by dragging; a box dragged across it marks a part for "find this part"; faces and the lines of
text read in it are outlined. Zoom is kept in the photo's own pixels, so the fitted preview and the
full-resolution picture that replaces it for 1:1 show the same place."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QPolygon,
    QPolygonF,
    QRegion,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

ZOOM_STEP = 1.25  # one wheel notch or one +/- press
MAX_SCALE = 16.0  # 16 screen pixels per photo pixel
CLICK_SLOP = 4  # a press that moves less than this is a click, not a pan

# What the mouse does on the picture, for the keyboard help (gui/shortcuts_dialog.py).
MOUSE = (
    ("Wheel", "Zoom in or out around the pointer"),
    ("Double-click", "Switch between fit and 1:1 (actual pixels); on a video: play it"),
    ("Drag", "Pan the zoomed photo; at fit, mark a part of it for \u201cFind this part\u201d"),
    ("Shift+Drag", "Mark a part of the photo even when zoomed"),
)


class ImageCanvas(QWidget):
    """Paints one picture fitted to the widget (or zoomed), or a message. Dragging across the picture at
    fit marks a part of it (a box, kept as fractions of the picture) for "find this part"."""

    box_changed = Signal(object)  # (left, top, right, bottom) fractions, or None
    play_requested = Signal()  # a double click on a video's poster
    text_clicked = Signal(int)  # the index of the line of text whose outline was clicked
    zoom_changed = Signal()  # the scale or fit changed (`scale`, `fitted`)

    MIN_BOX_PX = 12  # a smaller drag is a click: it clears the box

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.pixmap: QPixmap | None = None
        self.message = ""
        self.box: tuple[float, float, float, float] | None = None
        self.video = False  # the picture is a video's poster frame: a play sign is drawn over it
        self.faces: list[tuple[tuple[float, float, float, float], str | None, int]] = []  # outlined, named
        self._drag: tuple[QPoint, QPoint] | None = None
        self._pan: tuple[QPoint, QPoint, bool] | None = None  # (press, last, moved)
        self.text_boxes: list[tuple[tuple[float, float], ...]] = []  # quadrilaterals, fractions of the picture
        self.highlighted: set[int] = set()
        self.full_size = QSize()  # the photo's own size in pixels (the pixmap may be a smaller preview)
        self._scale: float | None = None  # photo pixels -> device pixels; None: fitted to the widget
        self._center = QPointF()  # the photo pixel at the middle of the widget, when zoomed
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 150)
        self.cursor_hidden = False  # a slideshow hides the pointer
        self.update_cursor()

    # -- the picture ------------------------------------------------------------------------------

    def set_image(self, image: QImage | None, message: str = "", full_size: QSize | None = None,
                  keep_view: bool = False) -> None:
        """Show `image` (a preview of a photo of `full_size` pixels, or the photo itself). `keep_view`:
        the same photo in another resolution, so zoom, pan, box and outlines stay."""
        self.pixmap = QPixmap.fromImage(image) if image is not None else None
        self.message = message
        size = full_size if full_size is not None and not full_size.isEmpty() else (
            image.size() if image is not None else QSize())
        same = keep_view and size == self.full_size and self.pixmap is not None
        self.full_size = QSize(size)
        if not same:
            self.faces = []
            self.set_box(None)
            self._scale, self._drag, self._pan = None, None, None
            self.zoom_changed.emit()
        self.update_cursor()
        self.update()

    def set_faces(self, faces: list[tuple[tuple[float, float, float, float], str | None, int]]) -> None:
        self.faces = list(faces)
        self.update()

    def set_box(self, box: tuple[float, float, float, float] | None) -> None:
        if box != self.box:
            self.box = box
            self.box_changed.emit(box)
        self.update()

    def set_text_boxes(self, boxes: list[tuple[tuple[float, float], ...]]) -> None:
        self.text_boxes, self.highlighted = list(boxes), set()
        self.update()

    def set_highlighted(self, indices) -> None:
        self.highlighted = set(indices)
        self.update()

    def _has_picture(self) -> bool:
        return self.pixmap is not None and not self.pixmap.isNull() and not self.full_size.isEmpty()

    # -- zoom and pan -----------------------------------------------------------------------------

    @property
    def fitted(self) -> bool:
        return self._scale is None

    def fit_scale(self) -> float:
        """Photo pixels -> device pixels that fits the whole photo in the widget."""
        if not self._has_picture():
            return 1.0
        dpr = self.devicePixelRatioF()
        return min(self.width() * dpr / self.full_size.width(), self.height() * dpr / self.full_size.height())

    @property
    def scale(self) -> float:
        """Device pixels per photo pixel now (1.0: actual pixels)."""
        return self.fit_scale() if self._scale is None else self._scale

    def _logical(self) -> float:
        return self.scale / self.devicePixelRatioF()

    def fit(self) -> None:
        if self._scale is not None:
            self._scale = None
            self._changed()

    def actual_size(self, anchor: QPointF | None = None) -> None:
        """1:1: one photo pixel on one screen pixel, keeping the photo point under `anchor` in place."""
        self.zoom_to(1.0, anchor)

    def toggle_actual_size(self, anchor: QPointF | None = None) -> None:
        if self.fitted:
            self.actual_size(anchor)
        else:
            self.fit()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        self.zoom_to(self.scale * factor, anchor)

    def zoom_to(self, scale: float, anchor: QPointF | None = None) -> None:
        """Zoom so that the photo point under `anchor` (widget coordinates; the middle by default) stays put.
        Zooming out to the fitted size fits the photo again; never smaller than fit or 1:1, whichever is less."""
        if not self._has_picture():
            return
        fit = self.fit_scale()
        scale = max(min(fit, 1.0), min(scale, max(MAX_SCALE, fit)))  # a small photo may go down to 1:1
        if abs(scale - fit) <= fit * 1e-3:
            self.fit()
            return
        anchor = QPointF(anchor) if anchor is not None else QPointF(self.rect().center())
        point = self.photo_point(anchor)
        self._scale = scale
        middle = QPointF(self.width() / 2, self.height() / 2)
        self._center = point - (anchor - middle) / self._logical()
        self._clamp()
        self._changed()

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the photo by (dx, dy) widget pixels (a drag to the right shows more of the left)."""
        if self._scale is None:
            return
        self._center -= QPointF(dx, dy) / self._logical()
        self._clamp()
        self.update()

    def can_pan(self) -> bool:
        if self._scale is None or not self._has_picture():
            return False
        s = self._logical()
        return self.full_size.width() * s > self.width() + 0.5 or self.full_size.height() * s > self.height() + 0.5

    def photo_point(self, pos: QPointF) -> QPointF:
        """The photo pixel (in its own size) shown at widget position `pos`."""
        pic = self._picture_rectf()
        if pic.isEmpty():
            return QPointF()
        return QPointF((pos.x() - pic.left()) * self.full_size.width() / pic.width(),
                       (pos.y() - pic.top()) * self.full_size.height() / pic.height())

    def _clamp(self) -> None:
        """Keep the photo on screen: no empty margin beside a photo larger than the widget; a smaller one
        stays centred."""
        s = self._logical()
        half_w, half_h = self.width() / (2 * s), self.height() / (2 * s)
        w, h = self.full_size.width(), self.full_size.height()
        x = w / 2 if w <= 2 * half_w else min(max(self._center.x(), half_w), w - half_w)
        y = h / 2 if h <= 2 * half_h else min(max(self._center.y(), half_h), h - half_h)
        self._center = QPointF(x, y)

    def _changed(self) -> None:
        self.update_cursor()
        self.update()
        self.zoom_changed.emit()

    def update_cursor(self) -> None:
        if self.cursor_hidden:
            self.setCursor(Qt.CursorShape.BlankCursor)
        else:
            self.setCursor(Qt.CursorShape.OpenHandCursor if self.can_pan() else Qt.CursorShape.CrossCursor)

    def _picture_rectf(self) -> QRectF:
        if not self._has_picture():
            return QRectF()
        if self._scale is None:
            size = self.full_size.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            rect = QRectF(0, 0, size.width(), size.height())
            rect.moveCenter(QPointF(self.width() / 2, self.height() / 2))
            return rect
        s = self._logical()
        w, h = self.full_size.width() * s, self.full_size.height() * s
        return QRectF(self.width() / 2 - self._center.x() * s, self.height() / 2 - self._center.y() * s, w, h)

    def picture_rect(self) -> QRect:
        """Where the whole picture is painted (fitted and centred, or zoomed: larger than the widget);
        empty without a picture."""
        return self._picture_rectf().toRect()

    def resizeEvent(self, e: QResizeEvent) -> None:
        if self._scale is not None:
            self._clamp()
        self.update_cursor()
        super().resizeEvent(e)
        self.zoom_changed.emit()  # the fitted scale changes with the size

    # -- outlines ---------------------------------------------------------------------------------

    def _text_polygon(self, quad, pic: QRect) -> QPolygonF:
        return QPolygonF([QPointF(pic.left() + x * pic.width(), pic.top() + y * pic.height()) for x, y in quad])

    def text_at(self, pos: QPoint) -> int | None:
        pic = self.picture_rect()
        for i, quad in enumerate(self.text_boxes):
            if self._text_polygon(quad, pic).containsPoint(QPointF(pos), Qt.FillRule.OddEvenFill):
                return i
        return None

    # -- mouse ------------------------------------------------------------------------------------

    def wheelEvent(self, e: QWheelEvent) -> None:
        steps = e.angleDelta().y() / 120
        if steps and self._has_picture():
            self.zoom_by(ZOOM_STEP ** steps, e.position())
            e.accept()
        else:
            super().wheelEvent(e)

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:
        pos = e.position().toPoint()
        if self.video and self.fitted and self.picture_rect().contains(pos):
            self.play_requested.emit()
        elif e.button() == Qt.MouseButton.LeftButton and self._has_picture():
            self._drag = self._pan = None
            self.toggle_actual_size(e.position())
        else:
            super().mouseDoubleClickEvent(e)

    def mousePressEvent(self, e: QMouseEvent) -> None:
        pos = e.position().toPoint()
        shift = bool(e.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        pan = (e.button() == Qt.MouseButton.MiddleButton
               or e.button() == Qt.MouseButton.LeftButton and not shift) and self.can_pan()
        if pan:
            self._pan = (pos, pos, False)
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif e.button() == Qt.MouseButton.LeftButton and self.picture_rect().contains(pos):
            self._drag = (pos, pos)
            self.update()
        else:
            super().mousePressEvent(e)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        pos = e.position().toPoint()
        if self._pan is not None:
            start, last, moved = self._pan
            self.pan_by(pos.x() - last.x(), pos.y() - last.y())
            self._pan = (start, pos, moved or (pos - start).manhattanLength() >= CLICK_SLOP)
        elif self._drag is not None:
            self._drag = (self._drag[0], pos)
            self.update()
        else:
            super().mouseMoveEvent(e)

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        end = e.position().toPoint()
        if self._pan is not None:
            moved = self._pan[2] or (end - self._pan[0]).manhattanLength() >= CLICK_SLOP
            self._pan = None
            self.update_cursor()
            if not moved:  # a click on a zoomed photo: it selects a line of text, as at fit
                self._click(end)
            return
        if self._drag is None:
            return super().mouseReleaseEvent(e)
        start = self._drag[0]
        self._drag = None
        pic = self.picture_rect()
        rect = QRect(start, end).normalized().intersected(pic)
        if rect.width() < self.MIN_BOX_PX or rect.height() < self.MIN_BOX_PX:
            self.set_box(None)
            self._click(end)
            return
        w, h = pic.width(), pic.height()
        self.set_box((round((rect.left() - pic.left()) / w, 4), round((rect.top() - pic.top()) / h, 4),
                      round((rect.right() + 1 - pic.left()) / w, 4), round((rect.bottom() + 1 - pic.top()) / h, 4)))

    def _click(self, pos: QPoint) -> None:
        line = self.text_at(pos)
        if line is not None:
            self.text_clicked.emit(line)

    def _box_rect(self) -> QRect | None:
        pic = self.picture_rect()
        if self._drag is not None:
            return QRect(*self._drag).normalized().intersected(pic)
        if self.box is None or pic.isEmpty():
            return None
        left, top, right, bottom = self.box
        return QRect(QPoint(pic.left() + round(left * pic.width()), pic.top() + round(top * pic.height())),
                     QPoint(pic.left() + round(right * pic.width()) - 1, pic.top() + round(bottom * pic.height()) - 1))

    # -- painting ---------------------------------------------------------------------------------

    def paintEvent(self, e: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 24))
        if self.pixmap is not None and not self.pixmap.isNull():
            target = self.picture_rect()
            self._paint_picture(p)
            self._paint_text(p, target)
            self._paint_faces(p, target)
            box = self._box_rect()
            if box is not None and not box.isEmpty():
                outside = QRegion(target).subtracted(QRegion(box))
                p.setClipRegion(outside)
                p.fillRect(target, QColor(0, 0, 0, 110))  # dim what is not in the box
                p.setClipping(False)
                p.setPen(QPen(QColor(255, 255, 255), 2, Qt.PenStyle.DashLine))
                p.drawRect(box)
            if self.video and self.fitted:
                self._play_sign(p, target)
        elif self.message:
            p.setPen(QColor(220, 220, 220))
            p.drawText(self.rect().adjusted(20, 20, -20, -20),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)

    def _paint_picture(self, p: QPainter) -> None:
        """Only the part of the pixmap that is on screen is scaled (a 16x zoom of a 50 MP photo stays cheap);
        from 2 screen pixels per pixmap pixel up, pixels are drawn sharp, as viewers show them."""
        assert self.pixmap is not None
        pic = self._picture_rectf()
        visible = pic.intersected(QRectF(self.rect()))
        if visible.isEmpty():
            return
        kx, ky = self.pixmap.width() / pic.width(), self.pixmap.height() / pic.height()
        source = QRectF((visible.left() - pic.left()) * kx, (visible.top() - pic.top()) * ky,
                        visible.width() * kx, visible.height() * ky)
        smooth = pic.width() * self.devicePixelRatioF() < 2 * self.pixmap.width()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        p.drawPixmap(visible, self.pixmap, source)

    def _play_sign(self, p: QPainter, target: QRect) -> None:
        r = max(18, min(target.width(), target.height()) // 10)
        c = target.center()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 140))
        p.drawEllipse(c, r, r)
        p.setBrush(QColor(255, 255, 255, 230))
        k = r // 2
        p.drawPolygon(QPolygon([QPoint(c.x() - k + k // 3, c.y() - k), QPoint(c.x() - k + k // 3, c.y() + k),
                                QPoint(c.x() + k + k // 3, c.y())]))

    def _paint_text(self, p: QPainter, target: QRect) -> None:
        """Every line read outlined thinly; the selected ones filled, so they stand out."""
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        for i, quad in enumerate(self.text_boxes):
            poly = self._text_polygon(quad, target)
            if i in self.highlighted:
                p.setBrush(QColor(255, 210, 0, 90))
                p.setPen(QPen(QColor(255, 210, 0), 2.5))
            else:
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.setPen(QPen(QColor(255, 210, 0, 170), 1.2))
            p.drawPolygon(poly)
        p.setBrush(Qt.BrushStyle.NoBrush)

    def _paint_faces(self, p: QPainter, pic: QRect) -> None:
        for (left, top, right, bottom), name, _ in self.faces:
            rect = QRect(QPoint(pic.left() + round(left * pic.width()), pic.top() + round(top * pic.height())),
                         QPoint(pic.left() + round(right * pic.width()), pic.top() + round(bottom * pic.height())))
            p.setPen(QPen(QColor(255, 210, 60) if name else QColor(255, 255, 255, 200), 2))
            p.drawRect(rect)
            if name:
                metrics = p.fontMetrics()
                label = QRect(rect.left(), rect.bottom() + 2, metrics.horizontalAdvance(name) + 10,
                              metrics.height() + 4)
                p.fillRect(label, QColor(0, 0, 0, 170))
                p.setPen(QColor(255, 210, 60))
                p.drawText(label, Qt.AlignmentFlag.AlignCenter, name)

    def sizeHint(self) -> QSize:
        return QSize(960, 720)
