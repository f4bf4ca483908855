"""The indexing pipeline: scan -> parallel decode (threads) -> batched encode -> one commit per batch.

Decoding runs in worker threads that overlap with the model (Pillow and torch release the GIL).
Every batch is committed in one transaction, so a crash or kill loses at most the batch in flight,
and the next run does only what is left. A file whose content hash is already known (moved,
renamed, copied, or touched without change) reuses its vector instead of being encoded again.
When the library's regional setting is on, the same forward pass also gives each photo's region
vectors (core.regions), and a photo indexed before the setting was turned on is encoded again.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from . import formats, media
from .embed import Embedder
from .errors import ImageError, ModelLoadError
from .images import decode, open_regular, open_stream
from .library import FileUpdate, Library
from .lock import WriterLock
from .progress import Progress, ProgressFn
from .scan import KnownFile, ScannedFile, compare, walk

if TYPE_CHECKING:
    from .faces import FaceReport
    from .textread import TextReport

CANCEL_STEP = 8  # photos encoded between two looks at the cancel flag on a CPU (about half a second)


@dataclass
class FailedFile:
    path: Path
    error: str


@dataclass
class IndexReport:
    model: str
    indexed: int = 0
    unchanged: int = 0
    reused: int = 0
    removed: int = 0
    failed: list[FailedFile] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False
    text: TextReport | None = None  # the reading pass after the vectors (core.textread), when it ran
    faces: FaceReport | None = None  # the face pass after indexing (core.faces), when the folder's setting is on
    # Accounted for, not silently skipped: folders that could not be listed (their photos are kept
    # in the library), files of a format no installed decoder reads, and the photos kept because
    # the folder looked emptied (an unmounted drive).
    skipped_folders: list[Path] = field(default_factory=list)
    unsupported: dict[str, int] = field(default_factory=dict)
    kept_missing: int = 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "indexed": self.indexed, "unchanged": self.unchanged, "reused": self.reused,
            "removed": self.removed,
            "failed": [{"path": str(f.path), "error": f.error} for f in self.failed],
            "seconds": round(self.seconds, 3), "cancelled": self.cancelled, "model": self.model,
            "skipped_folders": [str(p) for p in self.skipped_folders], "unsupported": dict(self.unsupported),
            "kept_missing": self.kept_missing,
        }
        if self.text is not None:
            data["text"] = self.text.to_json()
        if self.faces is not None:
            data["faces"] = self.faces.to_json()
        return data


def default_batch_size(device: str) -> int:
    return 64 if device.startswith("cuda") else 16


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 2)))


class Preprocessing(Protocol):
    """What reading a file for encoding needs of a model: its input size and its eval transform
    (an Embedder, or the picklable pair `embed` ships to a Ray cluster's decoding tasks)."""

    @property
    def image_size(self) -> int: ...

    def preprocess(self, image: Any) -> Any: ...


@dataclass
class _Item:
    scanned: ScannedFile
    known: KnownFile | None


@dataclass
class _Result:
    item: _Item
    content_hash: str | None = None
    tensor: Any = None
    width: int | None = None
    height: int | None = None
    taken_at: float | None = None
    error: str | None = None
    reusable: bool = False  # content already has a vector: no decode was done
    frame_times: list[float] | None = None  # a video: `tensor` holds one row per sampled frame
    duration: float | None = None


def index_folder(
    library: Library,
    embedder: Embedder | Callable[[], Embedder],
    batch_size: int | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    pause: threading.Event | None = None,
    spec: str | None = None,
    lock_wait: float = 0.0,
) -> IndexReport:
    """Bring the library up to date with its folder for this embedder's model.

    `embedder` may be a function that loads the model, with its canonical `spec`: a model the
    library already holds vectors of is then loaded only when some photo needs encoding, so an
    up-to-date folder is checked in the time of a folder walk (and without the weights at hand).

    Only one process indexes a library at a time: another one holding it raises LibraryBusyError
    after `lock_wait` seconds. SQLite errors come out as the named LibraryErrors (full, read-only,
    damaged).
    """
    with library.errors(), WriterLock(library.dir).acquire(lock_wait):
        library.check_damage()
        return _index_folder(library, embedder, batch_size, workers, progress, cancel, pause, spec)


def _index_folder(library: Library, embedder: Embedder | Callable[[], Embedder], batch_size: int | None,
                  workers: int | None, progress: ProgressFn | None, cancel: threading.Event | None,
                  pause: threading.Event | None, spec: str | None) -> IndexReport:
    t0 = time.perf_counter()
    cancel = cancel or threading.Event()
    load: Callable[[], Embedder] | None
    model: Embedder | None
    if isinstance(embedder, Embedder):
        spec, load, model = embedder.spec, None, embedder
    elif spec is None:
        raise ValueError("a model loader needs the model's spec")
    else:
        load, model = embedder, None
    report = IndexReport(model=spec)
    notify = progress or (lambda p: None)

    unreadable: list[str] = []
    scanned = list(walk(library.root, skip=library.dir, unreadable=unreadable, unsupported=report.unsupported,
                        on_progress=lambda n: notify(Progress("scanning", n, 0)) if n % 500 == 0 else None))
    report.skipped_folders = [library.root / u if u else library.root for u in unreadable]
    regional = library.regional
    known_id = library.model_id(spec)
    known = library.known_files(known_id if known_id is not None else -1, regional)
    raw_pairs = media.pair_raws(f.relpath for f in scanned)  # a RAW beside its JPEG is not a photo of its own
    # ... unless that JPEG could not be read last time: then the RAW is the photo.
    raw_pairs = {raw: photo for raw, photo in raw_pairs.items() if not (photo in known and known[photo].failed)}
    scanned = [f for f in scanned if f.relpath not in raw_pairs]
    changes = compare(scanned, known)
    report.unchanged = len(changes.unchanged)
    reusable: dict[str, int] = {}
    digests: dict[str, str] = {}  # relpath -> content hash, for files hashed before deciding to load
    if known_id is not None and (changes.new or changes.changed):  # an unchanged folder needs none
        reusable = library.hashes_with_vectors(known_id, regional)
    movable = {k.content_hash: k for k in changes.missing if k.content_hash and k.has_vector}
    # A model this library has not used yet is always loaded: that is what checks its name. Else
    # the model loads only when some file's content has no vector yet: renamed, moved, copied or
    # touched files are hashed first and take their vectors over without it.
    if model is None and load is not None and (known_id is None or not _all_reusable(
            library.root, [*changes.new, *(f for f, _ in changes.changed)], reusable, digests, cancel)):
        model = load()
    if model is None:
        model_id = known_id
    else:
        if regional and not model.supports_regions:
            raise ModelLoadError(f"regional vectors are on for this library, but {model.spec} has no spatial "
                                 "features clipgallery can read (a ViT or a ResNet CLIP is needed); turn them "
                                 "off or choose another model")
        with library.transaction():
            model_id = library.register_model(model.spec, model.dim)
        if model_id != known_id:
            reusable = library.hashes_with_vectors(model_id, regional)
    batch_size = batch_size or default_batch_size(model.device if model is not None else "cpu")

    items = [_Item(f, None) for f in changes.new] + [_Item(f, k) for f, k in changes.changed]
    total = len(items)
    notify(Progress("indexing", 0, total))
    pipeline = _Pipeline(library, model, model_id, reusable, movable, report, notify, total, regional, cancel)
    pool = ThreadPoolExecutor(max_workers=workers or default_workers(), thread_name_prefix="decode")
    try:
        pending: deque[Future] = deque()
        window = batch_size * 2 + (workers or default_workers())
        it = iter(items)
        exhausted = False
        while True:
            while not exhausted and len(pending) < window and not cancel.is_set():
                nxt = next(it, None)
                if nxt is None:
                    exhausted = True
                    break
                # model is None only when every file was hashed above and its content has a vector
                pending.append(pool.submit(_prepare, library.root / nxt.scanned.relpath, nxt, model, reusable,
                                           digests.get(nxt.scanned.relpath)))
            if not pending or cancel.is_set():
                break
            pipeline.add(pending.popleft().result())
            if pipeline.tensor_count >= batch_size or (exhausted and not pending):
                if _wait_while_paused(pause, cancel):
                    pipeline.restart_rate()  # time spent paused is not time spent indexing
                if cancel.is_set():
                    break
                pipeline.flush()
        if not cancel.is_set():
            pipeline.flush()
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)

    report.cancelled = cancel.is_set()
    if not report.cancelled:
        gone = [k for k in changes.missing if k.id not in pipeline.moved
                and not any(k.relpath.startswith(u + "/") or not u for u in unreadable)]
        # An emptied root (an unmounted drive, say) must not wipe a library: keep it and say so.
        if scanned or not changes.missing:
            report.removed = library.remove_files(k.id for k in gone)
        else:
            report.kept_missing = len(gone)
        library.media.set_pairs(raw_pairs)
        record_scan(library, report)
    report.failed.sort(key=lambda f: str(f.path))
    report.seconds = time.perf_counter() - t0
    notify(Progress("done", pipeline.done, total))
    return report


