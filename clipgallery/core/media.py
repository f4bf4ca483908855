"""Videos and RAW+JPEG pairs in a library: a clip's per-frame vectors (with their times) and duration,
and the RAW files shown beside the JPEG of the same shot. `MediaStore` holds all their SQL."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import formats

# Appended to core.library.MIGRATIONS (schema v4).
MIGRATION = """
CREATE TABLE clips(
    file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
    duration REAL
);
CREATE TABLE clip_frames(
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    at REAL NOT NULL,
    vec BLOB NOT NULL,
    PRIMARY KEY(file_id, model_id, at)
);
CREATE TABLE raw_pairs(
    raw TEXT PRIMARY KEY,
    photo TEXT NOT NULL
);
CREATE INDEX raw_pairs_photo ON raw_pairs(photo);
"""

# Which still a RAW is paired with when a shot was saved in several: the camera's JPEG first.
_PARTNER_ORDER = (".jpg", ".jpeg", ".jpe", ".heic", ".heif", ".hif", ".tif", ".tiff", ".png")


@dataclass(frozen=True)
class Frame:
    at: float  # seconds from the start of the clip
    vec: np.ndarray  # unit vector


def clip_vector(frame_vecs: np.ndarray) -> np.ndarray:
    """A clip's vector: the normalised mean of its frames' unit vectors."""
    mean = np.asarray(frame_vecs, np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 1e-12 else np.asarray(frame_vecs[0], np.float32)


def pair_raws(relpaths: Iterable[str]) -> dict[str, str]:
    """RAW relpath -> the still image of the same shot (same folder, same name but the extension,
    case-insensitive), for every RAW that has one. Such a RAW is not indexed on its own: the photo is
    shown once, with the JPEG's vector and the RAW listed beside it (as digiKam and Lightroom do)."""
    stills: dict[str, list[str]] = {}
    raws: list[str] = []
    for rel in relpaths:
        kind = formats.kind_of(rel)
        if kind == formats.RAW:
            raws.append(rel)
        elif kind == formats.IMAGE and os.path.splitext(rel)[1].lower() in _PARTNER_ORDER:
            stills.setdefault(os.path.splitext(rel)[0].lower(), []).append(rel)
    pairs = {}
    for rel in raws:
        partners = stills.get(os.path.splitext(rel)[0].lower())
        if partners:
            pairs[rel] = min(partners, key=lambda p: (_PARTNER_ORDER.index(os.path.splitext(p)[1].lower()), p))
    return pairs


def raw_companions(photos: Iterable[Path]) -> dict[Path, list[Path]]:
    """photo -> the RAW files of the same shot beside it on disk (by pair_raws' rule), for exports:
    the RAW travels with its JPEG. One folder listing per folder."""
    by_folder: dict[Path, list[Path]] = {}
    for p in photos:
        by_folder.setdefault(Path(p).parent, []).append(Path(p))
    out: dict[Path, list[Path]] = {}
    for folder, wanted in by_folder.items():
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        partners: dict[str, list[str]] = {}
        for raw, still in pair_raws(names).items():
            partners.setdefault(still, []).append(raw)
        for p in wanted:
            if p.name in partners:
                out[p] = [folder / r for r in sorted(partners[p.name])]
    return out


