"""Thumbnails: decoded in a thread pool, kept on disk (JPEG, keyed by path, size and mtime) and in an LRU.
The disk cache drops the thumbnails of deleted and changed photos after each complete index run.

The UI thread only ever looks things up in memory; a miss queues a request (newest first, so
what the user looks at now comes before what scrolled past) and the picture arrives through
the `ready` signal.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage, QPixmap

from .facade import Facade
from .workers import describe_error

STORED_PX = 320  # thumbnails are stored at this size and scaled down for display
MEMORY_BUDGET = 192 * 1024 * 1024  # bytes of display pixmaps kept in memory
STALE_TMP_S = 3600  # a temporary file this old was left by a crash, not a write in progress
MAX_PENDING = 1500  # more than a screen of the smallest thumbnails; older requests are dropped


def cache_path(cache_dir: Path, path: str, size: int, mtime_ns: int) -> Path:
    key = hashlib.sha1(f"{path}\0{size}\0{mtime_ns}\0{STORED_PX}".encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir / key[:2] / f"{key}.jpg"


def pil_to_qimage(im: Any) -> QImage:
    """An RGB PIL image to a QImage that owns its pixels (safe to hand to another thread)."""
    im = im.convert("RGB")
    w, h = im.size
    return QImage(im.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def load_thumbnail(facade: Facade, path: str, cache_dir: Path | None, display_px: int) -> QImage:
    """Runs in a worker: the cached thumbnail, else decode the photo (and cache it); scaled for display."""
    st = os.stat(path)
    cached = cache_path(cache_dir, path, st.st_size, st.st_mtime_ns) if cache_dir else None
    image = QImage(str(cached)) if cached is not None and cached.is_file() else QImage()
    if image.isNull():
        pil = facade.thumbnail(Path(path), STORED_PX)
        if cached is not None:
            _write_atomically(pil, cached)
        image = pil_to_qimage(pil)
    if max(image.width(), image.height()) > display_px:
        image = image.scaled(QSize(display_px, display_px), Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image


def _write_atomically(pil: Any, dest: Path) -> None:
    """Write via a temporary file and rename, so a reader never sees half a JPEG."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pil.save(f, "JPEG", quality=85)
        os.replace(tmp, dest)
    except OSError:
        pass  # a cache that cannot be written only costs speed next time


def prune_cache(cache_dir: Path, photos: Iterable[tuple[str, int, int]]) -> int:
    """Delete cached thumbnails of photos that are gone or changed: every file in `cache_dir` that is
    not the thumbnail of one of `photos` (path, size, mtime_ns), plus leftover temporary files.
    Returns how many files were deleted. Runs in a worker, after a complete index run."""
    keep = {cache_path(cache_dir, path, size, mtime).name for path, size, mtime in photos}
    removed = 0
    try:
        buckets = [d for d in cache_dir.iterdir() if d.is_dir()]
    except OSError:
        return 0
    for bucket in buckets:
        try:
            entries = list(os.scandir(bucket))
        except OSError:
            continue
        for entry in entries:
            if entry.name in keep or not entry.name.endswith((".jpg", ".tmp")):
                continue
            if entry.name.endswith(".tmp") and _age(entry) < STALE_TMP_S:
                continue  # a loader thread may be writing it right now
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed += 1
        with contextlib.suppress(OSError):
            bucket.rmdir()  # only succeeds when it is empty now
    return removed


def _age(entry: os.DirEntry) -> float:
    try:
        return time.time() - entry.stat().st_mtime
    except OSError:
        return 0.0


class _Signals(QObject):
    # Paths travel as Python objects: a QString would silently drop the bytes of a name that is
    # not UTF-8, and the thumbnail would never find its tile.
    loaded = Signal(object, int, QImage)  # path, generation, image
    failed = Signal(object, int, str)


class _Task(QRunnable):
    def __init__(self, loader: ThumbnailLoader, path: str, generation: int, display_px: int):
        super().__init__()
        self.facade, self.cache_dir, self.signals = loader.facade, loader.cache_dir, loader._signals
        self.path, self.generation, self.display_px = path, generation, display_px
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            image = load_thumbnail(self.facade, self.path, self.cache_dir, self.display_px)
        except Exception as e:  # a bad photo gets a "broken" tile with the reason as its tooltip
            reason = getattr(e, "reason", None) or describe_error(e)
            self.signals.failed.emit(self.path, self.generation, reason)
        else:
            self.signals.loaded.emit(self.path, self.generation, image)