LAST_SCAN_KEY = "last_scan"


def record_scan(library: Library, report: IndexReport) -> None:
    """Remember what the last complete run had to skip, for `info` and the app."""
    import json

    data = {"skipped_folders": [str(p) for p in report.skipped_folders], "unsupported": report.unsupported,
            "kept_missing": report.kept_missing, "at": time.time()}
    with library.transaction():  # ensure_ascii: undecodable name bytes survive as \udcXX escapes
        library.set_meta(LAST_SCAN_KEY, json.dumps(data, ensure_ascii=True))


def last_scan(library: Library) -> dict[str, Any]:
    """What record_scan stored (empty lists when the library was never fully indexed)."""
    import json

    try:
        data = json.loads(library.get_meta(LAST_SCAN_KEY) or "{}")
    except ValueError:
        data = {}
    return {"skipped_folders": data.get("skipped_folders", []), "unsupported": data.get("unsupported", {}),
            "kept_missing": data.get("kept_missing", 0)}


def _wait_while_paused(pause: threading.Event | None, cancel: threading.Event) -> bool:
    """Block while paused; whether it did."""
    waited = False
    while pause is not None and pause.is_set() and not cancel.is_set():
        waited = True
        time.sleep(0.05)
    return waited


def _all_reusable(root: Path, files: list[ScannedFile], reusable: dict[str, int], digests: dict[str, str],
                  cancel: threading.Event) -> bool:
    """Hash files until one has content without a vector (False: the model is needed). The
    hashes are kept in `digests`, so the indexing pass does not read those files again."""
    for f in files:
        if cancel.is_set():
            return True  # nothing will be encoded anyway
        try:
            digest = _hash_file(root / f.relpath)
        except (OSError, ImageError):
            continue  # the indexing pass reports it
        digests[f.relpath] = digest
        if digest not in reusable:
            return False
    return True


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _hash_file(path: Path) -> str:
    """_hash of a file's bytes, read a piece at a time (a video may not fit in memory)."""
    h = hashlib.blake2b(digest_size=16)
    with open_stream(path) as f:  # bounded: a FIFO swapped in cannot block the run (ImageError)
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def prepare_file(root: Path, scanned: ScannedFile, model: Preprocessing) -> _Result:
    """What indexing does with a new file before encoding it: read once (bounded), hash, decode and
    preprocess (a video: its sampled frames). `embed` (core.embedjob) calls this, so its vectors are
    those `index` would store. A failure is the result's `error`, never an exception."""
    return _prepare(root / scanned.relpath, _Item(scanned, None), model, {})


