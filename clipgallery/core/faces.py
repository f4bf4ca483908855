"""People: find the faces in photos (dlib HOG + 5-point alignment + 128-d descriptor) and group them.

A separate pass after CLIP indexing, per folder setting; faces are biometric data and never leave
the library. The SQL lives in FaceStore (to become core/store/faces.py).
"""

from __future__ import annotations

import importlib.util
import io
import math
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ImageError, LibraryError, ModelLoadError, QueryError
from .indexer import FailedFile, Progress
from .library import Library

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
DESCRIPTOR_DIM = 128
CHIP_SIZE = 150
BATCH = 8  # photos per committed batch: a crash loses at most these
INSTALL_HINT = ("finding faces needs the packages dlib-bin and face-recognition-models: "
                "pip install 'clipgallery[faces]' (or: pip install dlib-bin face-recognition-models)")


# -- records -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectedFace:
    box: tuple[int, int, int, int]  # left, top, right, bottom in the upright original's pixels
    quality: float  # 0..1: size, detector confidence and sharpness; picks covers, orders clustering
    descriptor: np.ndarray  # [128] float32


@dataclass(frozen=True)
class Face:
    id: int
    file_id: int
    path: Path
    box: tuple[int, int, int, int]
    quality: float
    person_id: int | None


@dataclass
class Person:
    id: int
    name: str | None
    hidden: bool
    cover: Face | None
    faces: list[Face]

    @property
    def file_ids(self) -> list[int]:
        return list(dict.fromkeys(f.file_id for f in self.faces))

    @property
    def paths(self) -> list[Path]:
        seen: dict[int, Path] = {}
        for f in self.faces:
            seen.setdefault(f.file_id, f.path)
        return sorted(seen.values())

    def to_json(self) -> dict[str, Any]:
        return {"person": self.id, "name": self.name, "cover": str(self.cover.path) if self.cover else None,
                "photos": [str(p) for p in self.paths], "faces": len(self.faces), "hidden": self.hidden,
                "face_list": [{"face": f.id, "path": str(f.path), "box": list(f.box),
                               "quality": round(f.quality, 3)} for f in self.faces]}


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

    def __init__(self):
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


# -- storage (to become core/store/faces.py) -------------------------------------------------------------


