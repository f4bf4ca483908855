"""The thumbnail grid: a flat grid or a date-grouped timeline of cells, a delegate that draws photos, not icons."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPalette,
    QPixmap,
    QRegion,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QRubberBand,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionRubberBand,
    QStyleOptionViewItem,
    QWidget,
)

from .gallery_model import MarksRole, PhotoRole, ScoreRole, ThumbErrorRole, media_badges
from .scrubber import WIDTH as SCRUBBER_WIDTH
from .scrubber import Mark, Scrubber
from .settings import THUMB_MAX, THUMB_MIN
from .timeline import MONTHS, GridLayout, Section, date_sections, granularity

PAD = 5  # around each photo inside its cell
ZOOM_STEP = 16
FAVOURITE_KEY = -1  # mark_requested's value for the favourite key
SECTION_GAP = 8  # below a section's last row of photos
HEADER_INDENT = 12
TIMELINE_SORTS = ("date", "oldest")  # orders shown as a timeline


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


class GalleryView(QAbstractItemView):
    """The grid: a flat grid of uniform cells, or a timeline (photos sorted by date, grouped by
    month or day under headers, the current one pinned at the top, a scrubber at the right edge).

    Laid out by timeline.GridLayout (section arrays, no per-photo geometry) and painted cell by
    visible cell, so 100,000 photos scroll as smoothly as 100. Ctrl+wheel zooms."""

    zoom_requested = Signal(int)  # the new thumbnail size
    mark_requested = Signal(int)  # keys 0-5: rate the selection; FAVOURITE_KEY ("."): favourite it
    layout_changed = Signal()  # sections or geometry recomputed (tests, screenshots)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        # Everything the overrides read is set before the first Qt call, which may call them: an
        # exception inside a virtual called from C++ corrupts PySide 6.11's memory (a crash later).
        self.delegate = ThumbnailDelegate(self)
        self.timeline = False  # group by date (the main window turns it on for date-sorted photos)
        self.granularity = "month"
        self.sections: list[Section] = []
        self.grid = GridLayout([], 1, 1, 1, 0)
        self._sections_stale = True
        self._rubber: QRect | None = None
        self._press: QPoint | None = None  # content coordinates of a left press (rubber band)
        self.scrubber = Scrubber(self, self._label_at_fraction, self.scroll_to_fraction, self.scroll_to_year)
        self.scrubber.hide()
        self.setItemDelegate(self.delegate)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setDragEnabled(False)
        self.setAcceptDrops(False)
        self.setMouseTracking(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setFrameShape(QAbstractItemView.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Always shown, so the column count never flips as the scroll bar comes and goes.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.verticalScrollBar().valueChanged.connect(self._scrolled)
        self.set_thumbnail_size(self.delegate.size)

    # -- what is shown --------------------------------------------------------------------------

    def setModel(self, model) -> None:  # noqa: N802 (Qt's name)
        super().setModel(model)
        for sig in (model.modelReset, model.rowsInserted, model.rowsRemoved, model.layoutChanged):
            sig.connect(self._model_changed)
        self._relayout(sections=True)

    def _model_changed(self, *args) -> None:
        self._relayout(sections=True)

    def set_timeline(self, on: bool) -> None:
        """Group by date (the photos are in date order) or show one flat grid."""
        if on != self.timeline:
            self.timeline = on
            self._relayout(sections=True)

    def set_thumbnail_size(self, px: int) -> None:
        anchor = self._top_row()
        self.delegate.size = px
        self.setIconSize(QSize(px, px))
        by = granularity(self._count(), px)
        self._relayout(sections=self.timeline and by != self.granularity)
        self._keep_at_top(anchor)

    def gridSize(self) -> QSize:  # noqa: N802 (QListView's name, kept for callers)
        return QSize(self.grid.cell_w, self.grid.cell_h)

    def header_height(self) -> int:
        return self.fontMetrics().height() + 22 if self.sections else 0

    def _count(self) -> int:
        model = self.model()
        return model.rowCount() if model is not None else 0

    def _dates(self) -> np.ndarray:
        model = self.model()
        photos = getattr(model, "photos", None)
        if photos is None:
            photos = [_data(model.index(r, 0), PhotoRole) for r in range(model.rowCount())]
        return np.fromiter((np.nan if p is None or p.date is None else p.date for p in photos),
                           dtype=np.float64, count=len(photos))

    def _relayout(self, sections: bool = False) -> None:
        """Recompute the sections (the photos or the grouping changed) and the geometry (always)."""
        n = self._count()
        if sections or self._sections_stale:
            self._sections_stale = False
            if self.timeline and n:
                self.granularity = granularity(n, self.delegate.size)
                self.sections = date_sections(self._dates(), self.granularity)
            else:
                self.sections = []
        cell = self.delegate.cell()
        self.scrubber.setVisible(bool(self.sections))
        if not self.sections:
            self.scrubber.bubble.hide()
        margin = SCRUBBER_WIDTH if self.sections else 0
        if self.viewportMargins().right() != margin:
            self.setViewportMargins(0, 0, margin, 0)
        width = max(1, self.viewport().width())
        columns = max(1, width // cell.width())
        counts = [s.count for s in self.sections] if self.sections else ([n] if n else [])
        self.grid = GridLayout(counts, columns, max(cell.width(), width // columns), cell.height(),
                               self.header_height(), SECTION_GAP if self.sections else 0)
        self._place_scrubber()
        self.scrubber.set_marks(self._marks())
        self._update_scroll_range()
        self._update_band()
        self.viewport().update()
        self.layout_changed.emit()

    def _marks(self) -> list[Mark]:
        total = max(1, self.grid.height)
        out, seen_year, seen_month = [], None, None
        for i, s in enumerate(self.sections):
            if s.year is None or (s.year, s.month) == seen_month:
                continue
            out.append(Mark(self.grid.section_top(i) / total, s.year, s.month or 1, s.year != seen_year))
            seen_year, seen_month = s.year, (s.year, s.month)
        return out

    def _place_scrubber(self) -> None:
        vp = self.viewport().geometry()
        self.scrubber.setGeometry(vp.right() + 1, vp.top(), SCRUBBER_WIDTH, vp.height())

    # -- geometry (QAbstractItemView) -------------------------------------------------------------

    def _cell_rect(self, row: int) -> QRect:
        """The row's cell in viewport coordinates, the delegate's square centred in its grid cell."""
        x, y = self.grid.cell(row)
        cell = self.delegate.cell()
        return QRect(x + (self.grid.cell_w - cell.width()) // 2, y - self.verticalOffset(), cell.width(),
                     cell.height())

    def visualRect(self, index) -> QRect:  # noqa: N802
        if not index.isValid() or index.row() >= self.grid.n:
            return QRect()
        return self._cell_rect(index.row())

    def indexAt(self, point: QPoint) -> QModelIndex:  # noqa: N802
        row = self.grid.row_at(point.x(), point.y() + self.verticalOffset())
        model = self.model()
        return model.index(row, 0) if row is not None and model is not None else QModelIndex()

    def scrollTo(self, index, hint=QAbstractItemView.ScrollHint.EnsureVisible) -> None:  # noqa: N802
        if not index.isValid() or index.row() >= self.grid.n:
            return
        row = index.row()
        _, y = self.grid.cell(row)
        s = self.grid.section_of_row(row)
        top = y - self.grid.header_h  # below the pinned header
        if row - int(self.grid.starts[s]) < self.grid.columns:
            top = self.grid.section_top(s)  # a first line: show its header too
        bottom, offset, h = y + self.grid.cell_h, self.verticalOffset(), self.viewport().height()
        bar = self.verticalScrollBar()
        H = QAbstractItemView.ScrollHint
        if hint == H.PositionAtTop:
            bar.setValue(top)
        elif hint == H.PositionAtBottom:
            bar.setValue(bottom - h)
        elif hint == H.PositionAtCenter:
            bar.setValue((top + bottom - h) // 2)
        elif top < offset:
            bar.setValue(top)
        elif bottom > offset + h:
            bar.setValue(bottom - h)

    def moveCursor(self, action, modifiers) -> QModelIndex:  # noqa: N802
        n, model = self.grid.n, self.model()
        if not n or model is None:
            return QModelIndex()
        cur = self.currentIndex()
        if not cur.isValid():
            return model.index(0, 0)
        row, A = cur.row(), QAbstractItemView.CursorAction
        if action in (A.MoveLeft, A.MovePrevious):
            row -= 1
        elif action in (A.MoveRight, A.MoveNext):
            row += 1
        elif action == A.MoveUp:
            row = self.grid.row_above(row)
        elif action == A.MoveDown:
            row = self.grid.row_below(row)
        elif action == A.MoveHome:
            row = 0
        elif action == A.MoveEnd:
            row = n - 1
        elif action in (A.MovePageUp, A.MovePageDown):
            step = self.viewport().height() * (-1 if action == A.MovePageUp else 1)
            x, y = self.grid.cell(row)
            target = min(max(0, y + step), max(0, self.grid.height - 1))
            rows = self.grid.rows_between(target, target + self.grid.cell_h)
            if len(rows):
                row = min(rows.stop - 1, rows.start + x // self.grid.cell_w)
        return model.index(min(max(0, row), n - 1), 0)

    def horizontalOffset(self) -> int:  # noqa: N802
        return 0

    def verticalOffset(self) -> int:  # noqa: N802
        return self.verticalScrollBar().value()

    def isIndexHidden(self, index) -> bool:  # noqa: N802
        return False

    def setSelection(self, rect: QRect, flags) -> None:  # noqa: N802
        """Select the photos whose cells meet `rect` (viewport coordinates): a click or a rubber band."""
        model, sel = self.model(), self.selectionModel()
        if model is None or sel is None:
            return
        r = rect.normalized().translated(0, self.verticalOffset())
        g = self.grid
        selection = QItemSelection()
        c0 = max(0, r.left() // g.cell_w)
        c1 = min(g.columns - 1, r.right() // g.cell_w)
        rows = g.rows_between(r.top(), r.bottom() + 1)
        if c1 >= c0 and len(rows):
            line_start = rows.start
            while line_start < rows.stop:
                s = g.section_of_row(line_start)
                start, count = int(g.starts[s]), int(g.counts[s])
                first_of_line = start + (line_start - start) // g.columns * g.columns
                a, b = first_of_line + c0, min(first_of_line + c1, start + count - 1)
                if a <= b:
                    selection.select(model.index(a, 0), model.index(b, 0))
                line_start = min(first_of_line + g.columns, start + count)
        sel.select(selection, flags)

    def visualRegionForSelection(self, selection) -> QRegion:  # noqa: N802
        return QRegion(self.viewport().rect())

    def _update_scroll_range(self) -> None:
        bar = self.verticalScrollBar()
        h = self.viewport().height()
        bar.setRange(0, max(0, self.grid.height - h))
        bar.setPageStep(h)
        bar.setSingleStep(max(20, self.delegate.size // 4))

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802
        self.viewport().update()  # the pinned header does not move with the photos: repaint

    # -- sections ---------------------------------------------------------------------------------

    def section_at_top(self) -> int | None:
        """The section under the top edge of the grid (the one whose header is pinned there)."""
        if not self.sections:
            return None
        return self.grid.section_at(self.verticalOffset())

    def scroll_to_section(self, s: int) -> None:
        self.verticalScrollBar().setValue(self.grid.section_top(s))

    def scroll_to_year(self, year: int) -> None:
        """Show the first section of `year` at the top (the newest month when sorted newest first)."""
        for i, s in enumerate(self.sections):
            if s.year == year:
                self.scroll_to_section(i)
                return

    def scroll_to_fraction(self, fraction: float) -> None:
        """The scrubber's drag: the content at this fraction of the timeline's height at the top."""
        self.verticalScrollBar().setValue(int(fraction * self.grid.height))

    def _label_at_fraction(self, fraction: float) -> str:
        if not self.sections:
            return ""
        s = self.sections[self.grid.section_at(fraction * self.grid.height)]
        return s.label if s.year is None or self.granularity == "month" else f"{MONTHS[(s.month or 1) - 1]} {s.year}"

    def _scrolled(self, value: int) -> None:
        self._update_band()

    def _update_band(self) -> None:
        total = max(1, self.grid.height)
        top = self.verticalOffset()
        self.scrubber.set_band(top / total, min(1.0, (top + self.viewport().height()) / total))

    def _top_row(self) -> int | None:
        rows = self.grid.rows_between(self.verticalOffset(), self.verticalOffset() + 1 + self.grid.cell_h)
        return rows.start if len(rows) else None

    def _keep_at_top(self, row: int | None) -> None:
        if row is not None and row < self.grid.n and self.verticalOffset() > 0:
            self.scrollTo(self.model().index(row, 0), QAbstractItemView.ScrollHint.PositionAtTop)

    def visible_rows(self) -> range:
        """The rows whose cells intersect the viewport (those painted, hence asked for thumbnails)."""
        offset = self.verticalOffset()
        return self.grid.rows_between(offset, offset + self.viewport().height())

    # -- painting ---------------------------------------------------------------------------------

    def paintEvent(self, e) -> None:  # noqa: N802
        model, sel = self.model(), self.selectionModel()
        if model is None:
            return
        painter = QPainter(self.viewport())
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        current = self.currentIndex()
        focus = self.hasFocus()
        for row in self.visible_rows():
            index = model.index(row, 0)
            option.rect = self._cell_rect(row)
            option.state = QStyle.StateFlag.State_Enabled
            if sel is not None and sel.isSelected(index):
                option.state |= QStyle.StateFlag.State_Selected
            if focus and index == current:
                option.state |= QStyle.StateFlag.State_HasFocus
            self.delegate.paint(painter, option, index)
        if self.sections:
            self._paint_headers(painter)
        if self._rubber is not None:
            band = QStyleOptionRubberBand()
            band.initFrom(self.viewport())
            band.rect = self._rubber
            band.shape = QRubberBand.Shape.Rectangle
            band.opaque = False
            self.style().drawControl(QStyle.ControlElement.CE_RubberBand, band, painter, self.viewport())
        painter.end()

    def _paint_headers(self, painter: QPainter) -> None:
        g, offset, h = self.grid, self.verticalOffset(), self.viewport().height()
        first = g.section_at(offset)
        s = first
        while s < len(self.sections) and g.section_top(s) < offset + h:
            y = g.section_top(s) - offset
            if s != first or y >= 0:
                self._paint_header(painter, s, y, pinned=False)
            s += 1
        # The pinned header: the top section's, pushed up by the next header as it arrives.
        top = g.section_top(first) - offset
        if top < 0:
            nxt = g.section_top(first + 1) - offset - SECTION_GAP if first + 1 < len(self.sections) else h
            self._paint_header(painter, first, min(0, nxt - g.header_h), pinned=True)

    def _paint_header(self, painter: QPainter, s: int, y: int, pinned: bool) -> None:
        section = self.sections[s]
        rect = QRect(0, y, self.viewport().width(), self.grid.header_h)
        pal = self.palette()
        back = QColor(pal.color(QPalette.ColorRole.Base))
        if pinned:
            back.setAlpha(235)
        painter.fillRect(rect, back)
        if pinned:
            line = QColor(pal.color(QPalette.ColorRole.Mid))
            line.setAlpha(90)
            painter.fillRect(QRect(0, rect.bottom(), rect.width(), 1), line)
        font = QFont(self.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        painter.setFont(font)
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        text_rect = rect.adjusted(HEADER_INDENT, 0, -HEADER_INDENT, 0)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, section.label)
        width = painter.fontMetrics().horizontalAdvance(section.label)
        painter.setFont(self.font())
        muted = QColor(pal.color(QPalette.ColorRole.Text))
        muted.setAlpha(140)
        painter.setPen(muted)
        painter.drawText(text_rect.adjusted(width + 10, 0, 0, 0), Qt.AlignmentFlag.AlignLeft
                         | Qt.AlignmentFlag.AlignVCenter, header_count(section.count))

    def header_rect(self, s: int) -> QRect:
        """Where section s's own header is drawn, in viewport coordinates (it may be off screen)."""
        return QRect(0, self.grid.section_top(s) - self.verticalOffset(), self.viewport().width(), self.grid.header_h)

    # -- events -----------------------------------------------------------------------------------

    def resizeEvent(self, e) -> None:  # noqa: N802
        anchor = self._top_row()
        super().resizeEvent(e)
        self._relayout()
        self._keep_at_top(anchor)

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        pos = e.position().toPoint()
        s = self._header_under(pos)
        if s is not None and e.button() == Qt.MouseButton.LeftButton:
            self._select_section(s, e.modifiers())  # a click on a header selects its photos
            e.accept()
            return
        self._press = pos + QPoint(0, self.verticalOffset()) if e.button() == Qt.MouseButton.LeftButton else None
        super().mousePressEvent(e)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        super().mouseMoveEvent(e)
        if self._press is not None and e.buttons() & Qt.MouseButton.LeftButton \
                and self.state() == QAbstractItemView.State.DragSelectingState:
            self._rubber = QRect(self._press - QPoint(0, self.verticalOffset()), e.position().toPoint()).normalized()
            self.viewport().update()

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        super().mouseReleaseEvent(e)
        self._press = None
        if self._rubber is not None:
            self._rubber = None
            self.viewport().update()

    def _header_under(self, pos: QPoint) -> int | None:
        """The section whose header (its own, or the pinned one) is under `pos`."""
        if not self.sections:
            return None
        g, offset = self.grid, self.verticalOffset()
        first = g.section_at(offset)
        if g.section_top(first) < offset:  # a pinned header is drawn at the top
            nxt = g.section_top(first + 1) - offset - SECTION_GAP if first + 1 < len(self.sections) else 1 << 30
            top = min(0, nxt - g.header_h)
            if top <= pos.y() < top + g.header_h:
                return first
        return g.header_at(pos.y() + offset)

    def _select_section(self, s: int, modifiers) -> None:
        model, sel = self.model(), self.selectionModel()
        section = self.sections[s]
        first, last = model.index(section.start, 0), model.index(section.start + section.count - 1, 0)
        F = QItemSelectionModel.SelectionFlag
        if not modifiers & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier):
            sel.clearSelection()
        sel.setCurrentIndex(first, F.NoUpdate)
        sel.select(QItemSelection(first, last), F.Select)

    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802
        plain = not e.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if plain and Qt.Key.Key_0 <= e.key() <= Qt.Key.Key_5:
            self.mark_requested.emit(int(e.key() - Qt.Key.Key_0))
        elif plain and e.key() == Qt.Key.Key_Period:
            self.mark_requested.emit(FAVOURITE_KEY)
        else:
            super().keyPressEvent(e)  # (a digit would otherwise jump to a file name starting with it)
            return
        e.accept()

    def wheelEvent(self, e: QWheelEvent) -> None:  # noqa: N802
        if e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = e.angleDelta().y() / 120
            if steps:
                size = int(max(THUMB_MIN, min(THUMB_MAX, self.delegate.size + steps * ZOOM_STEP)))
                self.zoom_requested.emit(size)
            e.accept()
            return
        super().wheelEvent(e)


def header_count(n: int) -> str:
    return f"{n:,} photo{'s' if n != 1 else ''}"
