"""The search bar: as-you-type query, image drops, relevance threshold, sort and filters."""

from __future__ import annotations

import math
from datetime import datetime, time
from pathlib import Path

from PySide6.QtCore import QDate, QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QSlider,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from . import icons
from .facade import AUTO, SearchOptions, is_image_file

DEBOUNCE_MS = 250
THRESHOLD_STEP = 0.005  # one slider step, in cosine similarity
# The slider ends a little above the best score of the current search, so its whole length is
# useful: CLIP text-image scores rarely pass 0.4, image-image ones reach 1, other models differ.
THRESHOLD_DEFAULT_MAX = 0.5
_NO_DATE = QDate(1900, 1, 1)


class SearchField(QLineEdit):
    """Esc clears; an image file dropped here asks for photos that look like it."""

    image_dropped = Signal(Path)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setClearButtonEnabled(True)
        self.setPlaceholderText("Search: words, +add, -remove, 2:weight… or drop a photo here to find similar ones")
        self.setAcceptDrops(True)
        self.addAction(icons.icon("search", QStyle.StandardPixmap.SP_FileDialogContentsView),
                       QLineEdit.ActionPosition.LeadingPosition)

    def keyPressEvent(self, e: QKeyEvent) -> None:
        if e.key() == Qt.Key.Key_Escape:
            self.clear()
            e.accept()
            return
        super().keyPressEvent(e)

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:
        if _dropped_image(e) is not None:
            e.acceptProposedAction()
        else:
            super().dragEnterEvent(e)

    def dragMoveEvent(self, e) -> None:
        if _dropped_image(e) is not None:
            e.acceptProposedAction()
        else:
            super().dragMoveEvent(e)

    def dropEvent(self, e: QDropEvent) -> None:
        path = _dropped_image(e)
        if path is None:
            super().dropEvent(e)
            return
        e.acceptProposedAction()
        self.image_dropped.emit(path)


def _dropped_image(e) -> Path | None:
    urls = e.mimeData().urls() if e.mimeData().hasUrls() else []
    for url in urls:
        if url.isLocalFile():
            p = Path(url.toLocalFile())
            if p.is_file() and is_image_file(p):
                return p
    return None


