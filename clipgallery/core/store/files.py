"""SQL of the files table: what indexing writes per batch, and what everything else reads about photos."""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..names import from_db, to_db
from ..scan import KnownFile
from . import faces
from .media import MediaStore
from .schema import Database, chunks


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
    # A video (core.media): its duration and the (seconds, unit vector) of each sampled frame.
    duration: float | None = None
    frames: list[tuple[float, np.ndarray]] | None = None


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


class FileStore:
    """The files of one library (rows by id and relpath); batches of indexing outcomes."""

    def __init__(self, db: Database, root: Path, media: MediaStore | None = None):
        self.db = db
        self.root = root
        self.media = media if media is not None else MediaStore(db)  # a video's frames go with its row

    def known_files(self, model_id: int, regional: bool = False) -> dict[str, KnownFile]:
        """Every file row by relpath. has_vector: it has this model's vector (and, when `regional`,
        its region vectors too), so an unchanged file needs no work."""
        has = "v.file_id IS NOT NULL"
        if regional:
            has += " AND EXISTS(SELECT 1 FROM regions r WHERE r.file_id = f.id AND r.model_id = v.model_id)"
        # Rows become KnownFiles as they are (SQLite's 0/1 for the two flags), without a Python
        # call per field, and with the cycle collector paused meanwhile (a million new tuples
        # would set it off again and again, for nothing: tuples of numbers and strings hold no
        # cycles): a million known files in about 2 s instead of 4.
        rows = self.db.conn.execute(
            f"SELECT f.id, f.relpath, f.size, f.mtime_ns, f.content_hash, {has}, f.status='failed' "
            "FROM files f LEFT JOIN vectors v ON v.file_id = f.id AND v.model_id = ?",
            (model_id,),
        )
        collecting = gc.isenabled()
        gc.disable()
        try:
            known = {k.relpath: k for k in map(KnownFile._make, rows)}
        finally:
            if collecting:
                gc.enable()
        escaped = [r for r in known if "\x00" in r]  # names that are not valid UTF-8 (names.to_db)
        for r in escaped:
            k = known.pop(r)
            known[from_db(r)] = k._replace(relpath=from_db(r))
        return known

    def hashes_with_vectors(self, model_id: int, regional: bool = False) -> dict[str, int]:
        """content hash -> a file id that has a vector for this model (and region vectors, when
        `regional`), for reuse without encoding."""
        extra = " AND EXISTS(SELECT 1 FROM regions r WHERE r.file_id = f.id AND r.model_id = v.model_id)" \
            if regional else ""
        rows = self.db.conn.execute(
            "SELECT f.content_hash, f.id FROM files f JOIN vectors v ON v.file_id = f.id "
            f"WHERE v.model_id = ? AND f.content_hash IS NOT NULL{extra}",
            (model_id,),
        )
        return dict(rows.fetchall())

    def apply(self, model_id: int, updates: Sequence[FileUpdate]) -> None:
        """Write one batch of indexing outcomes atomically: all of it lands, or none of it."""
        if not updates:
            return
        with self.db.transaction() as c:
            # Read inside the write transaction: a batch encoded before the setting was turned off
            # must not put region vectors back after set_regional(False) removed them.
            regional = self.db.get_meta("regional", "0") == "1"
            for u in updates:
                self._apply_one(c, model_id, u, regional)
            self.db.bump()

    def _apply_one(self, c: sqlite3.Connection, model_id: int, u: FileUpdate, regional: bool) -> None:
        status = "failed" if u.error else "ok"
        fid = u.file_id
        if u.move_from is not None:
            if fid is not None and fid != u.move_from:
                c.execute("DELETE FROM files WHERE id=?", (fid,))
            fid = u.move_from
            c.execute("UPDATE files SET relpath=?, size=?, mtime_ns=? WHERE id=?",
                      (to_db(u.relpath), u.size, u.mtime_ns, fid))
            return
        if fid is not None:
            old_hash = c.execute("SELECT content_hash FROM files WHERE id=?", (fid,)).fetchone()[0]
            if old_hash != u.content_hash or u.error:
                # New content: every derived fact about the old content is stale.
                c.execute("DELETE FROM vectors WHERE file_id=?", (fid,))
                c.execute("DELETE FROM regions WHERE file_id=?", (fid,))
                c.execute("DELETE FROM tags WHERE file_id=?", (fid,))
                c.execute("DELETE FROM clusters WHERE file_id=?", (fid,))
                c.execute("DELETE FROM text_lines WHERE file_id=?", (fid,))  # text in photos (store.text)
                c.execute("DELETE FROM text_read WHERE file_id=?", (fid,))
                self.media.forget(fid)
                faces.forget_content(c, fid)
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
                (to_db(u.relpath), u.size, u.mtime_ns, u.content_hash, u.width, u.height, u.taken_at, status, u.error),
            ).lastrowid
            assert fid is not None  # the new row's id
        if u.copy_from is not None:
            c.execute(
                "INSERT OR REPLACE INTO vectors(file_id, model_id, vec) SELECT ?, model_id, vec FROM vectors "
                "WHERE file_id=?", (fid, u.copy_from))
            c.execute(
                "INSERT OR REPLACE INTO regions(file_id, model_id, count, dim, vecs) "
                "SELECT ?, model_id, count, dim, vecs FROM regions WHERE file_id=?", (fid, u.copy_from))
            assert fid is not None
            faces.copy_faces(c, fid, u.copy_from)  # a copy is in the same people, and not searched again
            c.execute("UPDATE files SET width=(SELECT width FROM files WHERE id=:s), "
                      "height=(SELECT height FROM files WHERE id=:s), taken_at=(SELECT taken_at FROM files WHERE id=:s) "
                      "WHERE id=:d", {"s": u.copy_from, "d": fid})
            self.media.copy(fid, u.copy_from)
        if u.vec is not None:
            c.execute("INSERT OR REPLACE INTO vectors(file_id, model_id, vec) VALUES(?,?,?)",
                      (fid, model_id, np.asarray(u.vec, dtype="<f4").tobytes()))
        if u.frames is not None:
            self.media.write_clip(fid, model_id, u.duration, u.frames)
        if u.regions is not None and regional:
            r = np.asarray(u.regions, dtype="<f2")
            c.execute("INSERT OR REPLACE INTO regions(file_id, model_id, count, dim, vecs) VALUES(?,?,?,?,?)",
                      (fid, model_id, r.shape[0], r.shape[1], r.tobytes()))

    def remove_files(self, ids: Iterable[int]) -> int:
        ids = list(ids)
        if not ids:
            return 0
        with self.db.transaction() as c:
            c.executemany("DELETE FROM files WHERE id=?", [(i,) for i in ids])
            self.db.bump()
        return len(ids)

    def file_dates(self) -> list[tuple[int, str, float]]:
        """(id, relpath, when taken else last modified) of every readable file, by id."""
        return [(i, from_db(r), d) for i, r, d in self.db.conn.execute(
            "SELECT id, relpath, COALESCE(taken_at, mtime_ns / 1e9) FROM files WHERE status='ok' "
            "ORDER BY id")]

    def listing_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64, dates float64: taken, else modified) of every readable file in relpath order,
        as arrays: a million photos without a Python object each."""
        rows = self.db.conn.execute("SELECT id, COALESCE(taken_at, mtime_ns / 1e9) FROM files WHERE status='ok' "
                                    "ORDER BY relpath").fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        dates = np.fromiter((np.nan if r[1] is None else r[1] for r in rows), dtype=np.float64, count=len(rows))
        return ids, dates

    def read_listing(self) -> tuple[int, np.ndarray, np.ndarray, dict[str, int]]:
        """(generation, listing_columns, folder_sizes) read in one transaction, so they agree with
        each other and with the generation (core.vectorcache keeps them in files beside the library)."""
        with self.db.snapshot():
            gen = self.db.generation
            ids, dates = self.listing_columns()
            sizes = self.folder_sizes()
        return gen, ids, dates, sizes

    def listing_spot_rows(self, ids: Sequence[int]) -> dict[int, tuple[str, float | None]]:
        """id -> (relpath as stored, date) of the given readable files: what a cached listing is checked against."""
        out: dict[int, tuple[str, float | None]] = {}
        for chunk in chunks([int(i) for i in ids]):
            q = (f"SELECT id, relpath, COALESCE(taken_at, mtime_ns / 1e9) FROM files "
                 f"WHERE status='ok' AND id IN ({','.join('?' * len(chunk))})")
            out.update((i, (r, d)) for i, r, d in self.db.conn.execute(q, chunk))
        return out

    def folder_sizes(self) -> dict[str, int]:
        """Readable files per folder (relpath of the parent, "" for the root), counted by SQLite:
        what the Folders tab needs of a million photos, without a Python object per photo."""
        # rtrim(p, p without '/') strips the file name, keeping the trailing '/' of its folder. SQLite's
        # text functions stop at a NUL, which names.to_db writes for bytes that are not UTF-8: those
        # few rows (found by bytes, in a blob) are split in Python instead.
        nul = "instr(CAST(relpath AS BLOB), x'00')"
        rows = self.db.conn.execute(f"SELECT rtrim(relpath, replace(relpath, '/', '')), COUNT(*) FROM files "
                                    f"WHERE status='ok' AND {nul} = 0 GROUP BY 1")
        out: dict[str, int] = {}
        for folder, n in rows:
            key = from_db(folder).rstrip("/")
            out[key] = out.get(key, 0) + n
        for (rel,) in self.db.conn.execute(f"SELECT relpath FROM files WHERE status='ok' AND {nul} > 0"):
            key = from_db(rel).rpartition("/")[0]
            out[key] = out.get(key, 0) + 1
        return out

    def relpaths_of(self, ids: Sequence[int]) -> dict[int, str]:
        """id -> relpath of the given files (a search's hits: never the whole library)."""
        out: dict[int, str] = {}
        for chunk in chunks([int(i) for i in ids]):
            q = f"SELECT id, relpath FROM files WHERE id IN ({','.join('?' * len(chunk))})"
            out.update((i, from_db(r)) for i, r in self.db.conn.execute(q, chunk))
        return out

    def ids_under(self, folder: str) -> np.ndarray:
        """Sorted ids of the readable files in a folder's subtree ("a/b": every relpath "a/b/..."),
        from the relpath index. Every path below "a/b/" sorts between "a/b/" and "a/b0" ('0'
        follows '/'), so "a/bc/x" (a sibling that merely shares the prefix "a/b") is never included."""
        rows = self.db.conn.execute(
            "SELECT id FROM files WHERE relpath >= ? AND relpath < ? AND status='ok'",
            (to_db(folder + "/"), to_db(folder + "0")))
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64)
        ids.sort()
        return ids

    def failed_files(self) -> list[tuple[str, str]]:
        return [(from_db(r), e) for r, e in self.db.conn.execute(
            "SELECT relpath, error FROM files WHERE status='failed' ORDER BY relpath")]

    def count(self, model_id: int | None = None) -> int:
        if model_id is None:
            return self.db.conn.execute("SELECT COUNT(*) FROM files WHERE status='ok'").fetchone()[0]
        return self.db.conn.execute("SELECT COUNT(*) FROM vectors WHERE model_id=?", (model_id,)).fetchone()[0]

    def file_ids(self, relpaths: Iterable[str]) -> dict[str, int]:
        out = {}
        for rel in relpaths:
            row = self.db.conn.execute("SELECT id FROM files WHERE relpath=?", (to_db(rel),)).fetchone()
            if row:
                out[rel] = row[0]
        return out

    def files(self, ids: Sequence[int] | None = None) -> list[FileInfo]:
        """FileInfo for the given ids, in that order (unknown ids are dropped), or for every file."""
        cols = "id, relpath, size, mtime_ns, width, height, taken_at, status, error"
        if ids is None:
            rows = self.db.conn.execute(f"SELECT {cols} FROM files ORDER BY relpath").fetchall()
        else:
            ids = [int(i) for i in ids]  # numpy integers would silently match nothing in sqlite3
            by_id = {}
            for chunk in chunks(ids):
                q = f"SELECT {cols} FROM files WHERE id IN ({','.join('?' * len(chunk))})"
                by_id.update({r[0]: r for r in self.db.conn.execute(q, chunk)})
            rows = [by_id[i] for i in ids if i in by_id]
        return [FileInfo(r[0], from_db(r[1]), self.root / from_db(r[1]), *r[2:]) for r in rows]
