"""SQL of models, image vectors and region vectors, with the in-memory matrices cached per generation."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..errors import LibraryError
from .schema import Database, Snapshot


class VectorStore:
    """Per-model vectors [n, dim] float32 and region vectors [n, count, dim] float16, sorted by file id."""

    def __init__(self, db: Database):
        self.db = db
        self._cache: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        self._region_cache: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        self._cache_lock = threading.Lock()
        self._models: tuple[tuple[int, str], list[tuple[int, str, int, int]]] | None = None

    def model_id(self, spec: str, dim: int | None = None) -> int | None:
        """The id of a model spec; registered when `dim` is given and it is new."""
        row = self.db.conn.execute("SELECT id, dim FROM models WHERE spec=?", (spec,)).fetchone()
        if row:
            if dim is not None and row[1] != dim:
                raise LibraryError(f"model {spec} now gives {dim}-d vectors, but the library holds {row[1]}-d ones")
            return row[0]
        if dim is None:
            return None
        return self.db.conn.execute("INSERT INTO models(spec, dim) VALUES(?, ?)", (spec, dim)).lastrowid

    def models(self) -> list[tuple[int, str, int, int]]:
        """(id, spec, dim, number of vectors) for every model used in this library.

        Counting a million vectors takes 80 ms and a search asks several times: the answer is kept
        until the generation moves on or a model is registered."""
        c = self.db.conn
        key = (self.db.generation, c.execute("SELECT group_concat(id) FROM models").fetchone()[0] or "")
        memo = self._models
        if memo is not None and memo[0] == key:
            return list(memo[1])
        rows = c.execute(
            "SELECT m.id, m.spec, m.dim, (SELECT COUNT(*) FROM vectors v WHERE v.model_id = m.id) "
            "FROM models m ORDER BY m.id"
        ).fetchall()
        self._models = (key, rows)
        return list(rows)

    def model_dim(self, model_id: int) -> int | None:
        row = self.db.conn.execute("SELECT dim FROM models WHERE id=?", (model_id,)).fetchone()
        return None if row is None else int(row[0])

    def vectors(self, model_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(file ids [n] int64, vectors [n, dim] float32) of every indexed file, sorted by id.

        Cached in memory and reloaded only when the library's generation has moved on.
        """
        gen = self.db.generation
        with self._cache_lock:
            hit = self._cache.get(model_id)
            if hit and hit[0] == gen:
                return hit[1], hit[2]
        dim = self.db.conn.execute("SELECT dim FROM models WHERE id=?", (model_id,)).fetchone()
        if dim is None:
            raise LibraryError(f"unknown model id {model_id}")
        ids, mat = _read_vectors(self.db.conn, model_id, dim[0])
        with self._cache_lock:
            self._cache[model_id] = (gen, ids, mat)
        return ids, mat

    def vectors_of(self, model_id: int, file_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """file id -> its stored vector, for a few files (primary-key lookups)."""
        out: dict[int, np.ndarray] = {}
        for fid in file_ids:
            row = self.db.conn.execute("SELECT vec FROM vectors WHERE file_id=? AND model_id=?",
                                       (int(fid), model_id)).fetchone()
            if row is not None:
                out[int(fid)] = np.frombuffer(row[0], dtype="<f4")
        return out

    def read_matrix(self, model_id: int, alloc: Callable[[int, int], np.ndarray] | None = None
                    ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """(generation, ids [n] sorted, dates [n] float64, vectors [n, dim] float32) of the indexed
        files, all read in one transaction (so they agree with each other and with the generation).
        Not cached here: core.vectorcache keeps them in files beside the library."""
        dim = self.model_dim(model_id)
        if dim is None:
            raise LibraryError(f"unknown model id {model_id}")
        with self.db.snapshot() as c:
            gen = self.db.generation
            ids, mat = _read_vectors(c, model_id, dim, alloc=alloc)
            rows = c.execute("SELECT id, COALESCE(taken_at, mtime_ns / 1e9) FROM files WHERE status='ok' "
                             "ORDER BY id").fetchall()
        fids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        fdates = np.fromiter((np.nan if r[1] is None else r[1] for r in rows), dtype=np.float64, count=len(rows))
        dates = fdates[np.searchsorted(fids, ids)] if len(fids) else np.zeros(len(ids), np.float64)
        return gen, ids, dates, mat


    def region_count(self, model_id: int) -> int:
        """How many photos have region vectors for this model."""
        return self.db.conn.execute("SELECT COUNT(*) FROM regions WHERE model_id=?", (model_id,)).fetchone()[0]

    def regions(self, model_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(file ids [n] int64 sorted, region vectors [n, count, dim] float16) of the indexed files
        that have them. Cached in memory until the generation moves on; float16 halves the memory
        (a ViT-B/32 photo takes 14 x 512 x 2 bytes = 14 KiB)."""
        gen = self.db.generation
        with self._cache_lock:
            hit = self._region_cache.get(model_id)
            if hit and hit[0] == gen:
                return hit[1], hit[2]
        rows = self.db.conn.execute(  # sorted in _sorted_blobs, not by SQLite (see _read_vectors())
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

    def delete_regions(self, file_ids: Iterable[int] | None = None) -> None:
        """Drop the region vectors of some files (None: of every file), in the caller's transaction."""
        if file_ids is None:
            self.db.conn.execute("DELETE FROM regions")
        else:
            self.db.conn.executemany("DELETE FROM regions WHERE file_id=?", [(int(i),) for i in file_ids])


def _sorted_blobs(rows: Sequence[tuple], dtype: type, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of (file id, ..., little-endian blob) in any order -> (ids sorted, array [n, *shape]).

    Filled row by row into one array: as fast as joining the blobs and reordering, with half the
    peak memory (the blobs are already held once by the rows)."""
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    order = np.argsort(ids, kind="stable")
    out: np.ndarray = np.empty((len(rows), *shape), dtype)
    stored = np.dtype(dtype).newbyteorder("<")
    for i, r in enumerate(order):
        out[i] = np.frombuffer(rows[r][-1], dtype=stored).reshape(shape)
    return ids[order], out


def _read_vectors(conn: sqlite3.Connection, model_id: int, dim: int, chunk: int = 16384,
                  alloc: Callable[[int, int], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(sorted ids, [n, dim] float32) with one copy of the vectors in memory at any time.

    The ids come first from the primary-key index (no blob is read), which gives each row its
    place; the blobs then stream in chunks, each chunk joined into one buffer and copied into place
    by numpy (a run of consecutive ids, the usual case, as one slice). No ORDER BY on the blobs:
    SQLite would sort them through a temporary B-tree (seconds for large libraries). One read
    transaction keeps both queries on the same snapshot while an index run writes. `alloc(n, dim)`
    gives the array to fill (core.vectorcache passes the memory-mapped cache file, so the vectors
    go to disk through the page cache instead of through a second copy).
    """
    where = "FROM vectors v JOIN files f ON f.id = v.file_id WHERE v.model_id=? AND f.status='ok'"
    with Snapshot(conn):
        ids = np.fromiter((r[0] for r in conn.execute(f"SELECT v.file_id {where}", (model_id,))), dtype=np.int64)
        ids.sort()
        out: np.ndarray = alloc(len(ids), dim) if alloc is not None else np.empty((len(ids), dim), np.float32)
        cur = conn.execute(f"SELECT v.file_id, v.vec {where}", (model_id,))
        while rows := cur.fetchmany(chunk):
            got = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            blob = b"".join([r[1] for r in rows])
            if len(blob) != len(rows) * dim * 4:
                raise LibraryError(f"a stored vector of model {model_id} is not {dim}-d: the library is damaged")
            vecs = np.frombuffer(blob, dtype="<f4").reshape(len(rows), dim)
            at = np.searchsorted(ids, got)
            if at[-1] - at[0] == len(at) - 1 and (len(at) == 1 or bool(np.all(np.diff(at) == 1))):
                out[at[0]:at[-1] + 1] = vecs
            else:
                out[at] = vecs
    return ids, out
