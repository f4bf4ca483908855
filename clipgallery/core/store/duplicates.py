"""SQL of duplicates you can act on: pixel fingerprints by content hash, and the photos moved to the trash."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..names import from_db, to_db
from .schema import Database, chunks, placeholders


@dataclass(frozen=True)
class StoredPrint:
    content_hash: str
    thumb: bytes | None  # None when the picture could not be decoded (then `error` says why)
    phash: str | None
    error: str | None


@dataclass(frozen=True)
class TrashedRow:
    relpath: str
    content_hash: str | None
    size: int
    kept_relpath: str | None
    trash_path: str | None  # where in the trash the file went, when the platform lets us know
    trashed_at: float


class DuplicateStore:
    """`pixel_prints` (a cache: rows of another fingerprint version are ignored and replaced) and
    `trashed` (the record of every photo clipgallery moved to the desktop trash)."""

    def __init__(self, db: Database):
        self.db = db

    def content_hashes(self, file_ids: Sequence[int]) -> dict[int, str | None]:
        out: dict[int, str | None] = {}
        for chunk in chunks([int(i) for i in file_ids]):
            out.update((int(i), h) for i, h in self.db.conn.execute(
                f"SELECT id, content_hash FROM files WHERE id IN ({placeholders(len(chunk))})", chunk))
        return out

    def prints(self, hashes: Iterable[str], version: int) -> dict[str, StoredPrint]:
        out = {}
        for chunk in chunks(sorted(set(hashes))):
            for h, thumb, phash, error in self.db.conn.execute(
                    f"SELECT content_hash, thumb, phash, error FROM pixel_prints "
                    f"WHERE version=? AND content_hash IN ({placeholders(len(chunk))})", (version, *chunk)):
                out[h] = StoredPrint(h, None if thumb is None else bytes(thumb), phash, error)
        return out

    def save_prints(self, prints: Sequence[StoredPrint], version: int, now: float) -> None:
        if not prints:
            return
        with self.db.transaction() as c:
            c.executemany("INSERT OR REPLACE INTO pixel_prints(content_hash, version, thumb, phash, error, made_at) "
                          "VALUES(?, ?, ?, ?, ?, ?)",
                          [(p.content_hash, version, p.thumb, p.phash, p.error, now) for p in prints])

    def record_trashed(self, rows: Sequence[TrashedRow], file_ids: Sequence[int]) -> None:
        """In one transaction: remember where each photo went and take it out of the library's files
        (its vectors, tags, marks and album places go with its row)."""
        with self.db.transaction() as c:
            c.executemany("INSERT INTO trashed(relpath, content_hash, size, kept_relpath, trash_path, trashed_at) "
                          "VALUES(?, ?, ?, ?, ?, ?)",
                          [(to_db(r.relpath), r.content_hash, r.size,
                            None if r.kept_relpath is None else to_db(r.kept_relpath), r.trash_path, r.trashed_at)
                           for r in rows])
            c.executemany("DELETE FROM files WHERE id=?", [(int(i),) for i in file_ids])
            self.db.bump()

    def trashed(self) -> list[TrashedRow]:
        """Every photo moved to the trash, latest first."""
        return [TrashedRow(from_db(r), h, int(s), None if k is None else from_db(k), t, float(at))
                for r, h, s, k, t, at in self.db.conn.execute(
                    "SELECT relpath, content_hash, size, kept_relpath, trash_path, trashed_at FROM trashed "
                    "ORDER BY trashed_at DESC, id DESC")]