class MediaStore:
    """The SQL of clips, frames and RAW pairs (a future core/store/media.py). Methods taking a
    connection run inside the caller's transaction (Library.apply's batch)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    # -- written with an indexing batch ----------------------------------------------------------

    def write_clip(self, file_id: int, model_id: int, duration: float | None,
                   frames: Sequence[tuple[float, np.ndarray]]) -> None:
        c = self.conn
        c.execute("INSERT OR REPLACE INTO clips(file_id, duration) VALUES(?, ?)", (file_id, duration))
        c.execute("DELETE FROM clip_frames WHERE file_id=? AND model_id=?", (file_id, model_id))
        c.executemany("INSERT OR REPLACE INTO clip_frames(file_id, model_id, at, vec) VALUES(?,?,?,?)",
                      [(file_id, model_id, float(at), np.asarray(v, "<f4").tobytes()) for at, v in frames])

    def forget(self, file_id: int) -> None:
        """The file's content changed: its frames and duration belong to the old content."""
        self.conn.execute("DELETE FROM clip_frames WHERE file_id=?", (file_id,))
        self.conn.execute("DELETE FROM clips WHERE file_id=?", (file_id,))

    def copy(self, dest: int, source: int) -> None:
        """A copy of an indexed clip gets its frames without decoding it again."""
        self.conn.execute("INSERT OR REPLACE INTO clips(file_id, duration) SELECT ?, duration FROM clips "
                          "WHERE file_id=?", (dest, source))
        self.conn.execute("INSERT OR REPLACE INTO clip_frames(file_id, model_id, at, vec) "
                          "SELECT ?, model_id, at, vec FROM clip_frames WHERE file_id=?", (dest, source))

    def set_pairs(self, pairs: dict[str, str]) -> None:
        """Replace the RAW pairs with those of a complete scan."""
        self.conn.execute("DELETE FROM raw_pairs")
        self.conn.executemany("INSERT INTO raw_pairs(raw, photo) VALUES(?, ?)", sorted(pairs.items()))

    # -- read ------------------------------------------------------------------------------------

    def durations(self, file_ids: Iterable[int]) -> dict[int, float | None]:
        """file id -> duration in seconds, for the ids that are videos."""
        ids = [int(i) for i in file_ids]
        out: dict[int, float | None] = {}
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            q = f"SELECT file_id, duration FROM clips WHERE file_id IN ({','.join('?' * len(chunk))})"
            out.update(dict(self.conn.execute(q, chunk).fetchall()))
        return out

    def all_durations(self) -> dict[str, float | None]:
        """relpath -> duration of every video in the library."""
        return dict(self.conn.execute(
            "SELECT f.relpath, c.duration FROM clips c JOIN files f ON f.id = c.file_id").fetchall())

    def frames(self, file_id: int, model_id: int) -> list[Frame]:
        rows = self.conn.execute("SELECT at, vec FROM clip_frames WHERE file_id=? AND model_id=? ORDER BY at",
                                 (file_id, model_id)).fetchall()
        return [Frame(at, np.frombuffer(v, "<f4").astype(np.float32)) for at, v in rows]

    def raws_of(self, photos: Iterable[str]) -> dict[str, list[str]]:
        """photo relpath -> the RAW relpaths shown beside it."""
        out: dict[str, list[str]] = {}
        wanted = list(photos)
        for i in range(0, len(wanted), 900):
            chunk = wanted[i:i + 900]
            q = f"SELECT photo, raw FROM raw_pairs WHERE photo IN ({','.join('?' * len(chunk))}) ORDER BY raw"
            for photo, raw in self.conn.execute(q, chunk):
                out.setdefault(photo, []).append(raw)
        return out

    def pair_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM raw_pairs").fetchone()[0]

    def clip_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM clips c JOIN files f ON f.id = c.file_id "
                                 "WHERE f.status='ok'").fetchone()[0]


def annotate_hits(conn: sqlite3.Connection, root: Any, model_id: int, query: np.ndarray, hits: list) -> list:
    """Hits (core.query.Hit) with `at` (the second of the best-matching frame) and `duration` set
    for videos, and `raw` (the RAW files beside a JPEG) for paired photos."""
    if not hits:
        return hits
    store = MediaStore(conn)
    durations = store.durations(h.file_id for h in hits)
    rels = {h.file_id: h.path.relative_to(root).as_posix() for h in hits}
    raws = store.raws_of(rels.values())
    if not durations and not raws:
        return hits
    q = np.asarray(query, np.float32).reshape(-1)
    out = []
    for h in hits:
        changes: dict[str, Any] = {}
        if h.file_id in durations:
            frames = store.frames(h.file_id, model_id)
            changes["duration"] = durations[h.file_id]
            if frames:
                scores = np.stack([f.vec for f in frames]) @ q
                changes["at"] = frames[int(np.argmax(scores))].at
        if rels[h.file_id] in raws:
            changes["raw"] = tuple(root / r for r in raws[rels[h.file_id]])
        out.append(replace(h, **changes) if changes else h)
    return out
