"""The photo viewer: one photo large (decoded off the UI thread), zoom and pan with the photo at full
resolution for 1:1, full screen and a slideshow, arrow keys through the result, details and the camera's
EXIF, a box drawn on the photo to find that part of it in other photos, and the text read in it outlined.
A video shows its poster frame and plays in the desktop's default player (see docs/ARCHITECTURE.md: why
not Qt Multimedia). Every key the viewer answers is one row of `KEYS`, which the keyboard help lists."""

from __future__ import annotations

import html
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QImage, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFormLayout,
    QFrame,
    QLabel,
    QMenu,
    QScrollArea,
    QSplitter,
    QStyle,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .desktop import open_with_default_app, show_in_file_manager
from .exif_panel import ExifPanel
from .facade import ExifInfo, Facade, Photo, PhotoDetails, Why, shown
from .image_canvas import MOUSE, ZOOM_STEP, ImageCanvas  # noqa: F401 (ImageCanvas: its old home was here)
from .text_panel import TextPanel
from .thumbnails import pil_to_qimage
from .why_panel import WhyPanel
from .workers import Jobs

DISPLAY_PX = 2560  # decode at most this large: sharp on a 4K screen without decoding 50 megapixels
PREFETCH = 2  # neighbours decoded ahead in each direction
CACHE = 8
SLIDESHOW_CHOICES = (2.0, 4.0, 8.0, 15.0, 30.0)  # seconds per photo offered in the Slideshow button's menu
DEFAULT_SLIDESHOW_S = 4.0
FULL_MAX_PIXELS = 80_000_000  # larger photos are zoomed from a decode of this many pixels


def decode_for_viewer(facade: Facade, path: str, max_side: int, at: float | None = None) -> tuple[QImage, QSize]:
    """The fitted preview and the photo's own size (zoom works in the photo's pixels)."""
    image, width, height = facade.display_image(Path(path), max_side, at)
    return pil_to_qimage(image), QSize(width, height)


def decode_full(facade: Facade, path: str, at: float | None = None, max_side: int | None = None) -> QImage:
    """The photo whole for 1:1, or at `max_side` for a panorama too large to hold whole twice (QImage and
    QPixmap) without risking the memory of a small machine."""
    if max_side is not None:
        return pil_to_qimage(facade.display_image(Path(path), max_side, at)[0])
    return pil_to_qimage(facade.decode_full(Path(path), at))


@dataclass(frozen=True)
class ViewerKey:
    keys: tuple[str, ...]  # QKeySequence's portable text: "Ctrl+0", "PgDown", "?"
    text: str  # what it does, as the keyboard help says it
    method: str  # the PhotoViewer method it calls (rate gets the digit)


KEYS: tuple[ViewerKey, ...] = (
    ViewerKey(("Right", "Down", "PgDown", "Space"), "Next photo", "next_photo"),
    ViewerKey(("Left", "Up", "PgUp", "Backspace"), "Previous photo", "previous_photo"),
    ViewerKey(("Home",), "First photo", "first_photo"),
    ViewerKey(("End",), "Last photo", "last_photo"),
    ViewerKey(("+", "=", "Ctrl++", "Ctrl+="), "Zoom in", "zoom_in"),
    ViewerKey(("-", "Ctrl+-"), "Zoom out", "zoom_out"),
    ViewerKey(("Ctrl+0",), "Fit the photo to the window", "fit"),
    ViewerKey(("Ctrl+1",), "Actual pixels (1:1)", "actual_size"),
    ViewerKey(("F", "F11"), "Full screen on or off", "toggle_full_screen"),
    ViewerKey(("S",), "Slideshow (any key or click stops it)", "toggle_slideshow"),
    ViewerKey(("0", "1", "2", "3", "4", "5"), "Rate the photo with 0 to 5 stars (0 clears)", "rate"),
    ViewerKey((".",), "Favourite on or off", "toggle_favourite"),
    ViewerKey(("Return", "Enter"), "Find the marked part in other photos", "find_part"),
    ViewerKey(("Esc",), "Leave full screen, else drop the marked part, else close the viewer", "escape"),
    ViewerKey(("F1", "?"), "Keyboard shortcuts", "show_shortcuts"),
)


def key_text(key: str) -> str:
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)


