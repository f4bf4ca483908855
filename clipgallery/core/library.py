"""The on-disk library of one photo folder: SQLite (WAL) is the one source of truth.

Files, per-model vectors, tags and cluster runs live here. Anything else (ANN index,
thumbnails, in-memory matrices) is a cache rebuilt from it. The photo folder is never written.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import LibraryError
from .scan import KnownFile

DB_NAME = "library.sqlite"

# Each entry migrates from version i to i+1; PRAGMA user_version records where a file stands.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE files(
        id INTEGER PRIMARY KEY,
        relpath TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        content_hash TEXT,
        width INTEGER,
        height INTEGER,
        taken_at REAL,
        status TEXT NOT NULL,
        error TEXT
    );
    CREATE INDEX files_hash ON files(content_hash);
    CREATE TABLE models(id INTEGER PRIMARY KEY, spec TEXT NOT NULL UNIQUE, dim INTEGER NOT NULL);
    CREATE TABLE vectors(
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        vec BLOB NOT NULL,
        PRIMARY KEY(file_id, model_id)
    );
    CREATE INDEX vectors_model ON vectors(model_id);
    CREATE TABLE tags(
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        label_set TEXT NOT NULL,
        label TEXT NOT NULL,
        score REAL NOT NULL,
        PRIMARY KEY(file_id, model_id, label_set, label)
    );
    CREATE INDEX tags_label ON tags(model_id, label_set, label);
    CREATE TABLE cluster_runs(
        id INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        params TEXT NOT NULL
    );
    CREATE TABLE clusters(
        run_id INTEGER NOT NULL REFERENCES cluster_runs(id) ON DELETE CASCADE,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        cluster INTEGER NOT NULL,
        PRIMARY KEY(run_id, file_id)
    );
    """,
    # v2 (tagging, grouping): label sets as applied (re-appliable without their file), taught
    # probes, each group's name and cover, each photo's similarity to its group's centre, and
    # encoded prompts (a text encoder on a CPU takes seconds per hundred, so they are kept).
    """
    CREATE TABLE label_sets(
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        definition TEXT NOT NULL,
        strategy TEXT NOT NULL,
        threshold REAL NOT NULL,
        tagged_at REAL NOT NULL,
        PRIMARY KEY(model_id, name)
    );
    CREATE TABLE probes(
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        coef BLOB NOT NULL,
        intercept REAL NOT NULL,
        threshold REAL NOT NULL,
        positives INTEGER NOT NULL,
        negatives INTEGER NOT NULL,
        background INTEGER NOT NULL,
        examples TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY(model_id, name)
    );
    CREATE TABLE cluster_groups(
        run_id INTEGER NOT NULL REFERENCES cluster_runs(id) ON DELETE CASCADE,
        cluster INTEGER NOT NULL,
        name TEXT NOT NULL,
        cover_file_id INTEGER REFERENCES files(id) ON DELETE SET NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY(run_id, cluster)
    );
    ALTER TABLE clusters ADD COLUMN score REAL;
    CREATE INDEX clusters_group ON clusters(run_id, cluster);
    CREATE TABLE text_vectors(
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        text TEXT NOT NULL,
        vec BLOB NOT NULL,
        PRIMARY KEY(model_id, text)
    );
    """,
    # v3 (regional similarity): per photo and model, the L2-normalised region vectors of
    # core.regions as one float16 [count, dim] blob; stored only while the library's "regional"
    # setting is on.
    """
    CREATE TABLE regions(
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        count INTEGER NOT NULL,
        dim INTEGER NOT NULL,
        vecs BLOB NOT NULL,
        PRIMARY KEY(file_id, model_id)
    );
    CREATE INDEX regions_model ON regions(model_id);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def default_library_dir(root: Path) -> Path:
    """One library per photo folder, under the user's data directory."""
    import platformdirs

    root = Path(root).resolve()
    key = hashlib.sha1(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    name = re.sub(r"[^\w.-]+", "_", root.name)[:40] or "root"
    return Path(platformdirs.user_data_dir("clipgallery", appauthor=False)) / "libraries" / f"{name}-{key}"


@dataclass
class FileUpdate:
    """One file's outcome in an indexing batch; Library.apply writes a batch in one transaction."""

    relpath: str
    size: int
    mtime_ns: int
    content_hash: str | None
    file_id: int | None = None  # the row already at relpath, if any
    vec: np.ndarray | None = None  # freshly encoded vector for the batch's model
    regions: np.ndarray | None = None  # its region vectors [count, dim], when regional vectors are on
    width: int | None = None
    height: int | None = None
    taken_at: float | None = None
    error: str | None = None  # set when the file could not be read
    move_from: int | None = None  # a missing row with the same content: move it here, keep its vectors
    copy_from: int | None = None  # a present row with the same content: copy its vectors


@dataclass(frozen=True)
class FileInfo:
    id: int
    relpath: str
    path: Path
    size: int
    mtime_ns: int
    width: int | None
    height: int | None
    taken_at: float | None
    status: str
    error: str | None

    @property
    def date(self) -> float:
        """When the photo was taken (EXIF), else when the file was last modified."""
        return self.taken_at if self.taken_at is not None else self.mtime_ns / 1e9


class Library:
    """A photo folder's library. Safe to share between threads: each thread gets its own connection."""

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
        self._local = threading.local()
        self._cache: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        self._region_cache: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        self._cache_lock = threading.Lock()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise LibraryError(f"cannot open the library at {self.db_path}: {e}. "
                               "If it is damaged, move it away and index again.") from e
        except OSError as e:
            raise LibraryError(f"cannot create the library folder {self.dir}: {e.strerror or e}") from e

    # -- connection and schema -------------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across a process crash
            c.execute("PRAGMA foreign_keys=ON")
            self._local.conn = c
        return c

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None

    def _migrate(self) -> None:
        c = self.conn
        version = c.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LibraryError(f"the library at {self.db_path} was written by a newer clipgallery "
                               f"(schema {version}, this one knows {SCHEMA_VERSION}); please upgrade")
        for i in range(version, SCHEMA_VERSION):
            c.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _statements(MIGRATIONS[i]):
                    c.execute(stmt)
                c.execute(f"PRAGMA user_version={i + 1}")
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        if version == 0:
            self.set_meta("root", str(self.root))
            self.set_meta("created_at", str(time.time()))
        owner = self.get_meta("root")
        if owner and owner != str(self.root):
            raise LibraryError(
                f"the library at {self.dir} belongs to the folder {owner}, not {self.root}; "
                "give each folder its own --library-dir"
            )

    def transaction(self):
        return _Transaction(self.conn)

    # -- meta ------------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (key, value))

    @property
    def generation(self) -> int:
        """Bumped by every write that changes which vectors exist; caches compare against it."""
        return int(self.get_meta("generation", "0") or 0)

    def _bump(self) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    @property
    def regional(self) -> bool:
        """Whether indexing also stores region vectors (the setting behind `similar --regional`)."""
        return self.get_meta("regional", "0") == "1"

    def set_regional(self, enabled: bool) -> None:
        """Turn region vectors on (the next index run adds them) or off (the stored ones are dropped)."""
        with self.transaction() as c:
            self.set_meta("regional", "1" if enabled else "0")
            if not enabled:
                c.execute("DELETE FROM regions")
            self._bump()

    # -- models ----------------------------------------------------------------------------------

    def model_id(self, spec: str, dim: int | None = None) -> int | None:
        """The id of a model spec; registered when `dim` is given and it is new."""
        row = self.conn.execute("SELECT id, dim FROM models WHERE spec=?", (spec,)).fetchone()
        if row:
            if dim is not None and row[1] != dim:
                raise LibraryError(f"model {spec} now gives {dim}-d vectors, but the library holds {row[1]}-d ones")
            return row[0]
        if dim is None:
            return None
        return self.conn.execute("INSERT INTO models(spec, dim) VALUES(?, ?)", (spec, dim)).lastrowid

    def models(self) -> list[tuple[int, str, int, int]]:
        """(id, spec, dim, number of vectors) for every model used in this library."""
        return self.conn.execute(
            "SELECT m.id, m.spec, m.dim, (SELECT COUNT(*) FROM vectors v WHERE v.model_id = m.id) "
            "FROM models m ORDER BY m.id"
        ).fetchall()

    def indexed_model(self, preferred: str | None = None) -> str:
        """The spec to query with: `preferred` if it has vectors here, else the one with most vectors."""
        usable = [(n, spec) for _, spec, _, n in self.models() if n > 0]
        if preferred and any(spec == preferred for _, spec in usable):
            return preferred
        if not usable:
            raise LibraryError(f"{self.root} has no indexed photos yet: run `clipgallery index {self.root}` first")
        if preferred:
            raise LibraryError(f"{self.root} was not indexed with model {preferred} "
                               f"(indexed with: {', '.join(s for _, s in usable)})")
        return max(usable)[1]

    # -- files -----------------------------------------------------------------------------------

    def known_files(self, model_id: int, regional: bool = False) -> dict[str, KnownFile]:
        """Every file row by relpath. has_vector: it has this model's vector (and, when `regional`,
        its region vectors too), so an unchanged file needs no work."""
        has = "v.file_id IS NOT NULL"
        if regional:
            has += " AND EXISTS(SELECT 1 FROM regions r WHERE r.file_id = f.id AND r.model_id = v.model_id)"
        rows = self.conn.execute(
            f"SELECT f.id, f.relpath, f.size, f.mtime_ns, f.content_hash, {has}, f.status='failed' "
            "FROM files f LEFT JOIN vectors v ON v.file_id = f.id AND v.model_id = ?",
            (model_id,),
        ).fetchall()
        return {r[1]: KnownFile(r[0], r[1], r[2], r[3], r[4], bool(r[5]), bool(r[6])) for r in rows}

    def hashes_with_vectors(self, model_id: int, regional: bool = False) -> dict[str, int]:
        """content hash -> a file id that has a vector for this model (and region vectors, when
        `regional`), for reuse without encoding."""
        extra = " AND EXISTS(SELECT 1 FROM regions r WHERE r.file_id = f.id AND r.model_id = v.model_id)" \
            if regional else ""
        rows = self.conn.execute(
            "SELECT f.content_hash, f.id FROM files f JOIN vectors v ON v.file_id = f.id "
            f"WHERE v.model_id = ? AND f.content_hash IS NOT NULL{extra}",
            (model_id,),
        )
        return dict(rows.fetchall())

    def apply(self, model_id: int, updates: Sequence[FileUpdate]) -> None:
        """Write one batch of indexing outcomes atomically: all of it lands, or none of it."""
        if not updates:
            return
        with self.transaction() as c:
            # Read inside the write transaction: a batch encoded before the setting was turned off
            # must not put region vectors back after set_regional(False) removed them.
            regional = self.regional
            for u in updates:
                self._apply_one(c, model_id, u, regional)
            self._bump()

    def _apply_one(self, c: sqlite3.Connection, model_id: int, u: FileUpdate, regional: bool) -> None:
        status = "failed" if u.error else "ok"
        fid = u.file_id
        if u.move_from is not None:
            if fid is not None and fid != u.move_from:
                c.execute("DELETE FROM files WHERE id=?", (fid,))
            fid = u.move_from
            c.execute("UPDATE files SET relpath=?, size=?, mtime_ns=? WHERE id=?",
                      (u.relpath, u.size, u.mtime_ns, fid))
            return
        if fid is not None:
            old_hash = c.execute("SELECT content_hash FROM files WHERE id=?", (fid,)).fetchone()[0]
            if old_hash != u.content_hash or u.error:
                # New content: every derived fact about the old content is stale.
                c.execute("DELETE FROM vectors WHERE file_id=?", (fid,))
                c.execute("DELETE FROM regions WHERE file_id=?", (fid,))
                c.execute("DELETE FROM tags WHERE file_id=?", (fid,))
                c.execute("DELETE FROM clusters WHERE file_id=?", (fid,))
            sets = "size=?, mtime_ns=?, content_hash=?, status=?, error=?"
            args: list = [u.size, u.mtime_ns, u.content_hash, status, u.error]
            if u.width is not None or u.error:
                sets += ", width=?, height=?, taken_at=?"
                args += [u.width, u.height, u.taken_at]
            c.execute(f"UPDATE files SET {sets} WHERE id=?", (*args, fid))
        else:
            fid = c.execute(
                "INSERT INTO files(relpath, size, mtime_ns, content_hash, width, height, taken_at, status, error) "
                "VALUES(?,?,?,?,?,?,?,?,?)",
                (u.relpath, u.size, u.mtime_ns, u.content_hash, u.width, u.height, u.taken_at, status, u.error),
            ).lastrowid
        if u.copy_from is not None:
            c.execute(
                "INSERT OR REPLACE INTO vectors(file_id, model_id, vec) SELECT ?, model_id, vec FROM vectors "
                "WHERE file_id=?", (fid, u.copy_from))
            c.execute(
                "INSERT OR REPLACE INTO regions(file_id, model_id, count, dim, vecs) "
                "SELECT ?, model_id, count, dim, vecs FROM regions WHERE file_id=?", (fid, u.copy_from))
            c.execute("UPDATE files SET width=(SELECT width FROM files WHERE id=:s), "
                      "height=(SELECT height FROM files WHERE id=:s), taken_at=(SELECT taken_at FROM files WHERE id=:s) "
                      "WHERE id=:d", {"s": u.copy_from, "d": fid})
        if u.vec is not None:
            c.execute("INSERT OR REPLACE INTO vectors(file_id, model_id, vec) VALUES(?,?,?)",
                      (fid, model_id, np.asarray(u.vec, dtype="<f4").tobytes()))
        if u.regions is not None and regional:
            r = np.asarray(u.regions, dtype="<f2")
            c.execute("INSERT OR REPLACE INTO regions(file_id, model_id, count, dim, vecs) VALUES(?,?,?,?,?)",
                      (fid, model_id, r.shape[0], r.shape[1], r.tobytes()))

    def remove_files(self, ids: Iterable[int]) -> int:
        ids = list(ids)
        if not ids:
            return 0
        with self.transaction() as c:
            c.executemany("DELETE FROM files WHERE id=?", [(i,) for i in ids])
            self._bump()
        return len(ids)

    def failed_files(self) -> list[tuple[str, str]]:
        return self.conn.execute(
            "SELECT relpath, error FROM files WHERE status='failed' ORDER BY relpath").fetchall()

    def count(self, model_id: int | None = None) -> int:
        if model_id is None:
            return self.conn.execute("SELECT COUNT(*) FROM files WHERE status='ok'").fetchone()[0]
        return self.conn.execute("SELECT COUNT(*) FROM vectors WHERE model_id=?", (model_id,)).fetchone()[0]

    def abspath(self, relpath: str) -> Path:
        return self.root / relpath

    def file_ids(self, relpaths: Iterable[str]) -> dict[str, int]:
        out = {}
        for rel in relpaths:
            row = self.conn.execute("SELECT id FROM files WHERE relpath=?", (rel,)).fetchone()
            if row:
                out[rel] = row[0]
        return out

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
        cols = "id, relpath, size, mtime_ns, width, height, taken_at, status, error"
        if ids is None:
            rows = self.conn.execute(f"SELECT {cols} FROM files ORDER BY relpath").fetchall()
        else:
            ids = [int(i) for i in ids]  # numpy integers would silently match nothing in sqlite3
            by_id = {}
            for chunk in _chunks(ids, 900):
                q = f"SELECT {cols} FROM files WHERE id IN ({','.join('?' * len(chunk))})"
                by_id.update({r[0]: r for r in self.conn.execute(q, chunk)})
            rows = [by_id[i] for i in ids if i in by_id]
        return [FileInfo(r[0], r[1], self.root / r[1], *r[2:]) for r in rows]

    # -- vectors ---------------------------------------------------------------------------------

    def vectors(self, model_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(file ids [n] int64, vectors [n, dim] float32) of every indexed file, sorted by id.

        Cached in memory and reloaded only when the library's generation has moved on.
        """
        gen = self.generation
        with self._cache_lock:
            hit = self._cache.get(model_id)
            if hit and hit[0] == gen:
                return hit[1], hit[2]
        dim = self.conn.execute("SELECT dim FROM models WHERE id=?", (model_id,)).fetchone()
        if dim is None:
            raise LibraryError(f"unknown model id {model_id}")
        ids, mat = _read_vectors(self.conn, model_id, dim[0])
        with self._cache_lock:
            self._cache[model_id] = (gen, ids, mat)
        return ids, mat


    def region_count(self, model_id: int) -> int:
        """How many photos have region vectors for this model."""
        return self.conn.execute("SELECT COUNT(*) FROM regions WHERE model_id=?", (model_id,)).fetchone()[0]

    def regions(self, model_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(file ids [n] int64 sorted, region vectors [n, count, dim] float16) of the indexed files
        that have them. Cached in memory until the generation moves on; float16 halves the memory
        (a ViT-B/32 photo takes 14 x 512 x 2 bytes = 14 KiB)."""
        gen = self.generation
        with self._cache_lock:
            hit = self._region_cache.get(model_id)
            if hit and hit[0] == gen:
                return hit[1], hit[2]
        rows = self.conn.execute(  # sorted in _sorted_blobs, not by SQLite (see vectors())
            "SELECT r.file_id, r.count, r.dim, r.vecs FROM regions r JOIN files f ON f.id = r.file_id "
            "WHERE r.model_id=? AND f.status='ok'", (model_id,)).fetchall()
        count, dim = 0, 0
        if rows:  # one model gives one grid; should another shape ever appear, keep the common one
            (count, dim), _ = Counter((r[1], r[2]) for r in rows).most_common(1)[0]
            rows = [r for r in rows if (r[1], r[2]) == (count, dim)]
        ids, arr = _sorted_blobs(rows, np.float16, (count, dim))
        with self._cache_lock:
            self._region_cache[model_id] = (gen, ids, arr)
        return ids, arr


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (including KeyboardInterrupt)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _sorted_blobs(rows: Sequence[tuple], dtype: type, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of (file id, ..., little-endian blob) in any order -> (ids sorted, array [n, *shape]).

    Filled row by row into one array: as fast as joining the blobs and reordering, with half the
    peak memory (the blobs are already held once by the rows)."""
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    order = np.argsort(ids, kind="stable")
    out = np.empty((len(rows), *shape), dtype)
    stored = np.dtype(dtype).newbyteorder("<")
    for i, r in enumerate(order):
        out[i] = np.frombuffer(rows[r][-1], dtype=stored).reshape(shape)
    return ids[order], out


def _read_vectors(conn: sqlite3.Connection, model_id: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted ids, [n, dim] float32) with one copy of the vectors in memory at any time.

    The ids come first from the primary-key index (no blob is read), which gives each row its
    place; the blobs then stream in chunks straight into it. No ORDER BY on the blobs: SQLite
    would sort them through a temporary B-tree (seconds for large libraries). One read
    transaction keeps both queries on the same snapshot while an index run writes.
    """
    where = "FROM vectors v JOIN files f ON f.id = v.file_id WHERE v.model_id=? AND f.status='ok'"
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        ids = np.fromiter((r[0] for r in conn.execute(f"SELECT v.file_id {where}", (model_id,))), dtype=np.int64)
        ids.sort()
        out = np.empty((len(ids), dim), np.float32)
        cur = conn.execute(f"SELECT v.file_id, v.vec {where}", (model_id,))
        while rows := cur.fetchmany(4096):
            rows_at = np.searchsorted(ids, np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
            for at, r in zip(rows_at, rows):
                out[at] = np.frombuffer(r[1], dtype="<f4")
    finally:
        if own:
            conn.execute("COMMIT")
    return ids, out


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _chunks(items: list, n: int):
    for i in range(0, len(items), n):
        yield items[i:i + n]
