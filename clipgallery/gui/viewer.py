"""The photo viewer: one photo large (decoded off the UI thread), arrow keys through the result, details,
a box drawn on the photo to find that part of it in other photos, and the text read in it outlined. A video
shows its poster frame and plays in the desktop's default player (see docs/ARCHITECTURE.md: why not Qt
Multimedia)."""

from __future__ import annotations

import html
import os
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from PySide6.QtCore import QPoint, QPointF, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QPolygon,
    QPolygonF,
    QRegion,
)
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QSizePolicy,
    QSplitter,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from .desktop import open_with_default_app, show_in_file_manager
from .facade import Facade, Photo, PhotoDetails, Why, shown
from .text_panel import TextPanel
from .thumbnails import pil_to_qimage
from .why_panel import WhyPanel
from .workers import Jobs

DISPLAY_PX = 2560  # decode at most this large: sharp on a 4K screen without decoding 50 megapixels
PREFETCH = 2  # neighbours decoded ahead in each direction
CACHE = 8


def decode_for_viewer(facade: Facade, path: str, max_side: int, at: float | None = None) -> QImage:
    return pil_to_qimage(facade.decode_for_display(Path(path), max_side, at))


class ImageCanvas(QWidget):
    """Paints one picture fitted to the widget, or a message. Dragging across the picture marks a
    part of it (a box, kept as fractions of the picture) for "find this part"."""

    box_changed = Signal(object)  # (left, top, right, bottom) fractions, or None
    play_requested = Signal()  # a double click on a video's poster
    text_clicked = Signal(int)  # the index of the line of text whose outline was clicked

    MIN_BOX_PX = 12  # a smaller drag is a click: it clears the box

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.pixmap: QPixmap | None = None
        self.message = ""
        self.box: tuple[float, float, float, float] | None = None
        self.video = False  # the picture is a video's poster frame: a play sign is drawn over it
        self.faces: list[tuple[tuple[float, float, float, float], str | None, int]] = []  # outlined, named
        self._drag: tuple[QPoint, QPoint] | None = None
        self.text_boxes: list[tuple[tuple[float, float], ...]] = []  # quadrilaterals, fractions of the picture
        self.highlighted: set[int] = set()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 150)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def set_image(self, image: QImage | None, message: str = "") -> None:
        self.pixmap = QPixmap.fromImage(image) if image is not None else None
        self.message = message
        self.faces = []
        self.set_box(None)
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

    def _text_polygon(self, quad, pic: QRect) -> QPolygonF:
        return QPolygonF([QPointF(pic.left() + x * pic.width(), pic.top() + y * pic.height()) for x, y in quad])

    def text_at(self, pos: QPoint) -> int | None:
        pic = self.picture_rect()
        for i, quad in enumerate(self.text_boxes):
            if self._text_polygon(quad, pic).containsPoint(QPointF(pos), Qt.FillRule.OddEvenFill):
                return i
        return None

    def picture_rect(self) -> QRect:
        """Where the picture is painted (fitted and centred); empty without a picture."""
        if self.pixmap is None or self.pixmap.isNull():
            return QRect()
        size = self.pixmap.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(self.rect().center())
        return target

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:
        if self.video and self.picture_rect().contains(e.position().toPoint()):
            self.play_requested.emit()
        else:
            super().mouseDoubleClickEvent(e)

    def mousePressEvent(self, e: QMouseEvent) -> None:
        pos = e.position().toPoint()
        if e.button() == Qt.MouseButton.LeftButton and self.picture_rect().contains(pos):
            self._drag = (pos, pos)
            self.update()
        else:
            super().mousePressEvent(e)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        if self._drag is not None:
            self._drag = (self._drag[0], e.position().toPoint())
            self.update()
        else:
            super().mouseMoveEvent(e)

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        if self._drag is None:
            return super().mouseReleaseEvent(e)
        start, end = self._drag[0], e.position().toPoint()
        self._drag = None
        pic = self.picture_rect()
        rect = QRect(start, end).normalized().intersected(pic)
        if rect.width() < self.MIN_BOX_PX or rect.height() < self.MIN_BOX_PX:
            self.set_box(None)
            line = self.text_at(end)
            if line is not None:
                self.text_clicked.emit(line)
            return
        w, h = pic.width(), pic.height()
        self.set_box((round((rect.left() - pic.left()) / w, 4), round((rect.top() - pic.top()) / h, 4),
                      round((rect.right() + 1 - pic.left()) / w, 4), round((rect.bottom() + 1 - pic.top()) / h, 4)))

    def _box_rect(self) -> QRect | None:
        pic = self.picture_rect()
        if self._drag is not None:
            return QRect(*self._drag).normalized().intersected(pic)
        if self.box is None or pic.isEmpty():
            return None
        left, top, right, bottom = self.box
        return QRect(QPoint(pic.left() + round(left * pic.width()), pic.top() + round(top * pic.height())),
                     QPoint(pic.left() + round(right * pic.width()) - 1, pic.top() + round(bottom * pic.height()) - 1))

    def paintEvent(self, e: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 24))
        if self.pixmap is not None and not self.pixmap.isNull():
            target = self.picture_rect()
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawPixmap(target, self.pixmap)
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
            if self.video:
                self._play_sign(p, target)
        elif self.message:
            p.setPen(QColor(220, 220, 220))
            p.drawText(self.rect().adjusted(20, 20, -20, -20),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)

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


class InfoPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        for name in ("Name", "Folder", "Size", "Date", "Dimensions", "Length", "RAW", "Rating", "Albums", "Tags"):
            label = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setMinimumWidth(180)
            self.fields[name] = label
            form.addRow(f"<b>{name}</b>", label)
        self.form = form
        self._show_rows(video=False, raw=False)
        col = QVBoxLayout(self)
        col.addLayout(form)
        col.addStretch(1)
        self.setMinimumWidth(240)

    def show_photo(self, photo: Photo) -> None:
        path = Path(photo.path)
        self.fields["Name"].setText(shown(path.name))  # Qt would drop undecodable bytes silently
        self.fields["Folder"].setText(shown(str(path.parent)))
        for name in ("Size", "Date", "Dimensions", "Rating", "Albums", "Tags"):
            self.fields[name].setText("…")
        self.fields["Length"].setText("…")
        self.fields["RAW"].setText("\n".join(Path(r).name for r in photo.raw))
        self._show_rows(video=photo.is_video, raw=bool(photo.raw))

    def _show_rows(self, video: bool, raw: bool) -> None:
        self.form.setRowVisible(self.fields["Length"], video)  # rows that only videos and RAW pairs have
        self.form.setRowVisible(self.fields["RAW"], raw)

    def show_details(self, d: PhotoDetails, at: float | None = None) -> None:
        self.fields["Size"].setText(_human_size(d.size))
        self.fields["Date"].setText(datetime.fromtimestamp(d.date).strftime("%Y-%m-%d %H:%M") if d.date else "unknown")
        dims = f"{d.width} × {d.height}" if d.width and d.height else "unknown"
        if d.width and d.height and d.width * d.height >= 100_000:
            dims += f"  ({d.width * d.height / 1e6:.1f} MP)"
        self.fields["Dimensions"].setText(dims if d.status != "not indexed" else f"{dims} (not indexed yet)")
        from .gallery_model import clock

        length = clock(d.duration) if d.duration is not None else "unknown"
        self.fields["Length"].setText(length + (f" (shown: the best match, at {clock(at)})" if at is not None else ""))
        if d.raw:
            self.fields["RAW"].setText("\n".join(p.name for p in d.raw))
            self.form.setRowVisible(self.fields["RAW"], True)
        if d.error:
            self.fields["Tags"].setText(f"could not be indexed: {d.error}")
        elif d.tags:
            # Each tag links to its own removal: a wrong automatic tag goes with one click.
            self.fields["Tags"].setText("<br>".join(
                f"{html.escape(label)} <span style='color:gray'>{score:.2f} ({html.escape(ls)})</span> "
                f"<a href='remove:{quote(label)}' title='Remove this tag from this photo'>\u2715</a>"
                for ls, label, score in d.tags))
        else:
            self.fields["Tags"].setText("none yet (run tagging in the Tags tab)")

        self.fields["Rating"].setText(("\u2605" * d.stars if d.stars else "no stars")
                                      + ("  \u2665 favourite" if d.favourite else "")
                                      + "  <span style='color:gray'>(keys 0-5, “.”)</span>")
        self.fields["Albums"].setText(html.escape(", ".join(d.albums)) if d.albums else "none")

    def value(self, name: str) -> str:
        return self.fields[name].text()


