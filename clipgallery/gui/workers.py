"""Background work: a QThreadPool for short jobs, a QThread for indexing; results come back as signals."""

from __future__ import annotations

import itertools
import logging
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal, Slot

from .facade import ClipGalleryError, DownloadCancelled, Facade

log = logging.getLogger(__name__)


def describe_error(e: BaseException) -> str:
    """One sentence for a person: ours are already that; anything else says what broke."""
    if isinstance(e, ClipGalleryError):
        return str(e)
    if isinstance(e, MemoryError):
        return "not enough memory for this operation"
    if isinstance(e, OSError) and e.strerror:
        where = f" ({e.filename})" if e.filename else ""
        return f"{e.strerror}{where}"
    return f"unexpected error: {type(e).__name__}: {e}"


class _TaskSignals(QObject):
    done = Signal(int, object)
    failed = Signal(int, str, str)  # job id, sentence, traceback ("" for expected errors)


class _Task(QRunnable):
    def __init__(self, job_id: int, fn: Callable, args: tuple, kwargs: dict, signals: _TaskSignals):
        super().__init__()
        self.job_id, self.fn, self.args, self.kwargs, self.signals = job_id, fn, args, kwargs, signals
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            result = self.fn(*self.args, **self.kwargs)
        except ClipGalleryError as e:
            self.signals.failed.emit(self.job_id, describe_error(e), "")
        except Exception as e:  # shown to the user by the caller; a worker must never die silently
            self.signals.failed.emit(self.job_id, describe_error(e), traceback.format_exc())
        else:
            self.signals.done.emit(self.job_id, result)


class Jobs(QObject):
    """Runs functions on a thread pool and calls back on the UI thread.

    A job without its own error callback reports through the `error` signal, so that no failure
    is ever swallowed.
    """

    error = Signal(str, str)  # sentence, traceback

    def __init__(self, max_threads: int = 1, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._signals = _TaskSignals(self)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self._ids = itertools.count(1)
        self._callbacks: dict[int, tuple[Callable | None, Callable | None]] = {}

    def submit(self, fn: Callable, *args: Any, on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[str], None] | None = None, **kwargs: Any) -> int:
        job_id = next(self._ids)
        self._callbacks[job_id] = (on_done, on_error)
        self.pool.start(_Task(job_id, fn, args, kwargs, self._signals))
        return job_id

    @property
    def busy(self) -> bool:
        return bool(self._callbacks)

    def forget(self) -> None:
        """Drop the callbacks of jobs not yet finished (their results are no longer wanted)."""
        self._callbacks.clear()

    def wait(self, msecs: int = -1) -> bool:
        self.pool.clear()
        return self.pool.waitForDone(msecs)

    @Slot(int, object)
    def _on_done(self, job_id: int, result: object) -> None:
        on_done, _ = self._callbacks.pop(job_id, (None, None))
        if on_done is not None:
            on_done(result)

    @Slot(int, str, str)
    def _on_failed(self, job_id: int, message: str, tb: str) -> None:
        if job_id not in self._callbacks:
            return
        _, on_error = self._callbacks.pop(job_id)
        if tb:
            log.error("background job failed: %s\n%s", message, tb)
        if on_error is not None:
            on_error(message)
        else:
            self.error.emit(message, tb)


class _IndexRun(QObject):
    """Loads the model and indexes one library; lives in its own QThread.

    Every signal carries the run's number, so the controller can drop late signals of a run it
    already stopped and replaced.
    """

    status = Signal(int, str)
    model_ready = Signal(int, str, str)  # spec, device
    progress = Signal(int, object)  # core.indexer.Progress
    download = Signal(int, object)  # core.download.DownloadProgress: a first run fetching the weights
    finished = Signal(int, object)  # core.indexer.IndexReport, or None when cancelled before it began
    failed = Signal(int, str)

    def __init__(self, number: int, facade: Facade, library: Any, spec: str, device: str, batch_size: int):
        super().__init__()
        self.number = number
        self.facade, self.library, self.spec, self.device = facade, library, spec, device
        self.batch_size = batch_size
        self.cancel = threading.Event()
        self.pause = threading.Event()

    @Slot()
    def run(self) -> None:
        n = self.number
        try:
            if not self.facade.is_loaded(self.spec, self.device):
                self.status.emit(n, f"Loading model {self.spec}…")
            spec = self.facade.canonical_spec(self.spec)
            # The model loads in a thread of its own: the check needs it only for new or changed
            # photos (then it waits for it), and a search typed meanwhile needs it first. Weights at
            # hand load in seconds, and the check waits for them: both are Python work that takes
            # turns on one lock (the GIL), and a million files compared beside torch's import would
            # delay the first search by as much. Weights still to download are fetched while the
            # folder is checked (a download does not compete for it).
            loading: Future = Future()
            loader = threading.Thread(target=self._load, args=(n, loading), name="clipgallery-model-load")
            loader.start()
            if self.facade.model_at_hand(self.spec):
                loader.join()
            try:
                report = self.facade.index(self.library, loading.result, self.batch_size,
                                           lambda p: self.progress.emit(n, p), self.cancel, self.pause, spec=spec)
            finally:
                loader.join()  # never a thread left running: a load finishes (or is cancelled) first
            loading.result()  # a model that cannot be loaded fails the run, as it always did
        except DownloadCancelled:
            self.finished.emit(n, None)  # the user stopped the download: not an error
        except ClipGalleryError as e:
            self.failed.emit(n, describe_error(e))
        except Exception as e:
            log.error("indexing failed\n%s", traceback.format_exc())
            self.failed.emit(n, describe_error(e))
        else:
            self.finished.emit(n, report)


    def _load(self, n: int, into: Future) -> None:
        """Load the model (in its thread), tell the window which one it is, hand it to the check."""
        try:
            embedder = self.facade.embedder(self.spec, self.device,
                                            download=lambda d: self.download.emit(n, d), cancel=self.cancel)
        except BaseException as e:  # handed over: the index run raises it where it needs the model
            into.set_exception(e)
            return
        self.model_ready.emit(n, embedder.spec, embedder.device)
        into.set_result(embedder)


