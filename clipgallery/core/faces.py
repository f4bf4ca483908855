"""People: find the faces in photos (dlib HOG + 5-point alignment + 128-d descriptor) and group them.

A separate pass after CLIP indexing, per folder setting; faces are biometric data and never leave
the library. The SQL lives in core/store/faces.py (`Library.faces`).
"""

from __future__ import annotations

import importlib.util
import io
import math
import sqlite3
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ImageError, ModelLoadError
from .indexer import FailedFile
from .library import Library
from .progress import Progress, ProgressFn
from .store.faces import DESCRIPTOR_DIM, DetectedFace, Face, FaceStore, Person

__all__ = ["BATCH", "DESCRIPTOR_DIM", "INSTALL_HINT", "MIN_FACE_PX", "THRESHOLD", "DetectedFace", "Face",
           "FaceReport", "FaceStore", "Person", "available", "detect_faces", "index_faces", "person_selection",
           "photos_of_person", "recluster", "working_scale"]

# A face of this many pixels (box side, in the original photo) or more is looked for. dlib's HOG
# window is 80 px, so detection runs at 80/MIN_FACE_PX of the original size: a 12 MP photo is
# searched at 0.8x (7.7 MP), which keeps the pass near 2 photos/s on two cores (bench/faces.py).
MIN_FACE_PX = 100
HOG_WINDOW = 80
# Photos with a shorter side below this are searched at twice their size (dlib's upsampling),
# so the faces of a small photo (40 px and up) are found too.
SMALL_SIDE = 720
# dlib's descriptors: the same person lies 0.07-0.42 apart on the shared test photos, different
# people 0.73-0.87; 0.6 is the threshold the model was trained for (99.4% on LFW).
THRESHOLD = 0.6
CHIP_SIZE = 150
BATCH = 8  # photos per committed batch: a crash loses at most these
INSTALL_HINT = ("finding faces needs the packages dlib-bin and face-recognition-models: "
                "pip install 'clipgallery[faces]' (or: pip install dlib-bin face-recognition-models)")


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


# -- detection ----------------------------------------------------------------------------------------


def available() -> bool:
    """Whether dlib and the face model files are installed (without importing either)."""
    return importlib.util.find_spec("dlib") is not None and _model_dir() is not None


def _model_dir() -> Path | None:
    # face_recognition_models imports pkg_resources, which new setuptools no longer ships: find
    # its data files without importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(next(iter(spec.submodule_search_locations))) / "models"
    return d if (d / "dlib_face_recognition_resnet_model_v1.dat").is_file() else None


class _Models:
    """dlib's detector, landmark model and descriptor network; one set per thread (not thread-safe)."""

    _local = threading.local()

    @classmethod
    def get(cls) -> _Models:
        m = getattr(cls._local, "models", None)
        if m is None:
            m = cls._local.models = cls()
        return m

    def __init__(self) -> None:
        d = _model_dir()
        if d is None or importlib.util.find_spec("dlib") is None:
            raise ModelLoadError(INSTALL_HINT)
        import dlib

        try:
            self.detector = dlib.get_frontal_face_detector()
            self.shapes = dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat"))
            self.net = dlib.face_recognition_model_v1(str(d / "dlib_face_recognition_resnet_model_v1.dat"))
        except RuntimeError as e:
            raise ModelLoadError(f"cannot load the face models from {d}: {e}") from e
        self.dlib = dlib


def working_scale(width: int, height: int, min_face: int | None = None) -> tuple[float, int]:
    """(scale of the original to search at, dlib upsampling count) for a photo of this size."""
    min_face = min_face or MIN_FACE_PX
    if min(width, height) < SMALL_SIDE:
        return 1.0, 1
    return min(1.0, HOG_WINDOW / min_face), 0


