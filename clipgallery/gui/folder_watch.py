"""Watched folders in the app: while a folder is open (and Settings says so), photos copied in,
changed, moved or deleted are indexed within seconds through the window's own indexing run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from .facade import Facade
from .settings import Settings
from .workers import IndexController, Jobs


class FolderWatch(QObject):
    """Keeps the open folder watched (core FolderWatcher through the facade, started in a worker:
    adding the watches walks the tree) and asks for an index run when photos change. A change
    seen while a run goes on waits for it to end, then one more run takes every change at once."""

    changed = Signal(object, list)  # library, relpaths: emitted on the watcher's thread, queued to this one
    failed = Signal(str)  # the folder could not be watched (a sentence)
    watching_changed = Signal(bool)

    def __init__(self, facade: Facade, settings: Settings, indexer: IndexController,
                 start_indexing: Callable[[], None], parent: QObject | None = None):
        super().__init__(parent)
        self.facade, self.settings, self.indexer = facade, settings, indexer
        self.start_indexing = start_indexing
        self.jobs = Jobs(max_threads=1, parent=self)  # its own: a window forgetting its jobs must not lose a watcher
        self.library: Any = None
        self._watcher: Any = None
        self._token = 0  # a start that finishes after its folder was closed stops its watcher at once
        self._lock = threading.Lock()
        self._again = False  # changes seen during a run: one more run when it ends
        self.changes_seen = 0
        self.changed.connect(self._on_changed)
        indexer.finished.connect(self._run_ended)
        indexer.failed.connect(lambda _message: self._run_ended(None))
        settings.changed.connect(self._setting_changed)

    @property
    def watching(self) -> bool:
        return self._watcher is not None

    def set_folder(self, library: Any) -> None:
        """Watch this folder's library (None: stop watching)."""
        self._stop()
        self.library, self._again = library, False
        if library is not None and self.settings.watch_folder:
            self._start()

    def shutdown(self) -> None:
        self.set_folder(None)
        self.jobs.wait()
        self._stop()  # a start that was still running when the window closed

    # -- starting and stopping --------------------------------------------------------------------

    def _start(self) -> None:
        lib, token = self.library, self._token
        self.jobs.submit(self._start_in_worker, lib, token, on_done=lambda ok: ok and self.watching_changed.emit(True),
                         on_error=self.failed.emit)

    def _start_in_worker(self, lib: Any, token: int) -> bool:
        watcher = self.facade.watch(lib, lambda paths: self.changed.emit(lib, paths))
        with self._lock:
            if token == self._token:
                self._watcher = watcher
                return True
        watcher.stop()  # the folder was closed (or watching turned off) meanwhile
        return False

    def _stop(self) -> None:
        with self._lock:
            self._token += 1
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
            self.watching_changed.emit(False)

    def _setting_changed(self, name: str) -> None:
        if name == "watch_folder":
            self.set_folder(self.library)

    # -- changes ----------------------------------------------------------------------------------

    def _on_changed(self, lib: Any, paths: list[str]) -> None:
        if lib is not self.library or not self.watching:
            return  # a late batch of a folder closed since
        self.changes_seen += len(paths)
        if self.indexer.running:
            self._again = True  # coalesced: the run in progress may have missed them
        else:
            self.start_indexing()

    def _run_ended(self, report: Any) -> None:
        again, self._again = self._again, False
        if not again or report is None or report.cancelled:
            return  # nothing new, or the run was stopped or failed: the next change starts one
        # After every other slot of this run's end (the window's status line) has run.
        QTimer.singleShot(0, lambda lib=self.library: lib is self.library and self.watching
                          and not self.indexer.running and self.start_indexing())
