"""The thumbnail grid: a QListView in icon mode with a delegate that draws photos, not icons."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent, QPainter, QPainterPath, QPalette, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from .gallery_model import MarksRole, PhotoRole, ScoreRole, ThumbErrorRole, media_badges
from .settings import THUMB_MAX, THUMB_MIN

PAD = 5  # around each photo inside its cell
ZOOM_STEP = 16
FAVOURITE_KEY = -1  # mark_requested's value for the favourite key


class ThumbnailDelegate(QStyledItemDelegate):
    """A photo fitted in a square cell, a rounded highlight when selected, the score when searching."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.size = 160
        self.show_scores = False
        self._broken: QPixmap | None = None

    def cell(self) -> QSize:
        return QSize(self.size + 2 * PAD, self.size + 2 * PAD)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.cell()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = option.palette
        rect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            hl = QColor(palette.color(QPalette.ColorRole.Highlight))
            hl.setAlpha(110)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(hl)
            painter.drawRoundedRect(QRectF(rect).adjusted(1, 1, -1, -1), 6, 6)
        inner = rect.adjusted(PAD, PAD, -PAD, -PAD)
        photo_rect = inner
        pm = _data(index, Qt.ItemDataRole.DecorationRole)
        if isinstance(pm, QPixmap) and not pm.isNull():
            target = photo_rect = _fit(pm.size() / pm.devicePixelRatio(), inner)
            if target.size() != pm.size():
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            clip = QPainterPath()
            clip.addRoundedRect(QRectF(target), 3, 3)
            painter.setClipPath(clip)
            painter.drawPixmap(target, pm)
            painter.setClipping(False)
        else:
            self._placeholder(painter, inner, palette, broken=_data(index, ThumbErrorRole) is not None)
        if selected:
            pen = painter.pen()
            pen.setColor(palette.color(QPalette.ColorRole.Highlight))
            pen.setWidth(2)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(rect).adjusted(2, 2, -2, -2), 6, 6)
        score = _data(index, ScoreRole)
        if self.show_scores and score is not None and self.size >= 96:
            self._badge(painter, photo_rect, f"{score:.2f}")
        photo = _data(index, PhotoRole)
        video, raw = media_badges(photo) if photo is not None and self.size >= 64 else ("", "")
        lift = shift = 0.0
        if video:  # a video: its length (and where the search matched it), bottom left
            lift = self._badge(painter, photo_rect, video, left=True).height() + 3  # stars go above it
        marks = _data(index, MarksRole)
        if marks:
            shift = self._marks(painter, photo_rect, *marks, lift=lift)
        if raw:  # top right, left of a favourite's heart
            self._badge(painter, photo_rect, raw, top=True, shift=shift)
        painter.restore()

    def _marks(self, painter: QPainter, photo: QRect, stars: int, favourite: bool, lift: float = 0.0) -> float:
        """Stars at the bottom left (`lift` higher above a video's length), a heart at the top right: the
        hand-made marks (core.organize). Returns the width the heart takes at the top right (0 if none)."""
        font = QFont(painter.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * (0.9 if self.size >= 96 else 0.7)))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        h = metrics.height() + 2
        painter.setPen(Qt.PenStyle.NoPen)
        if stars:
            text = "\u2605" * stars
            w = metrics.horizontalAdvance(text) + 8
            box = QRectF(photo.left() + 3, photo.bottom() - h - 3 - lift, w, h)
            painter.setBrush(QColor(0, 0, 0, 150))
            painter.drawRoundedRect(box, h / 2, h / 2)
            painter.setPen(QColor(255, 200, 40))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
            painter.setPen(Qt.PenStyle.NoPen)
        if favourite:
            box = QRectF(photo.right() - h - 3, photo.top() + 3, h, h)
            painter.setBrush(QColor(0, 0, 0, 150))
            painter.drawEllipse(box)
            painter.setPen(QColor(255, 80, 110))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, "\u2665")
            return h + 3
        return 0.0

    def _placeholder(self, painter: QPainter, inner: QRect, palette: QPalette, broken: bool) -> None:
        side = int(min(inner.width(), inner.height()) * 0.8)
        box = QRect(0, 0, side, side)
        box.moveCenter(inner.center())
        base = QColor(palette.color(QPalette.ColorRole.Mid))
        base.setAlpha(60)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(base)
        painter.drawRoundedRect(QRectF(box), 4, 4)
        if broken:
            if self._broken is None:
                self._broken = self.parent().style().standardIcon(  # type: ignore[union-attr]
                    QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(32, 32)
            icon = QRect(0, 0, 32, 32)
            icon.moveCenter(box.center())
            painter.drawPixmap(icon, self._broken)

    def _badge(self, painter: QPainter, inner: QRect, text: str, left: bool = False, top: bool = False,
               shift: float = 0.0) -> QRectF:
        """A rounded label in a corner of the photo (`shift` further in from a right-hand corner)."""
        font = QFont(painter.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + 10, metrics.height() + 2
        box = QRectF(inner.left() + 3 if left else inner.right() - w - 3 - shift,
                     inner.top() + 3 if top else inner.bottom() - h - 3, w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(box, h / 2, h / 2)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        return box


def _data(index: QModelIndex | QPersistentModelIndex, role: int):
    """The model's own data(): QModelIndex.data() would convert a missing value through an invalid
    QVariant, which PySide6 6.12 turns into None without a reference (see qtcompat)."""
    return index.model().data(index, role)


def _fit(size: QSize, box: QRect) -> QRect:
    s = size.scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
    if size.width() <= box.width() and size.height() <= box.height():
        s = size  # never blow a small picture up
    r = QRect(0, 0, s.width(), s.height())
    r.moveCenter(box.center())
    return r


class GalleryView(QListView):
    """The grid. Uniform cells and batched layout keep 50,000 photos smooth; Ctrl+wheel zooms."""

    zoom_requested = Signal(int)  # the new thumbnail size
    mark_requested = Signal(int)  # keys 0-5: rate the selection; FAVOURITE_KEY ("."): favourite it

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.delegate = ThumbnailDelegate(self)
        self.setItemDelegate(self.delegate)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setWrapping(True)
        self.setSpacing(0)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setDragEnabled(False)
        self.setAcceptDrops(False)
        self.setMouseTracking(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setFrameShape(QListView.Shape.NoFrame)
        # Always shown, so the column count never flips as the scroll bar comes and goes.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.set_thumbnail_size(self.delegate.size)

    def set_thumbnail_size(self, px: int) -> None:
        self.delegate.size = px
        self.setIconSize(QSize(px, px))
        self.verticalScrollBar().setSingleStep(max(20, px // 4))
        self._fit_grid()

    def _fit_grid(self) -> None:
        """Share the row's spare width out between the columns, so the grid fills the view evenly."""
        cell = self.delegate.cell()
        width = self.viewport().width()
        columns = max(1, width // cell.width())
        grid = QSize(max(cell.width(), width // columns), cell.height())
        if grid != self.gridSize():
            self.setGridSize(grid)

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        self._fit_grid()

    def visible_rows(self) -> range:
        """The rows whose cells intersect the viewport (those painted, hence asked for thumbnails)."""
        model = self.model()
        if model is None or model.rowCount() == 0:
            return range(0)
        area = self.viewport().rect()
        first = self.indexAt(area.topLeft() + QPoint(2, 2))
        start = first.row() if first.isValid() else 0
        end = start
        n = model.rowCount()
        while end < n:
            rect = self.visualRect(model.index(end, 0))
            if rect.top() >= area.bottom():
                break
            end += 1
        return range(start, end)

    def keyPressEvent(self, e: QKeyEvent) -> None:
        plain = not e.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if plain and Qt.Key.Key_0 <= e.key() <= Qt.Key.Key_5:
            self.mark_requested.emit(int(e.key() - Qt.Key.Key_0))
        elif plain and e.key() == Qt.Key.Key_Period:
            self.mark_requested.emit(FAVOURITE_KEY)
        else:
            super().keyPressEvent(e)  # (a digit would otherwise jump to a file name starting with it)
            return
        e.accept()

    def wheelEvent(self, e: QWheelEvent) -> None:
        if e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = e.angleDelta().y() / 120
            if steps:
                size = int(max(THUMB_MIN, min(THUMB_MAX, self.delegate.size + steps * ZOOM_STEP)))
                self.zoom_requested.emit(size)
            e.accept()
            return
        super().wheelEvent(e)