def encode_prepared(embedder: Embedder, results: list[_Result]) -> list[np.ndarray | None]:
    """The vectors of prepared files (None for a failed one), encoded in one batch as indexing does:
    a video's frames are rows of the batch and its vector is their normalised mean."""
    import torch

    ok = [r for r in results if r.tensor is not None]
    if not ok:
        return [None] * len(results)
    rows = torch.cat([r.tensor if r.frame_times is not None else r.tensor[None] for r in ok])
    vecs = embedder.encode_batch(rows)
    out: dict[int, np.ndarray] = {}
    row = 0
    for r in ok:
        n = len(r.frame_times) if r.frame_times is not None else 1
        out[id(r)] = vecs[row] if r.frame_times is None else media.clip_vector(vecs[row:row + n])
        row += n
    return [out.get(id(r)) for r in results]


def _prepare(path: Path, item: _Item, embedder: Preprocessing | None, reusable: dict[str, int],
             digest: str | None = None) -> _Result:
    """Runs in a worker thread: read once, hash, and decode + preprocess only if the content is new."""
    if digest is not None and digest in reusable:  # hashed already while deciding whether to load the model
        return _Result(item, digest, reusable=True)
    if formats.kind_of(path.name) == formats.VIDEO:
        return _prepare_video(path, item, embedder, reusable)
    try:  # bounded: a FIFO or device swapped in, or a huge non-image, costs nothing
        data = open_regular(path, item.scanned.size)
    except ImageError as e:
        return _Result(item, error=e.reason)
    digest = _hash(data)
    if digest in reusable:
        return _Result(item, digest, reusable=True)
    if embedder is None:  # unreadable while hashed before the run, new content now: the next run encodes it
        return _Result(item, digest, error="changed while being indexed")
    try:
        d = decode(data, min_side=embedder.image_size, name=path.name)
        tensor = embedder.preprocess(d.image)
    except ImageError as e:
        return _Result(item, digest, error=e.reason)
    except Exception as e:  # a decoder bug must cost one file, never the run
        return _Result(item, digest, error=f"cannot decode: {type(e).__name__}: {e}")
    return _Result(item, digest, tensor, d.width, d.height, d.taken_at)


