"""The on-disk library of one photo folder: SQLite (WAL) is the one source of truth.

`Library` owns the database of one folder and exposes its stores (core.store: all the SQL). Anything
else (ANN index, thumbnails, in-memory matrices) is a cache rebuilt from it. The photo folder is never written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from .errors import (
    LibraryDamagedError,
    LibraryError,
    LibraryFullError,
    LibraryReadOnlyError,
    NothingIndexedError,
    library_error,
)
from .names import from_db, to_db
from .scan import KnownFile
from .store import Store
from .store.files import FileInfo, FileUpdate
from .store.schema import MIGRATIONS, SCHEMA_VERSION, Transaction
from .vectorcache import Listing, Matrix

__all__ = ["DB_NAME", "MIGRATIONS", "SCHEMA_VERSION", "FileInfo", "FileUpdate", "Library", "default_library_dir"]

DB_NAME = "library.sqlite"


def default_library_dir(root: Path) -> Path:
    """One library per photo folder, under the user's data directory."""
    import platformdirs

    root = Path(root).resolve()
    key = hashlib.sha1(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    name = re.sub(r"[^\w.-]+", "_", root.name)[:40] or "root"
    return Path(platformdirs.user_data_dir("clipgallery", appauthor=False)) / "libraries" / f"{name}-{key}"


class Library:
    """A photo folder's library. Safe to share between threads: each thread gets its own connection.

    Its records live in stores: `files`/`vectors` (through the methods below), `tags` (core.store.tags),
    `groups` (core.store.groups), `text` (core.store.text: the text read in photos) and `media`
    (videos' frames, RAW pairs: core.store.media)."""

    def __init__(self, root: Path, library_dir: Path | None = None, create: bool = True):
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise LibraryError(f"not a folder: {self.root}" if self.root.exists() else f"folder not found: {self.root}")
        self.dir = Path(library_dir).expanduser().resolve() if library_dir else default_library_dir(self.root)
        if self.dir == self.root or self.root in self.dir.parents:
            raise LibraryError(
                f"the library folder {self.dir} is inside the photo folder {self.root}; clipgallery never "
                "writes into a photo folder, so choose a library folder elsewhere"
            )
        self.db_path = self.dir / DB_NAME
        if not self.db_path.exists() and not create:
            raise LibraryError(f"{self.root} has not been indexed yet: run `clipgallery index {self.root}` first")
        # A library on a read-only disk (or without write permission) is opened read-only: it can
        # still be searched, and a write says plainly why it cannot happen.
        existed = self.db_path.exists()
        self.read_only = existed and not (os.access(self.dir, os.W_OK) and os.access(self.db_path, os.W_OK))
        self.store = Store(self.db_path, self.root, read_only=self.read_only)
        self.db = self.store.db
        self.tags = self.store.tags
        self.groups = self.store.groups
        self.marks = self.store.marks  # albums, stars, favourites, hand-made tags (core.organize)
        self.text = self.store.text
        self.media = self.store.media
        self.faces = self.store.faces  # faces and people (core.faces)
        self._matrices: dict[int, Matrix] = {}  # model id -> this process's matrix (core.vectorcache)
        self._matrix_lock = threading.Lock()
        try:
            if not self.read_only:
                self.dir.mkdir(parents=True, exist_ok=True)
            if existed:
                self._migrate()
            else:
                # Creating: switching a new file to WAL can fail at once with "locked" when another
                # process creates it at the same moment, so creators take turns on the writer lock.
                from .lock import WriterLock

                with WriterLock(self.dir).acquire(wait=30):
                    self._migrate()
        except sqlite3.Error as e:
            err = library_error(e, self.db_path, self.root)
            self._abandon(remove=not existed and isinstance(err, LibraryFullError))
            raise err from e
        except OSError as e:
            err = library_error(e, self.db_path, self.root)
            self._abandon(remove=not existed and isinstance(err, LibraryFullError))
            if e.errno in (28, 30):  # ENOSPC, EROFS
                raise err from e
            raise LibraryError(f"cannot create the library folder {self.dir}: {e.strerror or e}") from e

    # -- connection and schema -------------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (for the stores, and for tests that check the file's integrity)."""
        return self.db.conn

    def close(self) -> None:
        self.db.close()

    def _abandon(self, remove: bool) -> None:
        """After a failed open: close, and with `remove` delete the library file this call began (a
        full disk at creation), so that no half-made library is taken for an indexed one. Only then:
        on any other error the file may be another process's library, created meanwhile."""
        self.close()
        if remove:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{self.db_path}{suffix}")

    def _migrate(self) -> None:
        if self.read_only and self.db.version < SCHEMA_VERSION:
            raise LibraryReadOnlyError(f"the library at {self.db_path} is read-only and was written by an older "
                                       "clipgallery: open it once where it can be written to upgrade it")

        def record_owner() -> None:
            # In the migrations' transaction: a library records its folder before anything else.
            self.set_meta("root", to_db(str(self.root)))
            self.set_meta("created_at", str(time.time()))
            self.set_meta("uid", secrets.token_hex(8))

        try:
            self.db.migrate(on_create=record_owner)
        except ValueError:
            raise LibraryError(f"the library at {self.db_path} was written by a newer clipgallery "
                               f"(schema {self.db.version}, this one knows {SCHEMA_VERSION}); please upgrade") from None
        owner = self.get_meta("root")
        if owner is None and not self.read_only:
            # Written by a version that could lose the owner (a folder name that is not UTF-8):
            # claim it now, so that from here on no other folder can use it.
            with self.transaction():
                self.set_meta("root", to_db(str(self.root)))
            owner = to_db(str(self.root))
        if owner is not None and from_db(owner) != str(self.root):
            raise LibraryError(
                f"the library at {self.dir} belongs to the folder {from_db(owner)}, not {self.root}; "
                "give each folder its own --library-dir"
            )

    def transaction(self) -> Transaction:
        return self.db.transaction()

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Turns sqlite3 and disk errors inside the block into the named LibraryErrors (full, read-only,
        busy, damaged), each one sentence that says what to do."""
        try:
            yield
        except sqlite3.Error as e:
            raise library_error(e, self.db_path, self.root) from e

    def check_damage(self) -> None:
        """Raise LibraryDamagedError when SQLite's quick_check finds damage (a bad page in any table).

        Run before indexing: an index run otherwise trusts the rows it can still see and says
        everything is unchanged while vectors are unreadable."""
        rows = self.db.quick_check()
        if rows != ["ok"]:
            raise LibraryDamagedError(f"the library at {self.db_path} is damaged ({rows[0]}): run "
                                      f"`clipgallery repair {self.root}` to keep what is readable and index "
                                      "the rest again")

    # -- meta ------------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        return self.db.get_meta(key, default)

    def set_meta(self, key: str, value: str) -> None:
        self.db.set_meta(key, value)

    @property
    def generation(self) -> int:
        """Bumped by every write that changes which vectors exist; caches compare against it."""
        return self.db.generation

    @property
    def uid(self) -> str | None:
        """A random name of this library file, made once. The caches beside it carry it with the
        generation, so a cache copied from another library (same ids, same generation) is never
        trusted. None only for a read-only library written before uids existed."""
        uid = self.get_meta("uid")
        if uid is None and not self.read_only:
            with self.errors(), self.transaction():
                uid = self.get_meta("uid")
                if uid is None:
                    uid = secrets.token_hex(8)
                    self.set_meta("uid", uid)
        return uid

    def bump(self) -> None:
        """Tell every cache that the vectors changed (call inside the transaction that changed them)."""
        self.db.bump()

    @property
    def regional(self) -> bool:
        """Whether indexing also stores region vectors (the setting behind `similar --regional`)."""
        return self.get_meta("regional", "0") == "1"

    def set_regional(self, enabled: bool) -> None:
        """Turn region vectors on (the next index run adds them) or off (the stored ones are dropped)."""
        with self.transaction():
            self.set_meta("regional", "1" if enabled else "0")
            if not enabled:
                self.store.vectors.delete_regions()
            self.db.bump()

    # -- models ----------------------------------------------------------------------------------

    def model_id(self, spec: str, dim: int | None = None) -> int | None:
        """The id of a model spec; registered when `dim` is given and it is new."""
        return self.store.vectors.model_id(spec, dim)

    def register_model(self, spec: str, dim: int) -> int:
        """The id of a model spec, registered if new (LibraryError if it now gives another dimension)."""
        mid = self.store.vectors.model_id(spec, dim)
        assert mid is not None  # a dim was given
        return mid

    def models(self) -> list[tuple[int, str, int, int]]:
        """(id, spec, dim, number of vectors) for every model used in this library."""
        return self.store.vectors.models()

    def model_dim(self, model_id: int) -> int | None:
        return self.store.vectors.model_dim(model_id)

    def search_model(self, preferred: str | None = None, strict: bool = False) -> str:
        """The one rule for which indexed model to search (tag, group) with.

        With `strict` (the user named the model), `preferred` if it has vectors here, else a
        LibraryError naming what was indexed. Otherwise (a saved preference) `preferred` once it
        covers as many photos as any other model, else the model with the most vectors.
        """
        usable = [(n, spec) for _, spec, _, n in self.models() if n > 0]
        if strict and preferred and any(spec == preferred for _, spec in usable):
            return preferred
        if not usable:
            raise NothingIndexedError(f"{self.root} has no indexed photos yet: run `clipgallery index {self.root}` "
                                      "first")
        if strict and preferred:
            raise LibraryError(f"{self.root} was not indexed with model {preferred} "
                               f"(indexed with: {', '.join(s for _, s in usable)})")
        best = max(usable)
        if preferred:
            for n, spec in usable:
                if spec == preferred and n >= best[0]:
                    return spec
        return best[1]

    def indexed_model(self, preferred: str | None = None) -> str:
        """The spec to query with: `preferred` if it has vectors here, else the one with most vectors."""
        return self.search_model(preferred, strict=True)

    # -- files -----------------------------------------------------------------------------------

    def known_files(self, model_id: int, regional: bool = False) -> dict[str, KnownFile]:
        return self.store.files.known_files(model_id, regional)

    def hashes_with_vectors(self, model_id: int, regional: bool = False) -> dict[str, int]:
        return self.store.files.hashes_with_vectors(model_id, regional)

    def apply(self, model_id: int, updates: Sequence[FileUpdate]) -> None:
        """Write one batch of indexing outcomes atomically: all of it lands, or none of it."""
        with self.errors():
            self.store.files.apply(model_id, updates)

    def remove_files(self, ids: Iterable[int]) -> int:
        with self.errors():
            return self.store.files.remove_files(ids)

    def file_dates(self) -> list[tuple[int, str, float]]:
        return self.store.files.file_dates()

    def failed_files(self) -> list[tuple[str, str]]:
        return self.store.files.failed_files()

    def count(self, model_id: int | None = None) -> int:
        return self.store.files.count(model_id)

    def abspath(self, relpath: str) -> Path:
        return self.root / relpath

    def file_ids(self, relpaths: Iterable[str]) -> dict[str, int]:
        return self.store.files.file_ids(relpaths)

    def relpath_of(self, path: Path | str) -> str | None:
        """The library-relative path of an absolute or relative path inside the root, else None."""
        p = Path(path).expanduser()
        p = p.resolve() if p.is_absolute() or p.exists() else (self.root / p)
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return None

    def files(self, ids: Sequence[int] | None = None) -> list[FileInfo]:
        """FileInfo for the given ids, in that order (unknown ids are dropped), or for every file."""
        return self.store.files.files(ids)

    # -- vectors ---------------------------------------------------------------------------------

    def vectors(self, model_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(file ids [n] int64, vectors [n, dim] float32) of every indexed file, sorted by id (cached;
        read-only arrays, often memory-mapped: copy before changing them)."""
        m = self.matrix(model_id)
        return m.ids, m.mat

    def matrix(self, model_id: int) -> Matrix:
        """The vectors of a model with their ids and dates, at the current generation: kept in this
        process until the generation moves on, and in files beside the library (core.vectorcache)
        so that the next process maps them instead of reading SQLite."""
        from . import vectorcache

        gen = self.generation
        with self._matrix_lock:
            hit = self._matrices.get(model_id)
            if hit is not None and hit.generation == gen:
                return hit
        dim = self.model_dim(model_id)
        if dim is None:
            raise LibraryError(f"unknown model id {model_id}")
        with self.errors():
            m = vectorcache.matrix(self, model_id, dim)
        with self._matrix_lock:
            self._matrices[model_id] = m
        return m

    def listing(self) -> Listing:
        """Every readable file in relpath order with its date, and the count per folder, at the current
        generation: from files beside the library when they are current (core.vectorcache)."""
        from . import vectorcache

        with self.errors():
            return vectorcache.listing(self)

    def region_count(self, model_id: int) -> int:
        return self.store.vectors.region_count(model_id)

    def regions(self, model_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(file ids [n] int64 sorted, region vectors [n, count, dim] float16) of the files that have them."""
        return self.store.vectors.regions(model_id)
