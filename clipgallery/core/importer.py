"""`import`: Parquet shards (core.shards) into a folder's library, without reading a single photo.

The footers of all shards (columns, types, model) are checked before anything is written; then each
shard is read once, a batch of IMPORT_BATCH rows at a time, every row checked (core.shards) and
written through `Library.apply` inside one transaction per shard, so a shard with a bad row
imports nothing. A row whose photo the library already has with the same size and mtime and a
vector of the shard's model is skipped. A later `index` run reconciles the library with the folder
the way it does after its own runs: same size and mtime and a vector means unchanged, never read.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import LibraryError
from .library import FileUpdate, Library
from .lock import WriterLock
from .progress import Progress, ProgressFn
from .scan import KnownFile
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

    ShardError when a shard is unreadable or malformed, holds another model (or dimension) than the
    library, or names a path outside the folder. What every shard's footer says (columns, types,
    model) is checked before anything is written; each shard's rows are written in one transaction,
    so a shard with a bad row imports nothing (the shards before it stay imported, and are skipped
    when the command runs again). Holds the library's writer lock like an index run
    (LibraryBusyError while one runs)."""
    t0 = time.perf_counter()
    notify = progress or (lambda p: None)
    cancel = cancel or threading.Event()
    infos = [inspect(p) for p in shard_files(paths)]
    report = ImportReport(model=_one_model(infos), shards=len(infos))
    with library.errors(), WriterLock(library.dir).acquire(lock_wait):
        spec, dim = _library_model(library, report.model, infos[0].path)
        report.model = spec
        mid = library.model_id(spec)
        job = _Job(library, spec, dim, library.known_files(mid if mid is not None else -1), notify, cancel,
                   sum(i.rows for i in infos))
        for n, info in enumerate(infos):
            try:
                with library.transaction():  # the whole shard, or none of it
                    imported, skipped = job.shard(info)
            except _Cancelled:
                report.cancelled = True
                break
            except ShardError as e:
                if n:
                    raise ShardError(f"{e}; nothing of that shard was imported (the {n} shard(s) before it were: "
                                     f"{report.imported} photos)") from None
                raise
            report.imported += imported
            report.skipped += skipped
    if report.imported:
        refresh_caches(library)  # <- the one call site of the cache refresh (issue 16); see below
    report.seconds = time.perf_counter() - t0
    return report


def refresh_caches(library: Library) -> None:
    """The caches beside the SQLite file after an import: the memory-mapped vector matrix is written
    now (core.search.refresh_caches), so a fresh `search` maps it instead of reading a million rows
    from SQLite. The ANN index is left to the app, which builds it in the background while it
    answers exactly from the matrix (at 1M a build takes minutes on 2 cores; a one-shot search
    never needs it)."""
    from .search import refresh_caches as refresh

    with contextlib.suppress(OSError, LibraryError):  # a full disk: the rows are in; a search writes it
        refresh(library, ann=False)


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


class _Cancelled(Exception):
    """Ctrl-C (the cancel event) during a shard: its transaction is rolled back."""


class _Job:
    """The state an import carries from shard to shard: the model's id and dimension once known, the
    library's rows as they were, the paths already imported (none may come twice)."""

    def __init__(self, library: Library, spec: str, dim: int | None, known: dict[str, KnownFile],
                 notify: ProgressFn, cancel: threading.Event, total: int):
        self.library, self.spec, self.dim, self.known = library, spec, dim, known
        self.known_dim = dim is not None  # the library's own vectors of this model fix it
        self.model_id: int | None = None
        self.notify, self.cancel, self.total = notify, cancel, total
        self.seen: dict[str, Path] = {}
        self.done = 0

    def shard(self, info: ShardInfo) -> tuple[int, int]:
        """Check and write one shard's rows (inside the caller's transaction): (imported, skipped)."""
        imported = skipped = 0
        added: list[str] = []
        try:
            for b in read_shard(info, IMPORT_BATCH):
                if self.cancel.is_set():
                    raise _Cancelled
                mid = self._model(info, b.vectors.shape[1])
                updates = []
                sizes, mtimes = b.size.tolist(), b.mtime_ns.tolist()
                for i, rel in enumerate(b.relpath):
                    if rel in self.seen:
                        where = self.seen[rel]
                        raise ShardError(f"{info.path}: {rel!r} comes twice"
                                         + (f" (also in {where})" if where != info.path else ""))
                    self.seen[rel] = info.path
                    added.append(rel)
                    k = self.known.get(rel)
                    same_stat = k is not None and k.size == sizes[i] and k.mtime_ns == mtimes[i]
                    if same_stat and k is not None and k.has_vector and not k.failed:
                        skipped += 1
                        continue
                    content_hash = b.content_hash[i]
                    if content_hash is None and same_stat and k is not None:
                        # Same size and mtime is what `index` takes for unchanged bytes: keep what the
                        # library knows of them (its hash, and every vector, tag and face of that content).
                        content_hash = k.content_hash
                    updates.append(FileUpdate(rel, sizes[i], mtimes[i], content_hash, file_id=k.id if k else None,
                                              vec=b.vectors[i], width=b.width[i], height=b.height[i],
                                              taken_at=b.taken_at[i]))
                self.library.apply(mid, updates)
                imported += len(updates)
                self.done += len(b.relpath)
                self.notify(Progress("importing", self.done, self.total))
        except BaseException:
            for rel in added:  # rolled back: as if this shard had not been read
                self.seen.pop(rel, None)
            raise
        return imported, skipped

    def _model(self, info: ShardInfo, dim: int) -> int:
        if self.dim is not None and dim != self.dim:
            what = "the library's vectors of this model have" if self.known_dim else "the shards before it have"
            raise ShardError(f"{info.path} holds {dim}-d vectors of {info.model}, but {what} {self.dim}: it was "
                             "made with another model, or is damaged")
        if self.model_id is None or self.dim is None:
            _check_declared_dim(self.spec, dim, info.path)
            self.model_id = self.library.register_model(self.spec, dim)  # in the shard's transaction
            self.dim = dim
        return self.model_id