def _prepare_video(path: Path, item: _Item, embedder: Preprocessing | None, reusable: dict[str, int]) -> _Result:
    """A video is hashed as it streams from disk (it may not fit in memory), then a few frames spread
    across it are decoded by PyAV; each becomes one row of the batch."""
    import torch

    h = hashlib.blake2b(digest_size=16)
    try:  # bounded like a photo's read (a FIFO swapped in cannot block it), without the photo size cap
        with open_stream(path) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except ImageError as e:
        return _Result(item, error=e.reason)
    except OSError as e:
        reason = "file disappeared" if isinstance(e, FileNotFoundError) else f"cannot read file: {e.strerror or e}"
        return _Result(item, error=reason)
    digest = h.hexdigest()
    if digest in reusable:
        return _Result(item, digest, reusable=True)
    if embedder is None:  # see _prepare
        return _Result(item, digest, error="changed while being indexed")
    try:
        clip = formats.read_clip(path, min_side=embedder.image_size)
        tensor = torch.stack([embedder.preprocess(im) for _, im in clip.frames])
    except ImageError as e:
        return _Result(item, digest, error=e.reason)
    except Exception as e:  # a demuxer or decoder bug must cost one file, never the run
        return _Result(item, digest, error=f"cannot decode video: {type(e).__name__}: {e}")
    return _Result(item, digest, tensor, clip.width, clip.height, clip.taken_at,
                   frame_times=[t for t, _ in clip.frames], duration=clip.duration)