class ThumbnailLoader(QObject):
    """get(path) answers from memory at once; a miss is loaded in the background, then `ready` fires."""

    ready = Signal(object)  # a path whose thumbnail (or failure) is now known
    idle = Signal()  # nothing queued or loading any more

    def __init__(self, facade: Facade, threads: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self.facade = facade
        self.cache_dir: Path | None = None
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._signals = _Signals(self)
        self._signals.loaded.connect(self._on_loaded)
        self._signals.failed.connect(self._on_failed)
        self._display_px = 160
        self._generation = 0
        self._lru: OrderedDict[str, QPixmap] = OrderedDict()
        self._stale: dict[str, QPixmap] = {}  # the previous size's pixmaps, shown scaled until reloaded
        self._bytes = 0
        self._failed: dict[str, str] = {}
        self._pending: OrderedDict[str, None] = OrderedDict()
        self._inflight: dict[str, int] = {}  # path -> generation it was asked at

    # -- configuration ----------------------------------------------------------------------------

    def set_cache_dir(self, cache_dir: Path | None) -> None:
        """A new folder: forget everything in memory."""
        self.cache_dir = cache_dir
        self.clear()

    def set_display_size(self, px: int) -> None:
        if px == self._display_px:
            return
        self._display_px = px
        self._generation += 1
        self._stale = dict(self._lru) if not self._stale else {**self._stale, **self._lru}
        self._lru.clear()
        self._bytes = 0
        self._pending.clear()
        self._inflight.clear()  # their results belong to the old generation and will be dropped

    @property
    def display_size(self) -> int:
        return self._display_px

    def clear(self) -> None:
        self._generation += 1
        self._lru.clear()
        self._stale.clear()
        self._bytes = 0
        self._failed.clear()
        self._pending.clear()
        self._inflight.clear()

    def shutdown(self) -> None:
        self._pending.clear()
        self.pool.clear()
        self.pool.waitForDone()

    # -- lookups (UI thread, no I/O) --------------------------------------------------------------

    def get(self, path: str) -> QPixmap | None:
        """The thumbnail if in memory (perhaps of the previous size); else None, and it is queued."""
        pm = self._lru.get(path)
        if pm is not None:
            self._lru.move_to_end(path)
            return pm
        if path in self._failed:
            return None
        self._request(path)
        return self._stale.get(path)

    def error(self, path: str) -> str | None:
        """Why a photo has no thumbnail, when it could not be decoded."""
        return self._failed.get(path)

    @property
    def busy(self) -> bool:
        return bool(self._pending or self._inflight)

    def has(self, path: str) -> bool:
        return path in self._lru or path in self._failed

    # -- loading ----------------------------------------------------------------------------------

    def _request(self, path: str) -> None:
        if path in self._inflight:
            return
        self._pending[path] = None
        self._pending.move_to_end(path)
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        self._pump()

    def _pump(self) -> None:
        # A few more in flight than threads keeps the pool busy without queueing stale work in it.
        while self._pending and len(self._inflight) < self.pool.maxThreadCount() + 2:
            path, _ = self._pending.popitem(last=True)
            self._inflight[path] = self._generation
            self.pool.start(_Task(self, path, self._generation, self._display_px))

    @Slot(object, int, QImage)
    def _on_loaded(self, path: str, generation: int, image: QImage) -> None:
        if generation != self._generation:
            return
        self._inflight.pop(path, None)
        pm = QPixmap.fromImage(image)
        self._lru[path] = pm
        self._stale.pop(path, None)
        self._bytes += _cost(pm)
        while self._bytes > MEMORY_BUDGET and len(self._lru) > 1:
            _, old = self._lru.popitem(last=False)
            self._bytes -= _cost(old)
        self.ready.emit(path)
        self._after_task()

    @Slot(object, int, str)
    def _on_failed(self, path: str, generation: int, reason: str) -> None:
        if generation != self._generation:
            return
        self._inflight.pop(path, None)
        self._failed[path] = reason
        self.ready.emit(path)
        self._after_task()

    def _after_task(self) -> None:
        self._pump()
        if not self.busy:
            self._stale.clear()  # everything on screen has its fresh picture now
            self.idle.emit()


def _cost(pm: QPixmap) -> int:
    return max(1, pm.width() * pm.height() * 4)