class FaceStore:
    """Every SQL statement about faces and people. Tables from migration v4 of core.library."""

    def __init__(self, library: Library):
        self.library = library

    @property
    def conn(self) -> sqlite3.Connection:
        return self.library.conn

    # the setting

    @property
    def enabled(self) -> bool:
        return self.library.get_meta("faces", "0") == "1"

    def set_enabled(self, enabled: bool) -> None:
        """On: the next index run finds faces. Off: every face, person and name is deleted, and
        overwritten on disk (secure_delete + a WAL checkpoint), since they are biometric data."""
        c = self.conn
        if enabled:
            with self.library.transaction():
                self.library.set_meta("faces", "1")
            return
        c.execute("PRAGMA secure_delete=ON")
        try:
            with self.library.transaction():
                self.library.set_meta("faces", "0")
                c.execute("DELETE FROM faces")
                c.execute("DELETE FROM people")
                c.execute("DELETE FROM face_scans")
        finally:
            c.execute("PRAGMA secure_delete=OFF")
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # the pass

    def pending(self) -> list[tuple[int, str]]:
        """(file id, relpath) of readable photos not yet searched for faces in their present content."""
        return self.conn.execute(
            "SELECT f.id, f.relpath FROM files f LEFT JOIN face_scans s ON s.file_id = f.id "
            "WHERE f.status = 'ok' AND (s.file_id IS NULL OR s.content_hash IS NOT f.content_hash) "
            "ORDER BY f.id").fetchall()

    def scanned_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM face_scans").fetchone()[0]

    def face_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM faces").fetchone()[0]

    def save_scan(self, c: sqlite3.Connection, file_id: int, faces: Sequence[DetectedFace],
                  error: str | None = None) -> list[int]:
        """Replace a photo's faces by these (inside the caller's transaction); their new ids."""
        c.execute("DELETE FROM faces WHERE file_id=?", (file_id,))
        row = c.execute("SELECT content_hash FROM files WHERE id=?", (file_id,)).fetchone()
        if row is None:  # removed by an index run meanwhile
            return []
        c.execute("INSERT OR REPLACE INTO face_scans(file_id, content_hash, faces, error, scanned_at) "
                  "VALUES(?,?,?,?,?)", (file_id, row[0], len(faces), error, time.time()))
        ids = []
        for f in faces:
            ids.append(c.execute(
                "INSERT INTO faces(file_id, left, top, right, bottom, quality, descriptor) VALUES(?,?,?,?,?,?,?)",
                (file_id, *f.box, f.quality, np.asarray(f.descriptor, "<f4").tobytes())).lastrowid)
        return ids

    def assigned(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(face ids, person ids, descriptors [n, 128]) of every face that belongs to a person."""
        rows = self.conn.execute(
            "SELECT id, person_id, descriptor FROM faces WHERE person_id IS NOT NULL ORDER BY id").fetchall()
        return _face_arrays(rows)

    def unassigned(self, c: sqlite3.Connection | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(face ids, descriptors) of faces in no person yet, best quality first."""
        rows = (c or self.conn).execute(
            "SELECT id, NULL, descriptor FROM faces WHERE person_id IS NULL ORDER BY quality DESC, id").fetchall()
        ids, _, desc = _face_arrays(rows)
        return ids, desc

    def new_person(self, c: sqlite3.Connection) -> int:
        return c.execute("INSERT INTO people(created_at) VALUES(?)", (time.time(),)).lastrowid

    def set_person(self, c: sqlite3.Connection, face_ids: Iterable[int], person_id: int | None,
                   locked: bool | None = None) -> None:
        if locked is None:
            c.executemany("UPDATE faces SET person_id=? WHERE id=?", [(person_id, int(i)) for i in face_ids])
        else:
            c.executemany("UPDATE faces SET person_id=?, locked=? WHERE id=?",
                          [(person_id, int(locked), int(i)) for i in face_ids])

    def refresh_people(self, c: sqlite3.Connection) -> None:
        """Drop people left without faces and give every person its best face as cover (unless the
        cover chosen still belongs to it)."""
        c.execute("DELETE FROM people WHERE NOT EXISTS(SELECT 1 FROM faces f WHERE f.person_id = people.id)")
        c.execute(
            "UPDATE people SET cover_face_id = (SELECT f.id FROM faces f WHERE f.person_id = people.id "
            "ORDER BY f.quality DESC, f.id LIMIT 1) WHERE cover_face_id IS NULL OR NOT EXISTS("
            "SELECT 1 FROM faces f WHERE f.id = people.cover_face_id AND f.person_id = people.id)")

    # people

    def faces(self, person_id: int | None = None, file_id: int | None = None) -> list[Face]:
        where, args = [], []
        if person_id is not None:
            where.append("fa.person_id = ?")
            args.append(person_id)
        if file_id is not None:
            where.append("fa.file_id = ?")
            args.append(file_id)
        sql = ("SELECT fa.id, fa.file_id, fi.relpath, fa.left, fa.top, fa.right, fa.bottom, fa.quality, "
               "fa.person_id FROM faces fa JOIN files fi ON fi.id = fa.file_id")
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.conn.execute(sql + " ORDER BY fa.quality DESC, fa.id", args).fetchall()
        root = self.library.root
        return [Face(r[0], r[1], root / r[2], (r[3], r[4], r[5], r[6]), r[7], r[8]) for r in rows]

    def face(self, face_id: int) -> Face:
        rows = self.conn.execute(
            "SELECT fa.id, fa.file_id, fi.relpath, fa.left, fa.top, fa.right, fa.bottom, fa.quality, fa.person_id "
            "FROM faces fa JOIN files fi ON fi.id = fa.file_id WHERE fa.id = ?", (int(face_id),)).fetchall()
        if not rows:
            raise LibraryError(f"there is no face {face_id} in this library (see `clipgallery people PATH --json`)")
        r = rows[0]
        return Face(r[0], r[1], self.library.root / r[2], (r[3], r[4], r[5], r[6]), r[7], r[8])

    def people(self, min_faces: int = 2, hidden: bool = False) -> list[Person]:
        """People with at least `min_faces` faces, named first, then the largest."""
        rows = self.conn.execute("SELECT id, name, hidden, cover_face_id FROM people").fetchall()
        by_person: dict[int, list[Face]] = {}
        for f in self.faces():
            if f.person_id is not None:
                by_person.setdefault(f.person_id, []).append(f)
        out = []
        for pid, name, hid, cover_id in rows:
            faces = by_person.get(pid, [])
            if len(faces) < min_faces or (hid and not hidden):
                continue
            cover = next((f for f in faces if f.id == cover_id), faces[0] if faces else None)
            out.append(Person(pid, name, bool(hid), cover, faces))
        out.sort(key=lambda p: (p.name is None, (p.name or "").lower(), -len(p.faces), p.id))
        return out

    def person(self, person_id: int) -> Person:
        row = self.conn.execute("SELECT id, name, hidden, cover_face_id FROM people WHERE id=?",
                                (int(person_id),)).fetchone()
        if row is None:
            raise LibraryError(f"there is no person {person_id} in this library "
                               "(see `clipgallery people PATH --all`)")
        faces = self.faces(person_id=row[0])
        cover = next((f for f in faces if f.id == row[3]), faces[0] if faces else None)
        return Person(row[0], row[1], bool(row[2]), cover, faces)

    def find(self, name: str) -> int:
        """The id of the person with this name (any case); QueryError naming the known ones if none."""
        key = " ".join(str(name).split())
        row = self.conn.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE", (key,)).fetchone()
        if row:
            return row[0]
        names = [r[0] for r in self.conn.execute(
            "SELECT name FROM people WHERE name IS NOT NULL ORDER BY name COLLATE NOCASE")]
        known = f"known people: {', '.join(names)}" if names else \
            "nobody has been named yet (name people with `clipgallery people PATH --name ID NAME` or in the People tab)"
        raise QueryError(f"there is no person named '{key}' in {self.library.root}; {known}")

    def names(self) -> dict[int, str | None]:
        return dict(self.conn.execute("SELECT id, name FROM people").fetchall())

    def photos_of(self, person_id: int) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT file_id FROM faces WHERE person_id=? ORDER BY file_id", (person_id,))]

    def rename(self, person_id: int, name: str | None) -> None:
        self.person(person_id)
        clean = " ".join(str(name).split()) if name is not None else ""
        with self.library.transaction() as c:
            if clean:
                other = c.execute("SELECT id, name FROM people WHERE name = ? COLLATE NOCASE AND id != ?",
                                  (clean, person_id)).fetchone()
                if other:
                    raise LibraryError(f"person {other[0]} is already called '{other[1]}': merge the two "
                                       f"(`--merge {other[0]} {person_id}`) instead of giving both one name")
            c.execute("UPDATE people SET name=? WHERE id=?", (clean or None, person_id))
            # A named person's faces are the user's word: a re-cluster never moves them.
            c.execute("UPDATE faces SET locked=1 WHERE person_id=?", (person_id,))

    def hide(self, person_id: int, hidden: bool = True) -> None:
        self.person(person_id)
        with self.library.transaction() as c:
            c.execute("UPDATE people SET hidden=? WHERE id=?", (int(hidden), person_id))
            c.execute("UPDATE faces SET locked=1 WHERE person_id=?", (person_id,))

    def merge(self, keep: int, other: int) -> None:
        """`other`'s faces join `keep`; `keep` takes `other`'s name when it has none."""
        a, b = self.person(keep), self.person(other)
        if a.id == b.id:
            raise LibraryError("give two different people to merge")
        with self.library.transaction() as c:
            c.execute("UPDATE faces SET person_id=?, locked=1 WHERE person_id IN (?, ?)", (a.id, a.id, b.id))
            name = a.name or b.name
            c.execute("DELETE FROM people WHERE id=?", (b.id,))
            c.execute("UPDATE people SET name=?, hidden=? WHERE id=?", (name, int(a.hidden and b.hidden), a.id))
            self.refresh_people(c)

    def move_out(self, face_id: int) -> int:
        """"Not this person": the face leaves its person for a person of its own (kept on re-cluster)."""
        face = self.face(face_id)
        with self.library.transaction() as c:
            pid = self.new_person(c)
            self.set_person(c, [face.id], pid, locked=True)
            if face.person_id is not None:
                # Its old person stays as it is when re-clustered too.
                c.execute("UPDATE faces SET locked=1 WHERE person_id=?", (face.person_id,))
            self.refresh_people(c)
        return pid


def _face_arrays(rows: Sequence[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    pids = np.array([r[1] if r[1] is not None else -1 for r in rows], dtype=np.int64)
    desc = np.empty((len(rows), DESCRIPTOR_DIM), np.float32)
    for i, r in enumerate(rows):
        desc[i] = np.frombuffer(r[2], dtype="<f4")
    return ids, pids, desc


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
    store = FaceStore(library)
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


def index_faces(library: Library, progress: Callable[[Progress], None] | None = None,
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
    store = FaceStore(library)
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
        if c.execute("SELECT value FROM meta WHERE key='faces'").fetchone() != ("1",):
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
    store = FaceStore(library)
    return store.photos_of(store.find(name))


def person_selection(library: Library, name: str) -> tuple[str, list[Path]]:
    """A named person's display name and photo paths (for export)."""
    store = FaceStore(library)
    person = store.person(store.find(name))
    return person.name or name, person.paths