class SearchBar(QWidget):
    """Emits `changed` (debounced while typing, at once for the other controls)."""

    changed = Signal()
    image_dropped = Signal(Path)
    similar_cleared = Signal()
    draw_query_requested = Signal(str)  # the words of the query, for "Draw my query"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.field = SearchField()
        self.field.image_dropped.connect(self.image_dropped)
        self.similar_chip = QToolButton(toolButtonStyle=Qt.ToolButtonStyle.ToolButtonTextBesideIcon, autoRaise=False)
        self.similar_chip.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DialogCloseButton))
        self.similar_chip.setToolTip("Showing photos similar to this one: click to go back")
        self.similar_chip.clicked.connect(self.clear_similar)
        self.similar_chip.hide()
        self._similar: Path | int | None = None
        self._similar_how: tuple[bool, tuple[float, float, float, float] | None] = (False, None)

        # "Best matches" (the default) shows where a search's matches end (core's adaptive cut);
        # unticked, the slider sets a minimum relevance by hand, "any" at its left end.
        self.auto = QToolButton(text="Best matches", checkable=True, checked=True, autoRaise=True)
        self.auto.setToolTip("Show the photos that match the search (found from the scores of each search); "
                             "untick to set a minimum relevance yourself or to show all photos")
        self.auto.toggled.connect(self._auto_toggled)
        self.threshold = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=_steps(THRESHOLD_DEFAULT_MAX),
                                 maximumWidth=130)
        self.threshold.setToolTip("Minimum relevance: hide photos that match the search less than this")
        self.threshold_label = QLabel(minimumWidth=64)
        self.threshold.valueChanged.connect(self._threshold_moved)
        self.sort = QComboBox()
        self.sort.addItem("Best match", "score")
        self.sort.addItem("Newest first", "date")
        self.sort.addItem("Oldest first", "oldest")
        self.sort.addItem("By name", "name")
        self.sort.setToolTip("Order of the photos (by date: grouped by month or day, with a scrubber to jump "
                             "through the years)")
        self.sketch_button = QToolButton(text="Sketch", autoRaise=True)
        self.sketch_button.setToolTip("Search by a drawing: sketch what you are looking for")
        self.sketch_button.clicked.connect(self.open_sketch)
        self.sketch_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        menu = QMenu(self.sketch_button)
        menu.addAction("Search by sketch…", self.open_sketch)
        self.draw_query_action = menu.addAction(
            "Draw my query…", lambda: self.draw_query_requested.emit(self.field.text().strip()))
        self.draw_query_action.setToolTip("See what the model reads into the words: it draws them (CLIPDraw)")
        self.sketch_button.setMenu(menu)
        self.sketch_dir: Path | None = None  # where sketches are saved: the open library's cache folder
        self.filters_button = QToolButton(text="Filters", checkable=True, autoRaise=True)
        self.filters_button.setToolTip("Narrow to a subfolder or a date range")
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        self.folder = QComboBox(minimumContentsLength=18)
        self.folder.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.date_from = _date_edit("From the first photo")
        self.date_to = _date_edit("Up to the last photo")
        self.restrict_chip = QToolButton(toolButtonStyle=Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.restrict_chip.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DialogCloseButton))
        self.restrict_chip.setToolTip("Only photos of this tag or group are shown: click to show all")
        self.restrict_chip.hide()
        self._restrict: frozenset[int] | None = None
        self.restrict_chip.clicked.connect(lambda: self.set_restrict(None, ""))
        # The hand-made filters (core SearchOptions album/min_stars/favourites).
        self.album = QComboBox(minimumContentsLength=12)
        self.album.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.album.setToolTip("Only the photos of one album")
        self.min_stars = QComboBox()
        self.min_stars.addItem("Any rating", 0)
        for n in range(1, 6):
            self.min_stars.addItem("\u2605" * n + ("+" if n < 5 else ""), n)
        self.min_stars.setToolTip("Only photos rated at least this many stars (keys 0-5 rate the selection)")
        self.favourites = QToolButton(text="\u2665 Favourites", checkable=True, autoRaise=True)
        self.favourites.setToolTip("Only favourites (the “.” key marks the selection)")
        self.set_albums([])

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.similar_chip)
        top.addWidget(self.field, 1)
        top.addWidget(self.sketch_button)
        top.addWidget(self.restrict_chip)
        top.addWidget(self.auto)
        top.addWidget(QLabel("Min. relevance"))
        top.addWidget(self.threshold)
        top.addWidget(self.threshold_label)
        top.addWidget(self.sort)
        top.addWidget(self.filters_button)
        self.filter_row = QWidget()
        fr = QHBoxLayout(self.filter_row)
        fr.setContentsMargins(0, 0, 0, 0)
        fr.addWidget(QLabel("Folder"))
        fr.addWidget(self.folder)
        fr.addSpacing(12)
        fr.addWidget(QLabel("Taken from"))
        fr.addWidget(self.date_from)
        fr.addWidget(QLabel("to"))
        fr.addWidget(self.date_to)
        clear_dates = QToolButton(text="Any date", autoRaise=True)
        clear_dates.clicked.connect(self._clear_dates)
        fr.addWidget(clear_dates)
        fr.addSpacing(12)
        fr.addWidget(QLabel("Album"))
        fr.addWidget(self.album)
        fr.addWidget(self.min_stars)
        fr.addWidget(self.favourites)
        fr.addStretch(1)
        self.filter_row.hide()
        self.filters_button.toggled.connect(self.filter_row.setVisible)
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 6, 8, 4)
        col.setSpacing(4)
        col.addLayout(top)
        col.addWidget(self.filter_row)
        col.addWidget(self.error_label)

        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.changed.emit)
        self.field.textChanged.connect(self._typed)
        self.sort.currentIndexChanged.connect(lambda _: self.changed.emit())
        self.folder.currentIndexChanged.connect(lambda _: self.changed.emit())
        self.date_from.dateChanged.connect(lambda _: self.changed.emit())
        self.date_to.dateChanged.connect(lambda _: self.changed.emit())
        self.album.currentIndexChanged.connect(lambda _: self.changed.emit())
        self.min_stars.currentIndexChanged.connect(lambda _: self.changed.emit())
        self.favourites.toggled.connect(lambda _: self.changed.emit())
        self.set_folders([])
        self._threshold_moved(0)

    # -- state ------------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        return self.field.text().strip()

    @property
    def similar(self) -> Path | int | None:
        return self._similar

    @property
    def similar_how(self) -> tuple[bool, tuple[float, float, float, float] | None]:
        """(regional, box) of the similar request: whole look, shared objects, or the object in a box."""
        return self._similar_how

    def threshold_value(self) -> float | str | None:
        """AUTO (the matches of a text search), a minimum score, or None (every photo, best first).

        "More like this" is a ranking of the whole folder by likeness, so it is never cut short."""
        if self.auto.isChecked():
            return AUTO if self._similar is None else None
        v = self.threshold.value()
        return None if v == 0 else round(v * THRESHOLD_STEP, 6)

    def set_threshold(self, value: float) -> None:
        value = max(0.0, min(1.0, value))
        if _steps(value) > self.threshold.maximum():
            self.threshold.setMaximum(_steps(_ceil_to(value, 0.05)))
        self.auto.setChecked(False)
        self.threshold.setValue(_steps(value))

    def show_all(self) -> None:
        """Every photo, best match first: one click from the default."""
        self.threshold.blockSignals(True)
        self.threshold.setValue(0)
        self.threshold.blockSignals(False)
        self.auto.setChecked(False)
        self._threshold_moved(0)

    def show_best_matches(self) -> None:
        self.auto.setChecked(True)

    def reset(self) -> None:
        """A new folder starts with a clean search: no text, example, tag or group, folder or dates."""
        marks = (self.album, self.min_stars, self.favourites)
        for w in (self.field, self.folder, self.date_from, self.date_to, self.auto, *marks):
            w.blockSignals(True)
        self._debounce.stop()
        self.album.setCurrentIndex(0)
        self.min_stars.setCurrentIndex(0)
        self.favourites.setChecked(False)
        self.field.clear()
        self._similar, self._similar_how = None, (False, None)
        self.similar_chip.hide()
        self._restrict = None
        self.restrict_chip.hide()
        self.folder.setCurrentIndex(0)
        self.date_from.setDate(_NO_DATE)
        self.date_to.setDate(_NO_DATE)
        self.auto.setChecked(True)
        self.show_error("")
        for w in (self.field, self.folder, self.date_from, self.date_to, self.auto, *marks):
            w.blockSignals(False)
        self._threshold_moved(self.threshold.value())

    def fit_threshold_range(self, best_score: float) -> None:
        """Let the slider end just above the best score of the results (never below its current value)."""
        top = max(_ceil_to(min(1.0, best_score) + 0.01, 0.05), 0.1, self.threshold.value() * THRESHOLD_STEP)
        self.threshold.blockSignals(True)
        self.threshold.setMaximum(_steps(top))
        self.threshold.blockSignals(False)

    def options(self) -> SearchOptions:
        """The search request the bar describes, besides its text: filters, sort and threshold."""
        after = _timestamp(self.date_from.date(), start=True)
        before = _timestamp(self.date_to.date(), start=False)
        return SearchOptions(folder=self.folder.currentData() or None, after=after, before=before,
                             restrict=self._restrict, sort=self.sort.currentData(),
                             threshold=self.threshold_value(), album=self.album.currentData() or None,
                             min_stars=self.min_stars.currentData() or None,
                             favourites=self.favourites.isChecked())

    def mark_filtered(self) -> bool:
        """Whether the album, stars or favourites filter is on (marks changing changes the results)."""
        return bool(self.album.currentData() or self.min_stars.currentData() or self.favourites.isChecked())

    def set_albums(self, albums: list[tuple[str, int]]) -> None:
        """The album filter's choices; a deleted album that was chosen falls back to any album."""
        current = self.album.currentData()
        self.album.blockSignals(True)
        self.album.clear()
        self.album.addItem("Any album", "")
        for name, n in albums:
            self.album.addItem(f"{name} ({n:,})", name)
        i = self.album.findData(current) if current else 0
        self.album.setCurrentIndex(max(0, i))
        self.album.blockSignals(False)
        if current and i < 0:
            self.changed.emit()

    def searching(self) -> bool:
        return bool(self.text) or self._similar is not None

    def set_folders(self, folders: list[str]) -> None:
        current = self.folder.currentData()
        self.folder.blockSignals(True)
        self.folder.clear()
        self.folder.addItem("All folders", "")
        for f in folders:
            self.folder.addItem(f, f)
        i = self.folder.findData(current) if current else 0
        self.folder.setCurrentIndex(max(0, i))
        self.folder.blockSignals(False)

    def set_folder(self, rel: str) -> None:
        """Show only the photos of this subfolder ("" for all of them)."""
        self.folder.setCurrentIndex(max(0, self.folder.findData(rel)) if rel else 0)

    def set_sort(self, sort: str) -> None:
        self.sort.setCurrentIndex(max(0, self.sort.findData(sort)))

    def set_similar(self, image: Path | int, name: str, regional: bool = False,
                    box: tuple[float, float, float, float] | None = None) -> None:
        """Show photos like `image` (with `regional`: sharing its objects, or the one in `box`):
        the text query is cleared and a chip names the example."""
        self._similar = image
        self._similar_how = (regional, box)
        self.field.blockSignals(True)
        self.field.clear()
        self.field.blockSignals(False)
        if box is not None:
            self.similar_chip.setText(f"Object from {name}")
        elif regional:
            self.similar_chip.setText(f"Sharing objects with {name}")
        else:
            self.similar_chip.setText(f"Similar to {name}")
        self.similar_chip.show()
        self._debounce.stop()
        self.changed.emit()

    def clear_similar(self) -> None:
        if self._similar is None:
            return
        self._similar = None
        self.similar_chip.hide()
        self.similar_cleared.emit()
        self.changed.emit()

    def set_restrict(self, ids: frozenset[int] | None, label: str) -> None:
        """Limit the gallery to a set of photos (a tag, a group); None shows everything again."""
        self._restrict = ids
        self.restrict_chip.setText(label)
        self.restrict_chip.setVisible(ids is not None)
        self.changed.emit()

    @property
    def restrict_label(self) -> str:
        return self.restrict_chip.text() if self._restrict is not None else ""

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def open_sketch(self):
        """Open the sketch canvas; its sketch is added to the query as an image term."""
        from .sketch_dialog import SketchDialog

        if self.sketch_dir is None:
            self.show_error("Open a folder first: a sketch searches its photos")
            return None
        dialog = SketchDialog(self.sketch_dir, self)
        dialog.accepted.connect(lambda: self.add_image_term(dialog.path))
        dialog.open()
        return dialog

    def add_image_term(self, path: Path | None) -> None:
        """Add an image file to the query, next to the words already there."""
        if path is None:
            return
        words = self.field.text().strip()
        self.field.setText(f'{words} "{path}"'.strip())
        self.search_now()

    def search_now(self) -> None:
        """Skip the debounce (Enter, tests, screenshots)."""
        self._debounce.stop()
        self.changed.emit()

    # -- events -----------------------------------------------------------------------------------

    def _typed(self, text: str) -> None:
        if text and self._similar is not None:
            self._similar = None
            self.similar_chip.hide()
        self._debounce.start()

    def _threshold_moved(self, v: int) -> None:
        if self.auto.isChecked() and self.threshold.isSliderDown():
            self.auto.blockSignals(True)  # taking the slider means setting the relevance by hand
            self.auto.setChecked(False)
            self.auto.blockSignals(False)
        value = self.threshold_value()
        self.threshold_label.setText("auto" if value == AUTO else "any" if value is None else f"{value:.2f}")
        if self.searching():
            self._debounce.start()  # dragging the slider should not fire a search per pixel

    def _auto_toggled(self, on: bool) -> None:
        self._threshold_moved(self.threshold.value())

    def _clear_dates(self) -> None:
        self.date_from.setDate(_NO_DATE)
        self.date_to.setDate(_NO_DATE)


