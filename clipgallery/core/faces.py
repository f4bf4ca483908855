"""People: find the faces in photos (dlib HOG + 5-point alignment + 128-d descriptor) and group them.

A separate pass after CLIP indexing, per folder setting; faces are biometric data and never leave
the library. The SQL lives in core/store/faces.py (`Library.faces`).
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import face_detect
from .errors import ModelLoadError
from .face_detect import (
    HOG_MIN_BOX,
    INSTALL_HINT,
    MIN_FACE_PX,
    SMALL_SIDE,
    available,
    detect_faces,
    working_scale,
)
from .indexer import FailedFile
from .library import Library
from .progress import Progress, ProgressFn
from .store.faces import DESCRIPTOR_DIM, DetectedFace, Face, FaceStore, Person

__all__ = ["BATCH", "DESCRIPTOR_DIM", "HOG_MIN_BOX", "INSTALL_HINT", "MIN_FACE_PX", "PROCESS_MIN", "SMALL_SIDE",
           "THRESHOLD", "DetectedFace", "Face",
           "FaceReport", "FaceStore", "Person", "available", "detect_faces", "index_faces", "person_selection",
           "photos_of_person", "recluster", "working_scale"]

# dlib's descriptors: the same person lies 0.07-0.42 apart on the shared test photos, different
# people 0.73-0.87; 0.6 is the threshold the model was trained for (99.4% on LFW).
THRESHOLD = 0.6
BATCH = 8  # photos per committed batch: a crash loses at most these
# A pass over at least this many photos runs in worker processes (dlib's descriptor network holds
# the GIL, so threads search two photos at once only while they decode and run the detector);
# below it, starting the processes (about a second) costs more than it saves.
PROCESS_MIN = 12


# -- records -----------------------------------------------------------------------------------------


@dataclass
class FaceReport:
    photos: int = 0  # photos searched for faces in this run
    faces: int = 0  # faces found in them
    people: int = 0  # people (two faces or more) after the run
    failed: list[FailedFile] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"photos": self.photos, "faces": self.faces, "people": self.people,
                "failed": [{"path": str(f.path), "error": f.error} for f in self.failed],
                "seconds": round(self.seconds, 3), "cancelled": self.cancelled}


# -- clustering ----------------------------------------------------------------------------------------


class _Clusters:
    """The assigned faces in memory; a new face joins the person of its nearest face within the
    threshold, else starts a person of its own."""

    def __init__(self, store: FaceStore, threshold: float = THRESHOLD):
        self.store, self.threshold = store, threshold
        _, self.pids, self.desc = store.assigned()

    def assign(self, c: sqlite3.Connection, face_ids: np.ndarray, desc: np.ndarray) -> None:
        for fid, d in zip(face_ids, desc):
            pid = None
            if len(self.pids):
                dist = np.linalg.norm(self.desc - d, axis=1)
                best = int(np.argmin(dist))
                if dist[best] <= self.threshold:
                    pid = int(self.pids[best])
            if pid is None:
                pid = self.store.new_person(c)
            self.store.set_person(c, [int(fid)], pid)
            self.pids = np.append(self.pids, pid)
            self.desc = np.vstack([self.desc, d[None, :]])


def recluster(library: Library, threshold: float = THRESHOLD) -> int:
    """Group again every face the user has not placed: named, hidden, merged people and moved-out
    faces stay as they are. Returns the number of people with two faces or more."""
    store = library.faces
    with library.transaction() as c:
        c.execute("UPDATE faces SET person_id = NULL WHERE locked = 0")
        store.refresh_people(c)
        ids, desc = store.unassigned(c)
        _Clusters(store, threshold).assign(c, ids, desc)
        store.refresh_people(c)
    return len(store.people())


# -- the face pass -------------------------------------------------------------------------------------


def index_faces(library: Library, progress: ProgressFn | None = None,
                cancel: threading.Event | None = None, pause: threading.Event | None = None,
                workers: int | None = None, batch_size: int = BATCH, min_face: int | None = None,
                threshold: float = THRESHOLD, processes: bool | None = None) -> FaceReport:
    """Search every photo not yet searched (in its present content) for faces, a batch per commit,
    and put each new face in a person. Photos with no face are recorded too, never searched again.

    `workers` photos are searched at once, in worker processes (`processes`; by default for passes
    of PROCESS_MIN photos or more on more than one worker) or else threads of this process."""
    from .indexer import default_workers

    t0 = time.perf_counter()
    cancel = cancel or threading.Event()
    notify = progress or (lambda p: None)
    report = FaceReport()
    store = library.faces
    todo = store.pending()
    total = len(todo)
    notify(Progress("faces", 0, total))
    n_workers = workers or default_workers()
    if processes is None:
        processes = n_workers > 1 and total >= PROCESS_MIN and not getattr(sys, "frozen", False)
    if todo and not processes:
        face_detect.Models.get()  # a missing package fails here, once, with its install hint
    elif todo and not available():
        raise ModelLoadError(INSTALL_HINT)
    clusters = _Clusters(store, threshold)
    rates: deque[tuple[float, int]] = deque([(time.perf_counter(), 0)], maxlen=8)
    pool = _pool(n_workers, processes)
    pending: deque[tuple[int, str, Future]] = deque()
    done: list[tuple[int, str, list[DetectedFace], str | None]] = []
    it = iter(todo)
    try:
        while True:
            try:
                while len(pending) < batch_size + n_workers and not cancel.is_set():
                    nxt = next(it, None)
                    if nxt is None:
                        break
                    fut = pool.submit(face_detect.scan_file, library.abspath(nxt[1]), min_face)
                    pending.append((nxt[0], nxt[1], fut))
                if not pending or cancel.is_set():
                    break
                faces, error = pending[0][2].result()
            except BrokenProcessPool:
                # a worker process could not start or died (out of memory, killed): the photos in
                # flight are searched again, in threads, and so is the rest of the pass
                pool.shutdown(wait=False, cancel_futures=True)
                face_detect.Models.get()
                pool = _pool(n_workers, False)
                pending = deque((fid, rel, pool.submit(face_detect.scan_file, library.abspath(rel), min_face))
                                for fid, rel, _ in pending)
                continue
            fid, rel, _ = pending.popleft()
            done.append((fid, rel, faces, error))
            if len(done) >= batch_size or not pending:
                while pause is not None and pause.is_set() and not cancel.is_set():
                    time.sleep(0.05)
                if cancel.is_set():
                    break
                _commit(library, store, clusters, done, report)
                now = time.perf_counter()
                rates.append((now, report.photos))
                rate = (report.photos - rates[0][1]) / max(now - rates[0][0], 1e-9)
                eta = (total - report.photos) / rate if rate > 0 else None
                notify(Progress("faces", report.photos, total, rate, eta, rel))
                done = []
    finally:
        for _, _, f in pending:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
    report.cancelled = cancel.is_set()
    report.people = len(store.people())
    report.seconds = time.perf_counter() - t0
    notify(Progress("done", report.photos, total))
    return report


def _pool(n_workers: int, processes: bool) -> Executor:
    if not processes:
        return ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="faces")
    from .processes import process_context

    ctx = process_context(["clipgallery.core.face_detect"])  # a clean interpreter that imports face_detect alone
    return ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=face_detect.worker_init)


def _commit(library: Library, store: FaceStore, clusters: _Clusters,
            done: list[tuple[int, str, list[DetectedFace], str | None]], report: FaceReport) -> None:
    with library.transaction() as c:
        if not store.enabled_in(c):
            return  # turned off while this batch was being searched: store nothing
        new: list[tuple[float, int, np.ndarray]] = []
        for fid, rel, faces, error in done:
            if error:
                report.failed.append(FailedFile(library.abspath(rel), error))
            if error and (error == "file disappeared" or error.startswith("cannot read file")):
                continue  # may be readable next time (the CLIP index retries it too): not recorded
            ids = store.save_scan(c, fid, faces, error)
            new += [(f.quality, i, f.descriptor) for i, f in zip(ids, faces)]
            report.faces += len(ids)
        if new:
            new.sort(key=lambda t: (-t[0], t[1]))  # clearer faces seed people first
            clusters.assign(c, np.array([t[1] for t in new]), np.stack([t[2] for t in new]))
        store.refresh_people(c)
    report.photos += len(done)


# -- for search and export -----------------------------------------------------------------------------


def photos_of_person(library: Library, name: str) -> list[int]:
    """File ids of the photos a named person is in; QueryError when nobody has that name."""
    store = library.faces
    return store.photos_of(store.find(name))


def person_selection(library: Library, name: str) -> tuple[str, list[Path]]:
    """A named person's display name and photo paths (for export)."""
    store = library.faces
    person = store.person(store.find(name))
    return person.name or name, person.paths