def key_rows() -> list[tuple[str, str]]:
    """(keys, what they do) for every key and mouse gesture of the viewer, for the keyboard help."""
    rows = [(", ".join(key_text(k) for k in entry.keys), entry.text) for entry in KEYS]
    rows += list(MOUSE)
    panel = TextPanel()  # its own shortcuts (Ctrl+C copies lines), read from the actions it registers
    for action in panel.findChildren(QAction):
        if action.shortcuts():
            keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())
            rows.append((keys, f"{action.text().replace('&', '')}: the selected lines of text in the photo"))
    panel.deleteLater()
    return rows


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
    """A window over the current result: keys in `KEYS` (arrows move, F full screen, S slideshow, Esc
    leaves full screen or closes), the wheel zooms, a drag pans."""

    current_changed = Signal(int)
    image_shown = Signal(str)  # path, once its picture (or its error) is on screen
    full_resolution_shown = Signal(str)  # path, once the 1:1 picture replaced the preview
    find_shared = Signal(object, object)  # (Photo, box fractions or None): photos sharing its objects
    marks_changed = Signal()  # stars, favourite or a tag of a photo changed here
    shortcuts_requested = Signal()  # F1 or ?: the keyboard help

    def __init__(self, facade: Facade, library, photos: list[Photo], row: int, parent: QWidget | None = None,
                 settings: Any = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.facade, self.library, self.photos, self.settings = facade, library, photos, settings
        self.row = -1
        self.setWindowTitle("clipgallery")
        self.resize(1200, 800)
        self.jobs = Jobs(max_threads=2, parent=self)
        self._cache: OrderedDict[str, tuple[QImage, QSize]] = OrderedDict()
        self._loading: set[str] = set()
        self._errors: dict[str, str] = {}
        self._faces: dict[str, list] = {}  # path -> the faces found in it (core.faces), when faces are on
        self._full: tuple[str, QImage] | None = None  # the current photo at full resolution (one at a time)
        self._full_loading: str | None = None
        self._shown: str | None = None  # the path whose picture the canvas holds
        self._keys = self._key_map()

        self.canvas = ImageCanvas()
        self.canvas.zoom_changed.connect(self._zoom_changed)
        self.info = InfoPanel()
        self.info.fields["Tags"].setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.info.fields["Tags"].linkActivated.connect(self._tag_link)
        self.exif_panel = ExifPanel(skip=("Dimensions", "File size"))  # the file rows above show those
        self.exif: ExifInfo | None = None
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
        self.zoom_label = QLabel()
        self.zoom_label.setMinimumWidth(48)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self._slideshow_s = DEFAULT_SLIDESHOW_S  # without settings (a viewer made alone)
        self.slideshow_timer = QTimer(self)
        self.slideshow_timer.timeout.connect(self._slideshow_step)
        self._slideshow_entered_full_screen = False
        self._was_maximized = False

        self.bar = bar = QToolBar()
        style = self.style()
        self.prev_action = bar.addAction(style.standardIcon(QStyle.StandardPixmap.SP_ArrowBack), "Previous",
                                         self.previous_photo)
        self.next_action = bar.addAction(style.standardIcon(QStyle.StandardPixmap.SP_ArrowForward), "Next",
                                         self.next_photo)
        bar.addWidget(self.counter)
        bar.addSeparator()
        self.zoom_out_action = bar.addAction("\u2212", self.zoom_out)
        bar.addWidget(self.zoom_label)
        self.zoom_in_action = bar.addAction("+", self.zoom_in)
        self.fit_action = bar.addAction("Fit", self.fit)
        self.actual_action = bar.addAction("1:1", self.actual_size)
        self.full_screen_action = bar.addAction(style.standardIcon(QStyle.StandardPixmap.SP_TitleBarMaxButton),
                                                "Full screen", self.toggle_full_screen)
        self.slideshow_action = bar.addAction(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "Slideshow",
                                              self.toggle_slideshow)
        self.slideshow_action.setCheckable(True)
        self._slideshow_menu()
        bar.addSeparator()
        self.shared_action = bar.addAction(
            style.standardIcon(QStyle.StandardPixmap.SP_FileDialogContentsView), "Find photos sharing objects",
            lambda: self.find_shared.emit(self.photos[self.row], None))
        self.shared_action.setToolTip("Photos that hold the same things as this one, even in another scene")
        self.part_action = bar.addAction(
            style.standardIcon(QStyle.StandardPixmap.SP_FileDialogListView), "Find this part",
            lambda: self.find_shared.emit(self.photos[self.row], self.canvas.box))
        self.part_action.setToolTip("Drag across the photo to mark an object (Shift+drag when zoomed), "
                                    "then find it in other photos")
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
        reveal = bar.addAction(style.standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon), "Show in file manager",
                               lambda: show_in_file_manager(self.current_path()))
        default_app = bar.addAction(style.standardIcon(QStyle.StandardPixmap.SP_FileIcon), "Open with default app",
                                    lambda: open_with_default_app(self.current_path()))
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in (self.prev_action, self.next_action, self.full_screen_action, reveal, default_app):
            button = bar.widgetForAction(a)
            if isinstance(button, QToolButton):  # their icons say it; the toolbar fits 1200 pixels
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        for a in bar.actions():
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._key_tips()

        details = QWidget()
        column = QVBoxLayout(details)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.info)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        column.addWidget(line)
        column.addWidget(self.exif_panel)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(details)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumWidth(280)
        split = QSplitter()
        split.addWidget(self.canvas)
        self.side = side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(scroll)
        side.addWidget(self.text_panel)
        side.addWidget(self.why_panel)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        split.setSizes([880, 320])
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addWidget(bar)
        col.addWidget(split, 1)
        self.go(row)

    # -- keys -------------------------------------------------------------------------------------

    @staticmethod
    def _key_map() -> dict[tuple[int, int], tuple[ViewerKey, str]]:
        out: dict[tuple[int, int], tuple[ViewerKey, str]] = {}
        for entry in KEYS:
            for key in entry.keys:
                combo = QKeySequence(key)[0]
                out[(int(combo.key().value), int(combo.keyboardModifiers().value))] = (entry, key)
        return out

    def _key_tips(self) -> None:
        """Toolbar tooltips name their keys from KEYS, so they cannot disagree with what the keys do."""
        by_method = {entry.method: entry for entry in KEYS}
        for action, method in ((self.prev_action, "previous_photo"), (self.next_action, "next_photo"),
                               (self.zoom_in_action, "zoom_in"), (self.zoom_out_action, "zoom_out"),
                               (self.fit_action, "fit"), (self.actual_action, "actual_size"),
                               (self.full_screen_action, "toggle_full_screen"),
                               (self.slideshow_action, "toggle_slideshow")):
            entry = by_method[method]
            action.setToolTip(f"{entry.text} ({', '.join(key_text(k) for k in entry.keys)})")
        self.actual_action.setToolTip(self.actual_action.toolTip() + "; or double-click the photo")

    def _lookup(self, e: QKeyEvent) -> tuple[ViewerKey, str] | None:
        mods = e.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        found = self._keys.get((int(e.key()), int(mods.value)))
        if found is None and mods & Qt.KeyboardModifier.ShiftModifier and not Qt.Key.Key_A <= e.key() <= Qt.Key.Key_Z:
            # "+" and "?" need Shift on most keyboards; the key itself says which it is
            found = self._keys.get((int(e.key()), int((mods & ~Qt.KeyboardModifier.ShiftModifier).value)))
        return found

    def keyPressEvent(self, e: QKeyEvent) -> None:
        found = self._lookup(e)
        if found is None:
            super().keyPressEvent(e)
            return
        entry, key = found
        handler = getattr(self, entry.method)
        handler(int(key)) if entry.method == "rate" else handler()
        e.accept()

    def next_photo(self) -> None:
        self.go(self.row + 1)

    def previous_photo(self) -> None:
        self.go(self.row - 1)

    def first_photo(self) -> None:
        self.go(0)

    def last_photo(self) -> None:
        self.go(len(self.photos) - 1)

    def find_part(self) -> None:
        if self.canvas.box is not None:
            self.part_action.trigger()

    def escape(self) -> None:
        if self.isFullScreen():
            self.leave_full_screen()
        elif self.canvas.box is not None:
            self.canvas.set_box(None)  # Esc first drops the marked part, then closes
        else:
            self.close()

    def show_shortcuts(self) -> None:
        from .shortcuts_dialog import ShortcutsDialog

        self.shortcuts_requested.emit()
        dialog = ShortcutsDialog([("Viewer", key_rows())], self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    # -- zoom -------------------------------------------------------------------------------------

    def zoom_in(self) -> None:
        self.canvas.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.canvas.zoom_by(1 / ZOOM_STEP)

    def fit(self) -> None:
        self.canvas.fit()

    def actual_size(self) -> None:
        self.canvas.actual_size()

    def _zoom_changed(self) -> None:
        c = self.canvas
        self.zoom_label.setText(f"{c.scale * 100:.0f}%" if c.pixmap is not None else "")
        self.fit_action.setEnabled(not c.fitted)
        if self.row < 0 or c.pixmap is None or c.full_size.isEmpty():
            return
        # More photo pixels on screen than the preview holds: decode the photo whole, in the background.
        wanted = c.full_size.width() * c.scale
        if wanted > c.pixmap.width() * 1.05 and c.pixmap.width() < c.full_size.width():
            self._load_full(self.photos[self.row].path)

    def _load_full(self, path: str) -> None:
        if self._full_loading == path or (self._full is not None and self._full[0] == path):
            return
        self._full_loading = path
        at = self.photos[self.row].at
        size = self.canvas.full_size
        pixels = size.width() * size.height()
        max_side = None if pixels <= FULL_MAX_PIXELS else int(max(size.width(), size.height())
                                                              * (FULL_MAX_PIXELS / pixels) ** 0.5)
        self.jobs.submit(decode_full, self.facade, path, at, max_side,
                         on_done=lambda img, p=path: self._full_loaded(p, img),
                         on_error=lambda _m, p=path: setattr(self, "_full_loading", None))

    def _full_loaded(self, path: str, image: QImage) -> None:
        if self._full_loading == path:
            self._full_loading = None
        if self.photos[self.row].path != path:
            return  # moved on meanwhile: not worth its memory
        self._full = (path, image)
        if self._shown == path and not self.why_action.isChecked():
            self.canvas.set_image(image, full_size=self.canvas.full_size, keep_view=True)
            self.full_resolution_shown.emit(path)

    # -- full screen and slideshow ----------------------------------------------------------------

    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.leave_full_screen()
        else:
            self.enter_full_screen()

    def enter_full_screen(self) -> None:
        if self.isFullScreen():
            return
        self._was_maximized = self.isMaximized()
        self.bar.hide()
        self.side.hide()
        self.showFullScreen()

    def leave_full_screen(self) -> None:
        if not self.isFullScreen():
            return
        self.bar.show()
        self.side.show()
        if self._was_maximized:
            self.showMaximized()
        else:
            self.showNormal()

    @property
    def slideshow_seconds(self) -> float:
        value = getattr(self.settings, "slideshow_seconds", None) if self.settings is not None else None
        return float(value) if value else self._slideshow_s

    @slideshow_seconds.setter
    def slideshow_seconds(self, seconds: float) -> None:
        self._slideshow_s = float(seconds)
        if self.settings is not None:
            self.settings.slideshow_seconds = float(seconds)
        if self.slideshow_timer.isActive():
            self.slideshow_timer.start(round(self.slideshow_seconds * 1000))
        for action in self._interval_group.actions():
            action.setChecked(action.data() == self.slideshow_seconds)

    def _slideshow_menu(self) -> None:
        """The Slideshow button's menu picks the seconds per photo (a setting)."""
        menu = QMenu(self)
        self._interval_group = QActionGroup(self)
        for seconds in SLIDESHOW_CHOICES:
            action = menu.addAction(f"{seconds:g} seconds per photo")
            action.setCheckable(True)
            action.setData(seconds)
            action.setChecked(seconds == self.slideshow_seconds)
            action.triggered.connect(lambda _=False, s=seconds: setattr(self, "slideshow_seconds", s))
            self._interval_group.addAction(action)
        self.slideshow_action.setMenu(menu)
        button = self.bar.widgetForAction(self.slideshow_action)
        if isinstance(button, QToolButton):
            button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)

    @property
    def slideshow_running(self) -> bool:
        return self.slideshow_timer.isActive()

    def toggle_slideshow(self) -> None:
        if self.slideshow_running:
            self.stop_slideshow()
        else:
            self.start_slideshow()

    def start_slideshow(self) -> None:
        """Full screen, then the next photo every `slideshow_seconds` until the last; any key or click stops."""
        if self.slideshow_running or not self.photos:
            return
        if self.row >= len(self.photos) - 1 and len(self.photos) > 1:
            self.go(0)  # from the last photo: the whole result again
        self._slideshow_entered_full_screen = not self.isFullScreen()
        self.enter_full_screen()
        self.canvas.fit()
        self.canvas.cursor_hidden = True
        self.canvas.update_cursor()
        self.slideshow_action.setChecked(True)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self.slideshow_timer.start(round(self.slideshow_seconds * 1000))

    def stop_slideshow(self) -> None:
        was = self.slideshow_running
        self.slideshow_timer.stop()
        self.slideshow_action.setChecked(False)
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        self.canvas.cursor_hidden = False
        self.canvas.update_cursor()
        if was and self._slideshow_entered_full_screen:
            self.leave_full_screen()
        self._slideshow_entered_full_screen = False

    def _slideshow_step(self) -> None:
        if self.row >= len(self.photos) - 1:
            self.stop_slideshow()
        else:
            self.go(self.row + 1)

    _STOPPERS = (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick,
                 QEvent.Type.Wheel)
    _MODIFIER_KEYS = (Qt.Key.Key_Shift, Qt.Key.Key_Control, Qt.Key.Key_Alt, Qt.Key.Key_Meta, Qt.Key.Key_AltGr)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """While the slideshow runs, the first key or click anywhere in this window stops it and does
        nothing else."""
        if self.slideshow_running and event.type() in self._STOPPERS:
            if isinstance(event, QKeyEvent) and event.key() in self._MODIFIER_KEYS:
                return False
            if isinstance(watched, QWidget) and watched.window() is self:
                self.stop_slideshow()
                return True
        return False

    # -- the photo --------------------------------------------------------------------------------

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
        if self.slideshow_running and row != self.row:
            self.slideshow_timer.start()  # a photo chosen by hand gets its full time too
        row = max(0, min(len(self.photos) - 1, row))
        if row == self.row:
            return
        self.row = row
        photo = self.photos[row]
        if self._full is not None and self._full[0] != photo.path:
            self._full = None  # one full-resolution photo in memory at a time
        self.setWindowTitle(f"{shown(os.path.basename(photo.path))} – clipgallery")
        self.counter.setText(f"  {row + 1:,} / {len(self.photos):,}  ")
        self.prev_action.setEnabled(row > 0)
        self.next_action.setEnabled(row < len(self.photos) - 1)
        self.info.show_photo(photo)
        self.play_action.setVisible(photo.is_video)
        self.canvas.video = photo.is_video
        self._show_current()
        self._show_text([])
        self.exif = None
        self.exif_panel.clear()
        self.jobs.submit(self.facade.exif, Path(photo.path),
                         on_done=lambda info, r=row: self._exif(r, info), on_error=lambda m: None)
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
        same = path == self._shown
        if self.why_action.isChecked() and path in self._why:
            self._shown = None  # the overlay is not the photo: coming back to it starts afresh
            self.canvas.set_image(self._why[path].overlay)
            self.image_shown.emit(path)
        elif path in self._cache:
            preview, size = self._cache[path]
            full = self._full[1] if self._full is not None and self._full[0] == path else None
            self._shown = path
            self.canvas.set_image(full if full is not None else preview, full_size=size, keep_view=same)
            self.canvas.set_faces(self._faces.get(path, []))
            self.image_shown.emit(path)
        elif path in self._errors:
            self._shown = None
            self.canvas.set_image(None, f"This photo cannot be shown: {self._errors[path]}")
            self.image_shown.emit(path)
        else:
            self._shown = None
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

    def _loaded(self, path: str, image: tuple[QImage, QSize]) -> None:
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

    def _exif(self, row: int, info: ExifInfo) -> None:
        if row == self.row:
            self.exif = info
            self.exif_panel.show_exif(info)

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

    def closeEvent(self, e) -> None:
        self.stop_slideshow()
        self.jobs.forget()
        self.jobs.wait()
        super().closeEvent(e)




def _human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