def detect_faces(source: Path | bytes, min_face: int | None = None) -> tuple[list[DetectedFace], int, int]:
    """The faces of one photo and its upright size; ImageError when it cannot be decoded."""
    from PIL import Image

    from .images import decode

    models = _Models.get()
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:  # the header alone gives the size to decode at (the short side does not depend on EXIF turns)
        with Image.open(io.BytesIO(data)) as probe:
            stored_short = min(probe.size)
    except Exception:
        stored_short = 0  # decode() below says what is wrong with the file
    scale, _ = working_scale(stored_short, stored_short, min_face)
    full = decode(data, min_side=math.ceil(stored_short * scale) or SMALL_SIDE)
    w0, h0 = full.width, full.height
    scale, upsample = working_scale(w0, h0, min_face)
    img = full.image
    target = (max(1, round(w0 * scale)), max(1, round(h0 * scale)))
    # HOG on the grey image at the working size: a third of the gradient work, and fewer false
    # faces on colourful backgrounds (bench/faces.py). Landmarks and chips come from the colour
    # image as decoded (up to full size), so a small face still gives a sharp chip.
    gray_img = img.convert("L")
    if gray_img.size != target:
        gray_img = gray_img.resize(target, Image.Resampling.BILINEAR)
    rects, scores, _ = models.detector.run(np.asarray(gray_img, dtype=np.uint8), upsample, 0.0)
    if not rects:
        return [], w0, h0
    arr = np.asarray(img, dtype=np.uint8)
    gx, gy = arr.shape[1] / target[0], arr.shape[0] / target[1]  # working size -> decoded image
    fx, fy = w0 / target[0], h0 / target[1]  # working size -> original
    out = []
    for rect, score in zip(rects, scores):
        on_img = models.dlib.rectangle(round(rect.left() * gx), round(rect.top() * gy),
                                       round(rect.right() * gx), round(rect.bottom() * gy))
        shape = models.shapes(arr, on_img)
        chip = models.dlib.get_face_chip(arr, shape, size=CHIP_SIZE, padding=0.25)
        desc = np.asarray(models.net.compute_face_descriptor(chip), dtype=np.float32)
        box = (max(0, round(rect.left() * fx)), max(0, round(rect.top() * fy)),
               min(w0, round(rect.right() * fx)), min(h0, round(rect.bottom() * fy)))
        if box[2] - box[0] < 4 or box[3] - box[1] < 4:
            continue
        out.append(DetectedFace(box, _quality(box, float(score), chip), desc))
    return out, w0, h0


def _quality(box: tuple[int, int, int, int], score: float, chip: np.ndarray) -> float:
    side = min(box[2] - box[0], box[3] - box[1])
    gray = chip.astype(np.float32).mean(axis=2)
    lap = gray[1:-1, 1:-1] * 4 - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:]
    sharp = min(1.0, float(lap.var()) / 400.0)
    return round(0.4 * min(1.0, side / 160) + 0.4 * min(1.0, max(0.0, score) / 1.5) + 0.2 * sharp, 4)


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


def _scan_one(path: Path, min_face: int | None) -> tuple[list[DetectedFace], str | None]:
    try:
        faces, _, _ = detect_faces(path.read_bytes(), min_face)
        return faces, None
    except FileNotFoundError:
        return [], "file disappeared"
    except OSError as e:
        return [], f"cannot read file: {e.strerror or e}"
    except ImageError as e:
        return [], e.reason
    except ModelLoadError:
        raise
    except Exception as e:  # a decoder or dlib failure costs one photo, never the pass
        return [], f"cannot search for faces: {type(e).__name__}: {e}"


def index_faces(library: Library, progress: ProgressFn | None = None,
                cancel: threading.Event | None = None, pause: threading.Event | None = None,
                workers: int | None = None, batch_size: int = BATCH, min_face: int | None = None,
                threshold: float = THRESHOLD) -> FaceReport:
    """Search every photo not yet searched (in its present content) for faces, a batch per commit,
    and put each new face in a person. Photos with no face are recorded too, never searched again."""
    from .indexer import default_workers

    t0 = time.perf_counter()
    cancel = cancel or threading.Event()
    notify = progress or (lambda p: None)
    report = FaceReport()
    store = library.faces
    todo = store.pending()
    total = len(todo)
    notify(Progress("faces", 0, total))
    if todo:
        _Models.get()  # a missing package fails here, once, with its install hint
    clusters = _Clusters(store, threshold)
    rates: deque[tuple[float, int]] = deque([(time.perf_counter(), 0)], maxlen=8)
    n_workers = workers or default_workers()
    pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="faces")
    pending: deque[tuple[int, str, Future]] = deque()
    done: list[tuple[int, str, list[DetectedFace], str | None]] = []
    it = iter(todo)
    try:
        while True:
            while len(pending) < batch_size + n_workers and not cancel.is_set():
                nxt = next(it, None)
                if nxt is None:
                    break
                pending.append((nxt[0], nxt[1], pool.submit(_scan_one, library.abspath(nxt[1]), min_face)))
            if not pending or cancel.is_set():
                break
            fid, rel, fut = pending.popleft()
            faces, error = fut.result()
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
