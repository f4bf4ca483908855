"""Watched folders: notice photos that come, change, move and go, and index them as they do.

`FolderWatcher` takes watchdog's file events (inotify, FSEvents, ReadDirectoryChangesW), keeps the
ones about photos, and calls back once the folder has been quiet for `quiet` seconds and every
touched file's size and mtime have stopped moving (a copy in progress is not read half-written).
Events that arrive during the callback make the next batch, so a burst is one index run. The
callback runs index_folder, which finds moves and copies by content hash and never re-encodes
them; `index_changes` tells what one run did to each photo, for the CLI's one line per change.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ClipGalleryError
from .indexer import IndexReport
from .library import Library

log = logging.getLogger(__name__)

QUIET_S = 1.0  # a folder this long without events, and files this long without growing, is settled
MAX_WAIT_S = 30.0  # a file written to without pause is indexed anyway after this long (and again later)
# What changes a photo folder. Opening and reading a file (indexing does) is not a change, nor are
# attribute changes (reads can update the access time): watching them would index forever.
_CHANGES = frozenset({"created", "modified", "deleted", "moved", "closed"})


class WatchError(ClipGalleryError):
    """A folder that cannot be watched (gone, unreadable, or the system's limit of watches reached)."""


Stat = tuple[int, int] | None  # (size, mtime_ns) of a file, None when it is not there


def _stat(path: Path) -> Stat:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


class FolderWatcher:
    """Watch `root` recursively; call `on_change(relpaths)` on the watcher's own thread after each
    settled burst of photo events. Hidden files and folders, files of other extensions and `skip`
    (a folder inside root never to look at) are ignored. Idle, it waits on a condition: no polling.

        with FolderWatcher(folder, lambda paths: index_folder(...)):
            ...
    """

    def __init__(self, root: Path, on_change: Callable[[list[str]], None], skip: Path | None = None,
                 extensions: Iterable[str] | None = None, quiet: float = QUIET_S, max_wait: float = MAX_WAIT_S,
                 on_error: Callable[[BaseException], None] | None = None):
        from .scan import image_extensions

        self.root = Path(root).resolve()
        self.on_change, self.on_error = on_change, on_error
        self.skip = Path(skip).resolve() if skip is not None else None
        self.extensions = frozenset(e.lower() for e in extensions) if extensions is not None else image_extensions()
        self.quiet, self.max_wait = quiet, max_wait
        self._cond = threading.Condition()
        self._pending: dict[str, Stat] = {}  # relpath -> its stat when last seen in an event
        self._first = self._last = 0.0
        self._stopping = False
        self._observer: Any = None
        self._thread: threading.Thread | None = None
        self.batches = 0  # callbacks made (tests and the CLI read it)

    # -- lifetime ---------------------------------------------------------------------------------

    def start(self) -> FolderWatcher:
        """Start watching; WatchError when the folder cannot be watched. Adding the watches walks
        the folder's tree (inotify: one per folder), so a caller on a UI thread starts it in a worker."""
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        if not self.root.is_dir():
            raise WatchError(f"cannot watch {self.root}: it is not a folder")
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                watcher._event(event)

        observer = Observer()
        observer.daemon = True
        try:
            observer.schedule(Handler(), str(self.root), recursive=True)
            observer.start()
        except OSError as e:
            raise WatchError(_watch_failure(self.root, e)) from None
        self._observer = observer
        self._thread = threading.Thread(target=self._loop, name="clipgallery-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop watching and wait for the thread (and a callback in progress: cancel it first)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
            self._observer = None
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> FolderWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- events (watchdog's thread) -----------------------------------------------------------------

    def relevant(self, path: str | bytes, is_directory: bool) -> str | None:
        """The relpath of a path worth indexing for, else None."""
        p = Path(os.fsdecode(path))
        try:
            rel = p.relative_to(self.root)
        except ValueError:
            return None
        if not rel.parts or any(part.startswith(".") for part in rel.parts):
            return None  # the root itself, or hidden (the folder walk skips them too)
        if self.skip is not None and (p == self.skip or self.skip in p.parents):
            return None
        if not is_directory and p.suffix.lower() not in self.extensions:
            return None
        return rel.as_posix()

    def _event(self, event: Any) -> None:
        if event.event_type not in _CHANGES:
            return
        if event.is_directory and event.event_type in ("modified", "closed"):
            return  # a folder "modified" by a file inside it: that file has its own event
        paths = [event.src_path] + ([event.dest_path] if event.event_type == "moved" else [])
        rels = [r for r in (self.relevant(p, event.is_directory) for p in paths) if r is not None]
        if not rels:
            return
        stats = {r: _stat(self.root / r) for r in rels}
        with self._cond:
            now = time.monotonic()
            if not self._pending:
                self._first = now
            self._pending.update(stats)
            self._last = now
            self._cond.notify_all()

    # -- debouncing (the watcher's thread) -----------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()  # idle: sleeps until an event or stop
                if self._stopping:
                    return
                now = time.monotonic()
                overdue = now - self._first >= self.max_wait
                if not overdue and now - self._last < self.quiet:
                    self._cond.wait(self.quiet - (now - self._last))
                    continue
                seen, last = dict(self._pending), self._last
            # Quiet: are the files done growing? Anything still moving waits another quiet period.
            moving = {r: st for r, st in ((r, _stat(self.root / r)) for r in seen) if st != seen[r]}
            with self._cond:
                if self._stopping:
                    return
                if self._last != last:
                    continue  # more events came meanwhile
                if moving and not overdue:
                    self._pending.update(moving)
                    self._last = time.monotonic()
                    continue
                batch, self._pending = sorted(self._pending), {}
            self.batches += 1
            try:
                self.on_change(batch)
            except Exception as e:  # a failed update must not end the watching
                if self.on_error is not None:
                    self.on_error(e)
                else:
                    log.exception("updating the library of %s failed", self.root)


def _watch_failure(root: Path, e: OSError) -> str:
    import errno

    if e.errno == errno.ENOSPC:  # inotify: the per-user limit of watches (one per folder)
        return (f"cannot watch {root}: the system's limit of watched folders is reached (raise "
                "fs.inotify.max_user_watches, e.g. `sudo sysctl fs.inotify.max_user_watches=524288`)")
    if e.errno == errno.EMFILE:
        return f"cannot watch {root}: too many watches or open files (raise fs.inotify.max_user_instances)"
    return f"cannot watch {root}: {e.strerror or e}"


# -- what an index run did ------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One photo's change as an index run applied it. `kind`: added, changed, moved, removed or
    failed; `reused`: its vector came from a photo already indexed (a move, a copy), no encoding."""

    kind: str
    path: Path
    old_path: Path | None = None
    reused: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"event": self.kind, "path": str(self.path)}
        if self.old_path is not None:
            data["from"] = str(self.old_path)
        if self.kind in ("added", "changed", "moved"):
            data["reused"] = self.reused
        if self.error is not None:
            data["error"] = self.error
        return data

    def text(self) -> str:
        if self.kind == "moved":
            return f"moved   {self.old_path} -> {self.path} (vector kept)"
        if self.kind == "failed":
            return f"failed  {self.path}: {self.error}"
        return f"{self.kind:<7} {self.path}" + (" (vector reused)" if self.reused else "")


_Row = tuple[str, int, int, str | None, bool]  # relpath, size, mtime_ns, content hash, failed


def _rows(library: Library) -> dict[int, _Row]:
    return {k.id: (k.relpath, k.size, k.mtime_ns, k.content_hash, k.failed)
            for k in library.known_files(-1).values()}  # no model: only the file rows are wanted


def index_changes(library: Library, run: Callable[[], IndexReport]) -> tuple[IndexReport, list[Change]]:
    """Run one index run (`run`, e.g. a partial index_folder) and tell what it did to each photo,
    by comparing the file rows before and after: a row that kept its id under a new path was moved
    (its vector kept), a new row whose content the library held already was copied (reused)."""
    before = _rows(library)
    known_content = {r[3] for r in before.values() if r[3] is not None and not r[4]}
    report = run()
    after = _rows(library)
    errors = {str(f.path): f.error for f in report.failed}
    out: list[Change] = []
    for fid, (rel, size, mtime, digest, failed) in after.items():
        path = library.abspath(rel)
        old = before.get(fid)
        if old is not None and old == (rel, size, mtime, digest, failed):
            continue
        if failed:  # said once: a file failing again unchanged (retried on every run) is no news
            if old is None or not old[4] or old[:3] != (rel, size, mtime):
                out.append(Change("failed", path, error=errors.get(str(path), "cannot be read")))
        elif old is None:
            out.append(Change("added", path, reused=digest in known_content))
        elif old[0] != rel:
            out.append(Change("moved", path, library.abspath(old[0]), reused=True))
        elif old[3] != digest or old[4]:
            out.append(Change("changed", path, reused=digest in known_content))
    out += [Change("removed", library.abspath(row[0])) for fid, row in before.items() if fid not in after]
    out.sort(key=lambda c: str(c.path))
    return report, out