def _steps(value: float) -> int:
    return int(round(value / THRESHOLD_STEP))


def _ceil_to(value: float, unit: float) -> float:
    return math.ceil(value / unit - 1e-9) * unit


class DateEdit(QDateEdit):
    """A date bound that can be "any": its calendar opens at this month rather than at the "any"
    date (1900), and a date typed over "any" is taken when it is complete (Enter, or leaving the
    field): the first digit turns "any" into today's date, whose sections the typing replaces."""

    def __init__(self, any_text: str, parent: QWidget | None = None):
        super().__init__(parent, calendarPopup=True, displayFormat="yyyy-MM-dd")
        self.setMinimumDate(_NO_DATE)
        self.setSpecialValueText("any")  # shown at the minimum date: no bound
        self.setDate(_NO_DATE)
        self.setKeyboardTracking(False)  # a half-typed date is no filter: wait for Enter or focus out
        self.setToolTip(any_text + ". Type a date (YYYY-MM-DD) or pick one.")
        self.calendarWidget().installEventFilter(self)
        self._committed = self.date()  # the date the search last heard of
        self.dateChanged.connect(self._note_committed)
        self.editingFinished.connect(self._commit)

    def _note_committed(self, d: QDate) -> None:
        self._committed = d

    def _commit(self) -> None:
        if self.date() != self._committed:  # typed over "any" to exactly today's date, say
            self.dateChanged.emit(self.date())

    def eventFilter(self, obj, e) -> bool:
        if obj is self.calendarWidget() and e.type() == QEvent.Type.Show and self.date() == _NO_DATE:
            today = QDate.currentDate()
            QTimer.singleShot(0, lambda: self.calendarWidget().setCurrentPage(today.year(), today.month()))
        return super().eventFilter(obj, e)

    def keyPressEvent(self, e: QKeyEvent) -> None:
        char = e.text()[:1]
        if self.date() == _NO_DATE and char.isdigit():
            self.blockSignals(True)  # a template to type over, not a filter: no search until Enter
            self.setDate(QDate.currentDate())
            self.blockSignals(False)
            self.setCurrentSection(QDateEdit.Section.YearSection)
            self.lineEdit().setSelection(0, 4)
            self._advanced = False
        if char in "-/." and char and getattr(self, "_advanced", False):
            self._advanced = False  # the section was full and Qt moved on already: "2026-12" means month 12
            e.accept()
            return
        before = self.currentSection()
        super().keyPressEvent(e)
        if char.isdigit():
            self._advanced = self.currentSection() != before


def _date_edit(any_text: str) -> QDateEdit:
    return DateEdit(any_text)


def _timestamp(d: QDate, start: bool) -> float | None:
    if d == _NO_DATE or not d.isValid():
        return None
    day = datetime(d.year(), d.month(), d.day())
    if not start:
        day = datetime.combine(d.addDays(1).toPython(), time())  # "to" includes that whole day
    return day.timestamp()