class PhotoViewer(QWidget):
    """A window over the current result; Left/Right/Home/End move, Esc closes."""

    current_changed = Signal(int)
    image_shown = Signal(str)  # path, once its picture (or its error) is on screen
    find_shared = Signal(object, object)  # (Photo, box fractions or None): photos sharing its objects
    marks_changed = Signal()  # stars, favourite or a tag of a photo changed here

    def __init__(self, facade: Facade, library, photos: list[Photo], row: int, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.facade, self.library, self.photos = facade, library, photos
        self.row = -1
        self.setWindowTitle("clipgallery")
        self.resize(1200, 800)
        self.jobs = Jobs(max_threads=2, parent=self)
        self._cache: OrderedDict[str, QImage] = OrderedDict()
        self._loading: set[str] = set()
        self._errors: dict[str, str] = {}
        self._faces: dict[str, list] = {}  # path -> the faces found in it (core.faces), when faces are on

        self.canvas = ImageCanvas()
        self.info = InfoPanel()
        self.info.fields["Tags"].setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.info.fields["Tags"].linkActivated.connect(self._tag_link)
        self.details: PhotoDetails | None = None
        self.text_panel = TextPanel()
        self.text_panel.selection_changed.connect(self.canvas.set_highlighted)
        self.canvas.text_clicked.connect(self.text_panel.select)
        self.why_panel = WhyPanel()
        self.why_panel.hide()
        self.query = ""  # the text search that found these photos ("" when there is none)
        self.spec: str | None = None
        self.device = "auto"
        self._why: dict[str, Why] = {}
        self.counter = QLabel()
        bar = QToolBar()
        style = self.style()
        self.prev_action = bar.addAction(style.standardIcon(QStyle.StandardPixmap.SP_ArrowBack), "Previous",
                                         lambda: self.go(self.row - 1))
        self.next_action = bar.addAction(style.standardIcon(QStyle.StandardPixmap.SP_ArrowForward), "Next",
                                         lambda: self.go(self.row + 1))
        bar.addWidget(self.counter)
        bar.addSeparator()
        self.shared_action = bar.addAction(
            style.standardIcon(QStyle.StandardPixmap.SP_FileDialogContentsView), "Find photos sharing objects",
            lambda: self.find_shared.emit(self.photos[self.row], None))
        self.shared_action.setToolTip("Photos that hold the same things as this one, even in another scene")
        self.part_action = bar.addAction(
            style.standardIcon(QStyle.StandardPixmap.SP_FileDialogListView), "Find this part",
            lambda: self.find_shared.emit(self.photos[self.row], self.canvas.box))
        self.part_action.setToolTip("Drag across the photo to mark an object, then find it in other photos")
        self.part_action.setEnabled(False)
        self.canvas.box_changed.connect(lambda box: self.part_action.setEnabled(box is not None))
        self.play_action = bar.addAction(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "Play video",
                                         self.play)
        self.play_action.setToolTip("Play this video in the desktop's video player (or double-click it)")
        self.canvas.play_requested.connect(self.play)
        self.why_action = bar.addAction(
            style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxQuestion), "Why this result",
            self._toggle_why)
        self.why_action.setCheckable(True)
        self.why_action.setEnabled(False)
        self.why_action.setToolTip("Which parts of the photo match the search, and the concepts that make the match")
        bar.addSeparator()
        bar.addAction(style.standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon), "Show in file manager",
                      lambda: show_in_file_manager(self.current_path()))
        bar.addAction(style.standardIcon(QStyle.StandardPixmap.SP_FileIcon), "Open with default app",
                      lambda: open_with_default_app(self.current_path()))
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in bar.actions():
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        split = QSplitter()
        split.addWidget(self.canvas)
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.info)
        side.addWidget(self.text_panel)
        side.addWidget(self.why_panel)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        split.setSizes([900, 280])
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addWidget(bar)
        col.addWidget(split, 1)
        self.go(row)

    def set_query(self, query: str, spec: str | None, device: str = "auto") -> None:
        """The text search these photos came from: "Why this result" explains a photo for it."""
        self.query, self.spec, self.device = query.strip(), spec, device
        self.why_action.setEnabled(bool(self.query) and spec is not None)

    def _toggle_why(self) -> None:
        if self.why_action.isChecked():
            self.why_panel.show()
            self._explain_current()
        else:
            self.why_panel.hide()
        self._show_current()

    def _explain_current(self) -> None:
        path = self.photos[self.row].path
        if path in self._why:
            self.why_panel.show_why(self._why[path])
            return
        self.why_panel.show_message("Working out why this photo matches…")
        self.jobs.submit(self.facade.explain, self.library, self.spec, self.device, Path(path), self.query,
                         on_done=lambda w, p=path: self._explained(p, w),
                         on_error=lambda m: self.why_panel.show_message(f"Cannot explain this photo: {m}"))

    def _explained(self, path: str, why: Why) -> None:
        why.overlay = pil_to_qimage(why.overlay)  # once, on the UI thread
        self._why[path] = why
        if self.photos[self.row].path == path and self.why_action.isChecked():
            self.why_panel.show_why(why)
            self._show_current()

    def current_path(self) -> Path:
        return Path(self.photos[self.row].path)

    def play(self) -> bool:
        """Hand the current video to the desktop's player (it plays every codec the system has)."""
        if not self.photos[self.row].is_video:
            return False
        return open_with_default_app(self.current_path())

    def go(self, row: int) -> None:
        if not self.photos:
            return
        row = max(0, min(len(self.photos) - 1, row))
        if row == self.row:
            return
        self.row = row
        photo = self.photos[row]
        self.setWindowTitle(f"{shown(os.path.basename(photo.path))} – clipgallery")
        self.counter.setText(f"  {row + 1:,} / {len(self.photos):,}  ")
        self.prev_action.setEnabled(row > 0)
        self.next_action.setEnabled(row < len(self.photos) - 1)
        self.info.show_photo(photo)
        self.play_action.setVisible(photo.is_video)
        self.canvas.video = photo.is_video
        self._show_current()
        self._show_text([])
        self.jobs.submit(self.facade.text_lines, self.library, photo.file_id,
                         on_done=lambda lines, r=row: self._text(r, lines), on_error=lambda m: None)
        if photo.path not in self._faces:
            from . import faces_facade

            self.jobs.submit(faces_facade.faces_in, self.library, Path(photo.path),
                             on_done=lambda faces, p=photo.path: self._faces_found(p, faces),
                             on_error=lambda _m: None)
        if self.why_action.isChecked():
            self._explain_current()
        self.jobs.submit(self.facade.details, self.library, Path(photo.path),
                         on_done=lambda d, r=row: self._details(r, d),
                         on_error=lambda m, r=row: self._details_failed(r, m))
        for k in range(1, PREFETCH + 1):
            for r in (row + k, row - k):
                if 0 <= r < len(self.photos):
                    self._load(self.photos[r].path)
        self.current_changed.emit(row)

    def _show_current(self) -> None:
        path = self.photos[self.row].path
        if self.why_action.isChecked() and path in self._why:
            self.canvas.set_image(self._why[path].overlay)
            self.image_shown.emit(path)
        elif path in self._cache:
            self.canvas.set_image(self._cache[path])
            self.canvas.set_faces(self._faces.get(path, []))
            self.image_shown.emit(path)
        elif path in self._errors:
            self.canvas.set_image(None, f"This photo cannot be shown: {self._errors[path]}")
            self.image_shown.emit(path)
        else:
            self.canvas.set_image(None, "Loading…")
            self._load(path)

    def _load(self, path: str) -> None:
        if path in self._cache or path in self._loading or path in self._errors:
            return
        self._loading.add(path)
        at = next((p.at for p in self.photos if p.path == path), None)  # a video: the frame that matched
        self.jobs.submit(decode_for_viewer, self.facade, path, DISPLAY_PX, at,
                         on_done=lambda img, p=path: self._loaded(p, img),
                         on_error=lambda msg, p=path: self._failed(p, msg))

    def _loaded(self, path: str, image: QImage) -> None:
        self._loading.discard(path)
        self._cache[path] = image
        while len(self._cache) > CACHE:
            self._cache.popitem(last=False)
        if self.photos[self.row].path == path:
            self._show_current()

    def _failed(self, path: str, message: str) -> None:
        self._loading.discard(path)
        self._errors[path] = message
        if self.photos[self.row].path == path:
            self._show_current()

    def _text(self, row: int, lines: list) -> None:
        if row == self.row:
            self._show_text(lines)

    def _show_text(self, lines: list) -> None:
        self.text_panel.set_lines([ln.text for ln in lines])
        self.canvas.set_text_boxes([ln.box for ln in lines])
    def _faces_found(self, path: str, faces: list) -> None:
        self._faces[path] = faces
        if self.photos[self.row].path == path and path in self._cache:
            self.canvas.set_faces(faces)

    def _details(self, row: int, d: PhotoDetails) -> None:
        if row == self.row:
            self.details = d
            self.info.show_details(d, self.photos[row].at)

    # -- marks: stars (0-5), favourite ("."), removing a tag (its ✕) ---------------------------------

    def _mark(self, fn: Callable[..., Any], *args: Any) -> None:
        """A write for the current photo in the background, then its details again."""
        photo, row = self.photos[self.row], self.row
        if photo.file_id is None:
            return

        def done(_: Any) -> None:
            self.marks_changed.emit()
            self.jobs.submit(self.facade.details, self.library, Path(photo.path),
                             on_done=lambda d: self._details(row, d))

        self.jobs.submit(fn, self.library, [photo.file_id], *args, on_done=done,
                         on_error=lambda m: self.info.fields["Rating"].setText(html.escape(m)))

    def rate(self, stars: int) -> None:
        self._mark(self.facade.set_stars, stars)

    def toggle_favourite(self) -> None:
        on = not (self.details is not None and self.details.favourite)
        self._mark(self.facade.set_favourite, on)

    def remove_tag(self, label: str) -> None:
        photo = self.photos[self.row]
        if photo.file_id is not None:
            self.jobs.submit(self.facade.remove_tag, self.library, label, [photo.file_id],
                             on_done=lambda _: self._mark(lambda lib, ids: None))

    def _tag_link(self, link: str) -> None:
        if link.startswith("remove:"):
            self.remove_tag(unquote(link[len("remove:"):]))

    def _details_failed(self, row: int, message: str) -> None:
        if row == self.row:
            self.info.fields["Size"].setText(message)

    def keyPressEvent(self, e: QKeyEvent) -> None:
        moves = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_Down: 1,
                 Qt.Key.Key_PageUp: -1, Qt.Key.Key_PageDown: 1, Qt.Key.Key_Backspace: -1, Qt.Key.Key_Space: 1}
        if e.key() in moves:
            self.go(self.row + moves[e.key()])
        elif e.key() == Qt.Key.Key_Home:
            self.go(0)
        elif e.key() == Qt.Key.Key_End:
            self.go(len(self.photos) - 1)
        elif e.key() == Qt.Key.Key_Escape:
            if self.canvas.box is not None:
                self.canvas.set_box(None)  # Esc first drops the marked part, then closes
            else:
                self.close()
        elif e.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.canvas.box is not None:
            self.part_action.trigger()
        elif Qt.Key.Key_0 <= e.key() <= Qt.Key.Key_5 and not e.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            self.rate(int(e.key() - Qt.Key.Key_0))
        elif e.key() == Qt.Key.Key_Period:
            self.toggle_favourite()
        else:
            super().keyPressEvent(e)

    def closeEvent(self, e) -> None:
        self.jobs.forget()
        self.jobs.wait()
        super().closeEvent(e)


def _human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
