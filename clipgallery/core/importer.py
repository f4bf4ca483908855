"""`import`: Parquet shards (core.shards) into a folder's library, without reading a single photo.

Every row of every shard is checked before anything is written, so a bad shard imports nothing
(nor do the shards given with it). The rows are then written through `Library.apply`, IMPORT_BATCH
rows per transaction. A row whose photo the library already has with the same size and mtime and a
vector of the shard's model is skipped. A later `index` run reconciles the library with the folder
the way it does after its own runs: same size and mtime and a vector means unchanged, never read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .library import FileUpdate, Library
from .lock import WriterLock
from .progress import Progress, ProgressFn
from .shards import ShardError, ShardInfo, inspect, read_shard, shard_files

IMPORT_BATCH = 20_000  # rows per transaction


@dataclass
class ImportReport:
    model: str = ""
    imported: int = 0
    skipped: int = 0
    shards: int = 0
    seconds: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"imported": self.imported, "skipped": self.skipped, "seconds": round(self.seconds, 3),
                "model": self.model, "shards": self.shards, "cancelled": self.cancelled}


def import_shards(library: Library, paths: Iterable[Path], progress: ProgressFn | None = None,
                  cancel: threading.Event | None = None, lock_wait: float = 0.0) -> ImportReport:
    """Add the rows of the shards (files, or folders of *.parquet files) to the library.

    ShardError, before anything is written, when a shard is unreadable or malformed, holds another
    model (or dimension) than the library, or names a path outside the folder. Holds the library's
    writer lock (LibraryBusyError while an `index` runs) like an index run."""
    t0 = time.perf_counter()
    notify = progress or (lambda p: None)
    cancel = cancel or threading.Event()
    infos = [inspect(p) for p in shard_files(paths)]
    spec = _one_model(infos)
    report = ImportReport(model=spec, shards=len(infos))
    with library.errors(), WriterLock(library.dir).acquire(lock_wait):
        spec, known_dim = _library_model(library, spec, infos[0].path)
        report.model = spec
        dim = _check_all(infos, known_dim, notify, cancel)
        if cancel.is_set():
            report.cancelled = True
            report.seconds = time.perf_counter() - t0
            return report
        _check_declared_dim(spec, dim, infos[0].path)
        with library.transaction():
            model_id = library.register_model(spec, dim)
        _write_all(library, model_id, infos, report, notify, cancel)
    if report.imported:
        refresh_caches(library)  # <- the one call site of the cache refresh (issue 16); see below
    report.seconds = time.perf_counter() - t0
    return report


def refresh_caches(library: Library) -> None:
    """ISSUE 16 CACHE HOOK. The caches beside the SQLite file (the memory-mapped vector matrix and the
    persisted ANN index of the storage work) are refreshed here after an import, so the first search
    does not build them. Until the library provides `refresh_caches`, they are built lazily by the
    first search, as after an index run."""
    refresh = getattr(library, "refresh_caches", None)
    if callable(refresh):
        refresh()


def _one_model(infos: list[ShardInfo]) -> str:
    specs = {i.model for i in infos}
    if len(specs) > 1:
        first, other = infos[0], next(i for i in infos if i.model != infos[0].model)
        raise ShardError(f"{first.path} holds vectors of {first.model} and {other.path} of {other.model}: "
                         "import the shards of each model separately")
    return infos[0].model


def _library_model(library: Library, spec: str, where: Path) -> tuple[str, int | None]:
    """The spec as the library knows it and its dimension there (None: new to the library).
    ShardError when the library's photos were indexed with another model."""
    usable = [(s, d) for _, s, d, n in library.models() if n > 0]
    names = {spec}
    try:
        from .models import parse_spec

        names.add(parse_spec(spec).text)  # "ViT-B-32" is what the library calls "ViT-B-32:laion2b_s34b_b79k"
    except Exception:  # a spec naming a file of another machine: compared as written
        pass
    for s, d in usable:
        if s in names:
            return s, d
    if usable:
        have = ", ".join(s for s, _ in usable)
        raise ShardError(f"{where} holds vectors of model {spec}, but the library of {library.root} was indexed "
                         f"with {have}: embed the photos with --model {usable[0][0]}, or import into a "
                         "library of its own (--library-dir)")
    mid = library.model_id(spec)
    return spec, (library.model_dim(mid) if mid is not None else None)


def _check_declared_dim(spec: str, dim: int, where: Path) -> None:
    """A bundled model's dimension is known without loading it: vectors of another length cannot be its."""
    from .models import bundled_models

    entry = bundled_models().get(spec)
    declared = (entry or {}).get("model_cfg", {}).get("embed_dim")
    if declared is not None and int(declared) != dim:
        raise ShardError(f"{where} holds {dim}-d vectors, but {spec} makes {declared}-d ones")


def _check_all(infos: list[ShardInfo], known_dim: int | None, notify: ProgressFn,
               cancel: threading.Event) -> int:
    """Read every row once, checking it (core.shards) and that no path comes twice; the dimension."""
    total = sum(i.rows for i in infos)
    seen: dict[str, Path] = {}
    dim = known_dim
    done = 0
    for info in infos:
        for b in read_shard(info):
            if cancel.is_set():
                return dim or 0
            d = b.vectors.shape[1]
            if dim is not None and d != dim:
                what = "the library's vectors of this model have" if known_dim is not None else "the other shards have"
                raise ShardError(f"{info.path} holds {d}-d vectors of {info.model}, but {what} {dim}: it was "
                                 "made with another model, or is damaged")
            dim = d
            for rel in b.relpath:
                if rel in seen:
                    raise ShardError(f"{info.path}: {rel!r} comes twice"
                                     + (f" (also in {seen[rel]})" if seen[rel] != info.path else ""))
                seen[rel] = info.path
            done += len(b.relpath)
            notify(Progress("checking", done, total))
    if dim is None:  # every shard empty
        dim = infos[0].dim or 0
    return dim


def _write_all(library: Library, model_id: int, infos: list[ShardInfo], report: ImportReport,
               notify: ProgressFn, cancel: threading.Event) -> None:
    known = library.known_files(model_id)
    total = sum(i.rows for i in infos)
    done = 0
    for info in infos:
        for b in read_shard(info, IMPORT_BATCH):
            if cancel.is_set():
                report.cancelled = True
                return
            updates = []
            sizes, mtimes = b.size.tolist(), b.mtime_ns.tolist()
            for i, rel in enumerate(b.relpath):
                k = known.get(rel)
                if k is not None and k.size == sizes[i] and k.mtime_ns == mtimes[i] and k.has_vector and not k.failed:
                    report.skipped += 1
                    continue
                content_hash = b.content_hash[i]
                if content_hash is None and k is not None and k.size == sizes[i] and k.mtime_ns == mtimes[i]:
                    # Same size and mtime is what `index` takes for unchanged bytes: keep what the library
                    # knows of them (its hash, and every vector, tag and face of that content).
                    content_hash = k.content_hash
                updates.append(FileUpdate(rel, sizes[i], mtimes[i], content_hash, file_id=k.id if k else None,
                                          vec=b.vectors[i], width=b.width[i], height=b.height[i],
                                          taken_at=b.taken_at[i]))
            library.apply(model_id, updates)
            report.imported += len(updates)
            done += len(b.relpath)
            notify(Progress("importing", done, total))