class IndexController(QObject):
    """Starts, pauses, cancels and cleanly stops the indexing thread of the open folder."""

    status = Signal(str)
    model_ready = Signal(str, str)
    progress = Signal(object)
    download = Signal(object)  # DownloadProgress of the model's weights, on a first run
    finished = Signal(object)  # IndexReport, or None when cancelled before indexing began
    failed = Signal(str)
    running_changed = Signal(bool)

    def __init__(self, facade: Facade, parent: QObject | None = None):
        super().__init__(parent)
        self.facade = facade
        self._thread: QThread | None = None
        self._run: _IndexRun | None = None
        self._numbers = itertools.count(1)

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def paused(self) -> bool:
        return self._run is not None and self._run.pause.is_set()

    @property
    def spec(self) -> str | None:
        return self._run.spec if self._run else None

    def start(self, library: Any, spec: str, device: str, batch_size: int) -> None:
        """Index `library` in the background; a run already going is stopped first."""
        self.stop()
        run = _IndexRun(next(self._numbers), self.facade, library, spec, device, batch_size)
        thread = QThread()
        thread.setObjectName("clipgallery-index")
        run.moveToThread(thread)
        thread.started.connect(run.run)
        # Bound slots of this UI-thread object: Qt queues every signal to the UI thread.
        run.status.connect(self._on_status)
        run.model_ready.connect(self._on_model_ready)
        run.progress.connect(self._on_progress)
        run.download.connect(self._on_download)
        run.finished.connect(self._on_finished)
        run.failed.connect(self._on_failed)
        self._thread, self._run = thread, run
        thread.start()
        self.running_changed.emit(True)

    def set_paused(self, paused: bool) -> None:
        if self._run is not None:
            (self._run.pause.set if paused else self._run.pause.clear)()

    def cancel(self) -> None:
        """Ask the run to stop after the batch in flight (everything committed stays)."""
        if self._run is not None:
            self._run.cancel.set()
            self._run.pause.clear()

    def stop(self) -> None:
        """Cancel and wait for the thread to end: used on close and before a new run."""
        if self._run is None:
            return
        self.cancel()
        self._end()

    def _current(self, number: int) -> bool:
        return self._run is not None and self._run.number == number

    def _end(self) -> None:
        thread, run = self._thread, self._run
        self._thread, self._run = None, None
        if thread is not None:
            thread.quit()  # its event loop ends as soon as run() has returned
            thread.wait()
            thread.deleteLater()
        if run is not None:
            run.deleteLater()
        self.running_changed.emit(False)

    @Slot(int, str)
    def _on_status(self, number: int, text: str) -> None:
        if self._current(number):
            self.status.emit(text)

    @Slot(int, str, str)
    def _on_model_ready(self, number: int, spec: str, device: str) -> None:
        if self._current(number):
            self.model_ready.emit(spec, device)

    @Slot(int, object)
    def _on_progress(self, number: int, progress: object) -> None:
        if self._current(number):
            self.progress.emit(progress)

    @Slot(int, object)
    def _on_download(self, number: int, progress: object) -> None:
        if self._current(number):
            self.download.emit(progress)

    @Slot(int, object)
    def _on_finished(self, number: int, report: object) -> None:
        if self._current(number):
            self._end()
            self.finished.emit(report)

    @Slot(int, str)
    def _on_failed(self, number: int, message: str) -> None:
        if self._current(number):
            self._end()
            self.failed.emit(message)


class ProgressRelay(QObject):
    """A progress callback for core functions, safe to call from any thread; re-emitted on the UI thread."""

    progress = Signal(object)

    def __call__(self, p: object) -> None:
        self.progress.emit(p)
