"""SQL of videos and RAW+JPEG pairs: a clip's duration and per-frame vectors (with their times), and the
RAW files shown beside the JPEG of the same shot (core.media holds the logic)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..names import from_db, to_db
from .schema import Database, chunks, placeholders


@dataclass(frozen=True)
class Frame:
    """One sampled frame of a clip, as stored for one model."""

    at: float  # seconds from the start of the clip
    vec: np.ndarray  # unit vector


class MediaStore:
    """Clips, their frames and RAW pairs. The writes made while indexing (write_clip, forget, copy) run
    inside the caller's transaction (FileStore.apply's batch), on this thread's connection."""

    def __init__(self, db: Database):
        self.db = db

    # -- written with an indexing batch ----------------------------------------------------------

    def write_clip(self, file_id: int, model_id: int, duration: float | None,
                   frames: Sequence[tuple[float, np.ndarray]]) -> None:
        c = self.db.conn
        c.execute("INSERT OR REPLACE INTO clips(file_id, duration) VALUES(?, ?)", (file_id, duration))
        c.execute("DELETE FROM clip_frames WHERE file_id=? AND model_id=?", (file_id, model_id))
        c.executemany("INSERT OR REPLACE INTO clip_frames(file_id, model_id, at, vec) VALUES(?,?,?,?)",
                      [(file_id, model_id, float(at), np.asarray(v, "<f4").tobytes()) for at, v in frames])

    def forget(self, file_id: int) -> None:
        """The file's content changed: its frames and duration belong to the old content."""
        c = self.db.conn
        c.execute("DELETE FROM clip_frames WHERE file_id=?", (file_id,))
        c.execute("DELETE FROM clips WHERE file_id=?", (file_id,))

    def copy(self, dest: int, source: int) -> None:
        """A copy of an indexed clip gets its frames without decoding it again."""
        c = self.db.conn
        c.execute("INSERT OR REPLACE INTO clips(file_id, duration) SELECT ?, duration FROM clips "
                  "WHERE file_id=?", (dest, source))
        c.execute("INSERT OR REPLACE INTO clip_frames(file_id, model_id, at, vec) "
                  "SELECT ?, model_id, at, vec FROM clip_frames WHERE file_id=?", (dest, source))

    def set_pairs(self, pairs: dict[str, str]) -> None:
        """Replace the RAW pairs (RAW relpath -> photo relpath) with those of a complete scan."""
        with self.db.transaction() as c:
            c.execute("DELETE FROM raw_pairs")
            c.executemany("INSERT INTO raw_pairs(raw, photo) VALUES(?, ?)",
                          [(to_db(r), to_db(p)) for r, p in sorted(pairs.items())])

    # -- read ------------------------------------------------------------------------------------

    def durations(self, file_ids: Iterable[int]) -> dict[int, float | None]:
        """file id -> duration in seconds, for the ids that are videos."""
        out: dict[int, float | None] = {}
        for chunk in chunks([int(i) for i in file_ids]):
            q = f"SELECT file_id, duration FROM clips WHERE file_id IN ({placeholders(len(chunk))})"
            out.update(dict(self.db.conn.execute(q, chunk).fetchall()))
        return out

    def all_durations(self) -> dict[str, float | None]:
        """relpath -> duration of every video in the library."""
        return {from_db(r): d for r, d in self.db.conn.execute(
            "SELECT f.relpath, c.duration FROM clips c JOIN files f ON f.id = c.file_id")}

    def frames(self, file_id: int, model_id: int) -> list[Frame]:
        rows = self.db.conn.execute(
            "SELECT at, vec FROM clip_frames WHERE file_id=? AND model_id=? ORDER BY at", (file_id, model_id))
        return [Frame(at, np.frombuffer(v, "<f4").astype(np.float32)) for at, v in rows.fetchall()]

    def raws_of(self, photos: Iterable[str]) -> dict[str, list[str]]:
        """photo relpath -> the RAW relpaths shown beside it."""
        out: dict[str, list[str]] = {}
        for chunk in chunks([to_db(p) for p in photos]):
            q = f"SELECT photo, raw FROM raw_pairs WHERE photo IN ({placeholders(len(chunk))}) ORDER BY raw"
            for photo, raw in self.db.conn.execute(q, chunk):
                out.setdefault(from_db(photo), []).append(from_db(raw))
        return out

    def pair_count(self) -> int:
        return int(self.db.conn.execute("SELECT COUNT(*) FROM raw_pairs").fetchone()[0])

    def clip_count(self) -> int:
        return int(self.db.conn.execute("SELECT COUNT(*) FROM clips c JOIN files f ON f.id = c.file_id "
                                        "WHERE f.status='ok'").fetchone()[0])