class _Pipeline:
    """Collects prepared files in order, encodes them a batch at a time and commits each batch."""

    def __init__(self, library: Library, embedder: Any, model_id: Any, reusable: dict[str, int],
                 movable: dict[str, KnownFile], report: IndexReport, notify: ProgressFn, total: int,
                 regional: bool = False, cancel: threading.Event | None = None):
        # embedder and model_id are None only when nothing is to be encoded (no batch is flushed)
        self.library, self.embedder, self.model_id = library, embedder, model_id
        self.cancel = cancel or threading.Event()
        self.regional = regional
        self.reusable, self.movable, self.report, self.notify = reusable, movable, report, notify
        self.total = total
        self.results: list[_Result] = []
        self.moved: set[int] = set()
        self.done = 0
        self.tensor_count = 0
        self.rates: deque[tuple[float, int]] = deque([(time.perf_counter(), 0)], maxlen=8)

    def add(self, r: _Result) -> None:
        self.results.append(r)
        if r.tensor is not None:
            self.tensor_count += len(r.frame_times) if r.frame_times is not None else 1

    def flush(self) -> None:
        if not self.results:
            return
        results, self.results, self.tensor_count = self.results, [], 0
        with_tensor = [r for r in results if r.tensor is not None]
        vecs: Any = []
        regions: Any = []
        if with_tensor:
            import torch  # only here: a run that only reuses vectors never imports it
        # A video's frames are rows of the same batch as the photos'.
        rows = torch.cat([r.tensor if r.frame_times is not None else r.tensor[None] for r in with_tensor]) \
            if with_tensor else None
        # On a CPU a batch takes seconds; encoding it a few photos at a time lets a cancel (quitting
        # the app) act within a fraction of a second. The batch is then dropped whole, uncommitted.
        n_rows = 0 if rows is None else len(rows)
        step = n_rows if self.embedder is None or self.embedder.device != "cpu" else CANCEL_STEP
        for start in range(0, n_rows, max(step, 1)):
            if self.cancel.is_set():
                return
            assert rows is not None
            batch = rows[start:start + step]
            if self.regional:
                v, g = self.embedder.encode_batch_with_regions(batch)
                vecs, regions = [*vecs, *v], [*regions, *g]
            else:
                vecs = [*vecs, *self.embedder.encode_batch(batch)]
        vec_of: dict[int, Any] = {}
        regions_of: dict[int, Any] = {}
        frames_of: dict[int, list[tuple[float, Any]]] = {}
        row = 0
        for r in with_tensor:
            n = len(r.frame_times) if r.frame_times is not None else 1
            if r.frame_times is None:
                vec_of[id(r)] = vecs[row]
            else:
                vec_of[id(r)] = media.clip_vector(np.stack(vecs[row:row + n]))
                frames_of[id(r)] = list(zip(r.frame_times, vecs[row:row + n]))
            if len(regions):  # a clip's regions are those of its middle frame (the poster)
                regions_of[id(r)] = regions[row + n // 2]
            row += n
        updates = [self._update(r, vec_of.get(id(r)), regions_of.get(id(r))) for r in results]
        for r, u in zip(results, updates):
            if id(r) in frames_of and u.vec is not None:
                u.frames, u.duration = frames_of[id(r)], r.duration
        self.library.apply(self.model_id, updates)
        self.done += len(results)
        now = time.perf_counter()
        self.rates.append((now, self.done))
        t_first, n_first = self.rates[0]
        rate = (self.done - n_first) / max(now - t_first, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else None
        self.notify(Progress("indexing", self.done, self.total, rate, eta, results[-1].item.scanned.relpath))

    def restart_rate(self) -> None:
        self.rates.clear()
        self.rates.append((time.perf_counter(), self.done))

    def _update(self, r: _Result, vec: Any, regions: Any = None) -> FileUpdate:
        f, k = r.item.scanned, r.item.known
        u = FileUpdate(f.relpath, f.size, f.mtime_ns, r.content_hash, file_id=k.id if k else None)
        if r.error:
            u.error = r.error
            self.report.failed.append(FailedFile(self.library.abspath(f.relpath), r.error))
        elif r.reusable:
            assert r.content_hash is not None  # only known content is reusable
            if k is not None and k.content_hash == r.content_hash and k.has_vector:
                self.report.unchanged += 1  # touched, same bytes: just remember the new stat
            else:
                moved = self.movable.get(r.content_hash)
                if moved is not None and moved.id not in self.moved:
                    self.moved.add(moved.id)
                    u.move_from = moved.id
                else:
                    u.copy_from = self.reusable[r.content_hash]
                self.report.reused += 1
        else:
            u.vec, u.regions, u.width, u.height, u.taken_at = vec, regions, r.width, r.height, r.taken_at
            self.report.indexed += 1
        return u
