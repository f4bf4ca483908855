"""The gallery's list model: photos held in memory (or as columns, PhotoColumns, made into records a
page at a time as rows are first shown), thumbnails asked of the loader."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer, Slot

from .facade import Photo, PhotoColumns, shown
from .thumbnails import ThumbnailLoader

PhotoRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
ScoreRole = Qt.ItemDataRole.UserRole + 3
ThumbErrorRole = Qt.ItemDataRole.UserRole + 4
MarksRole = Qt.ItemDataRole.UserRole + 5  # (stars, favourite) or None

_Index = QModelIndex | QPersistentModelIndex


class GalleryModel(QAbstractListModel):
    """Rows are Photo records; the decoration is whatever the loader has in memory right now.

    A whole library's listing comes as PhotoColumns: a million rows without a million objects;
    the first time a row of a page is painted, that page's records are read (three small queries
    by primary key, about a millisecond)."""

    def __init__(self, loader: ThumbnailLoader, parent: QObject | None = None):
        super().__init__(parent)
        self.loader = loader
        self._photos: Sequence[Photo] = []
        self._row_of: dict[str, int] = {}
        self._changed_rows: set[int] = set()
        self._marks: dict[int, tuple[int, bool]] = {}
        # Thumbnails arrive one by one; repaint them together, at most once a frame.
        self._flush = QTimer(self, singleShot=True, interval=16, timeout=self._emit_changed)
        loader.ready.connect(self._on_thumbnail)

    # -- content ----------------------------------------------------------------------------------

    def set_photos(self, photos: Sequence[Photo]) -> None:
        self.beginResetModel()
        self._photos = photos
        self._row_of = {} if isinstance(photos, PhotoColumns) else {p.path: i for i, p in enumerate(photos)}
        self._changed_rows.clear()
        self.endResetModel()

    def set_marks(self, marks: dict[int, tuple[int, bool]]) -> None:
        """Stars and favourites by file id, for the badges."""
        if marks != self._marks:
            self._marks = dict(marks)
            if self._photos:
                self.dataChanged.emit(self.index(0), self.index(len(self._photos) - 1), [MarksRole])

    def marks(self, file_id: int | None) -> tuple[int, bool]:
        return self._marks.get(file_id, (0, False)) if file_id is not None else (0, False)

    @property
    def photos(self) -> Sequence[Photo]:
        return self._photos

    def photo(self, row: int) -> Photo:
        return self._photos[row]

    def row_of(self, path: str) -> int | None:
        if isinstance(self._photos, PhotoColumns):
            return self._photos.row_of(path)
        return self._row_of.get(path)

    def refresh_decorations(self) -> None:
        """After a zoom: every visible row asks for its new-size thumbnail when painted."""
        if self._photos:
            self.dataChanged.emit(self.index(0), self.index(len(self._photos) - 1),
                                  [Qt.ItemDataRole.DecorationRole])

    # -- QAbstractListModel ----------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._photos)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        row = index.row()
        if not index.isValid() or not 0 <= row < len(self._photos):
            return None
        p = self._photos[row]
        if role == Qt.ItemDataRole.DecorationRole:
            return self.loader.get(p.path)
        if role == Qt.ItemDataRole.DisplayRole:
            return shown(os.path.basename(p.path))  # undecodable name bytes as U+FFFD
        if role == Qt.ItemDataRole.ToolTipRole:
            return shown(tooltip(p, self.loader.error(p.path)))
        if role == PhotoRole:
            return p
        if role == PathRole:
            return p.path
        if role == ScoreRole:
            return p.score
        if role == ThumbErrorRole:
            return self.loader.error(p.path)
        if role == MarksRole:
            return self._marks.get(p.file_id) if p.file_id is not None else None
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    # -- thumbnails ------------------------------------------------------------------------------

    @Slot(object)
    def _on_thumbnail(self, path: str) -> None:
        row = self.row_of(path)
        if row is not None:
            self._changed_rows.add(row)
            if not self._flush.isActive():
                self._flush.start()

    def _emit_changed(self) -> None:
        rows, self._changed_rows = self._changed_rows, set()
        if rows:
            lo, hi = min(rows), max(rows)
            if hi < len(self._photos):
                self.dataChanged.emit(self.index(lo), self.index(hi), [Qt.ItemDataRole.DecorationRole])


def tooltip(p: Photo, thumb_error: str | None = None) -> str:
    lines = [os.path.basename(p.path), os.path.dirname(p.path)]
    if p.score is not None:
        lines.append(f"relevance: {p.score:.3f}")
    if p.text:
        lines.append(f"text: “{p.text}”")
    if p.date:
        lines.append(datetime.fromtimestamp(p.date).strftime("%Y-%m-%d %H:%M"))
    video, _ = media_badges(p)
    if video:
        lines.append("video" + (f", {clock(p.duration)}" if p.duration is not None else "")
                     + (f"; best match at {clock(p.at)}" if p.at is not None else ""))
    if p.raw:
        lines.append("also saved as RAW: " + ", ".join(os.path.basename(r) for r in p.raw))
    if p.file_id is None:
        lines.append("not indexed yet")
    if thumb_error:
        lines.append(f"cannot show: {thumb_error}")
    return "\n".join(lines)


def media_badges(p: Photo) -> tuple[str, str]:
    """The grid's badges: a video's "▶ 0:42" (or "▶ 0:07 / 0:42" where a search matched), and "RAW"
    when a RAW file of the same shot is shown with this photo ("" where none applies)."""
    video = ""
    if p.is_video:
        video = "▶"
        if p.at is not None and p.duration is not None:
            video += f" {clock(p.at)} / {clock(p.duration)}"
        elif p.duration is not None:
            video += f" {clock(p.duration)}"
    return video, ("RAW" if p.raw else "")


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
