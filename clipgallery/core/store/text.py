"""SQL of text in photos: the lines read per photo, the photos read, and the trigram FTS index over the lines."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..names import from_db
from .schema import Database, chunks, placeholders

META_KEY = "text"  # the folder's setting: "1" while text in photos is read

Quad = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class TextLine:
    """One line of text found in a photo; `box` is its quadrilateral (4 corners, clockwise from the
    top left of the text) as (x, y) fractions of the upright image."""

    text: str
    box: Quad
    confidence: float


@dataclass(frozen=True)
class StoredLine:
    id: int
    file_id: int
    line: int  # its place in reading order
    text: str
    box: Quad
    confidence: float


@dataclass(frozen=True)
class ReadResult:
    """What one photo gave: its lines (none: no text), and how ("read", "gated": the cheap detector
    pass saw no text, "copied": the same bytes elsewhere in the folder were read before)."""

    file_id: int
    content_hash: str | None
    lines: tuple[TextLine, ...]
    how: str


@dataclass(frozen=True)
class TextCounts:
    read: int  # photos read (in full, gated or copied)
    with_text: int
    lines: int


class TextStore:
    """Text in photos, as stored in one library (`lib.text`)."""

    def __init__(self, db: Database):
        self.db = db

    # -- the setting -------------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.db.get_meta(META_KEY, "0") == "1"

    def set_enabled(self, enabled: bool) -> None:
        """Turn reading on (the next index run reads the photos) or off: every line read is deleted,
        and its pages are overwritten on disk (secure_delete) rather than left in free space."""
        c = self.db.conn
        if not enabled:
            c.execute("PRAGMA secure_delete=ON")
        try:
            with self.db.transaction():
                self.db.set_meta(META_KEY, "1" if enabled else "0")
                if not enabled:
                    c.execute("DELETE FROM text_lines")
                    c.execute("DELETE FROM text_read")
                    c.execute("DELETE FROM text_fts")
        finally:
            if not enabled:
                c.execute("PRAGMA secure_delete=OFF")
        if not enabled:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL held copies of the deleted pages

    # -- the reading pass ------------------------------------------------------------------------

    def forget_stale(self) -> None:
        """Drop what was read from bytes a file no longer has, and FTS rows of deleted lines."""
        with self.db.transaction() as c:
            c.execute("DELETE FROM text_lines WHERE file_id IN (SELECT r.file_id FROM text_read r "
                      "JOIN files f ON f.id = r.file_id WHERE r.content_hash IS NOT f.content_hash)")
            c.execute("DELETE FROM text_read WHERE file_id IN (SELECT r.file_id FROM text_read r "
                      "JOIN files f ON f.id = r.file_id WHERE r.content_hash IS NOT f.content_hash)")
            c.execute("DELETE FROM text_fts WHERE rowid NOT IN (SELECT id FROM text_lines)")

    def unread(self) -> list[tuple[int, str, str | None]]:
        """(file id, relpath, content hash) of the indexed photos not read yet, in id order."""
        return [(i, from_db(r), h) for i, r, h in self.db.conn.execute(
            "SELECT f.id, f.relpath, f.content_hash FROM files f LEFT JOIN text_read r ON r.file_id = f.id "
            "WHERE f.status = 'ok' AND r.file_id IS NULL ORDER BY f.id")]

    def read_by_hash(self, hashes: Iterable[str | None]) -> dict[str, int]:
        """content hash -> a photo with those bytes that has been read (its lines can be copied)."""
        out: dict[str, int] = {}
        wanted = [h for h in set(hashes) if h]
        for chunk in chunks(wanted):
            out.update(self.db.conn.execute(
                f"SELECT content_hash, file_id FROM text_read WHERE content_hash IN ({placeholders(len(chunk))})",
                list(chunk)).fetchall())
        return out

    def save(self, results: Sequence[ReadResult], copies: Sequence[tuple[int, str | None, int]] = ()) -> None:
        """Write a batch in one transaction. `copies`: (file id, its hash, the photo to copy from)."""
        if not results and not copies:
            return
        now = time.time()
        with self.db.transaction() as c:
            for r in results:
                if c.execute("SELECT 1 FROM files WHERE id=? AND content_hash IS ?",
                             (r.file_id, r.content_hash)).fetchone() is None:
                    continue  # removed or changed while it was being read: the next run reads it
                _replace(c, r.file_id, r.content_hash, r.lines, r.how, now)
            for fid, h, src in copies:
                lines = tuple(TextLine(s.text, s.box, s.confidence) for s in self.lines(src, c))
                _replace(c, fid, h, lines, "copied", now)

    # -- reading it back ---------------------------------------------------------------------------

    def lines(self, file_id: int, conn: sqlite3.Connection | None = None) -> list[StoredLine]:
        """The lines read in a photo, in reading order (none when it has no text or was not read)."""
        rows = (conn or self.db.conn).execute(
            "SELECT id, file_id, line, text, box, confidence FROM text_lines WHERE file_id=? ORDER BY line",
            (int(file_id),)).fetchall()
        return [_stored(r) for r in rows]

    def was_read(self, file_id: int) -> bool:
        return self.db.conn.execute("SELECT 1 FROM text_read WHERE file_id=?",
                                    (int(file_id),)).fetchone() is not None

    def any_lines(self) -> bool:
        """Whether any photo has text read (a plain search then also looks at it)."""
        return bool(self.db.conn.execute("SELECT EXISTS(SELECT 1 FROM text_lines)").fetchone()[0])

    def counts(self) -> TextCounts:
        read, with_text = self.db.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(lines > 0), 0) FROM text_read r JOIN files f ON f.id = r.file_id "
            "WHERE f.status = 'ok'").fetchone()
        n = self.db.conn.execute("SELECT COUNT(*) FROM text_lines").fetchone()[0]
        return TextCounts(int(read), int(with_text), int(n))

    def candidates(self, groups: Sequence[Sequence[str]], likes: Sequence[str] = ()) -> list[StoredLine]:
        """Lines that contain, for every group, at least one of its substrings (3+ characters, through
        the trigram index), and every `likes` substring (any length, by a scan)."""
        where: list[str] = []
        args: list[str] = []
        if groups:
            expr = " AND ".join("(" + " OR ".join(_fts_phrase(s) for s in g) + ")" for g in groups)
            where.append("l.id IN (SELECT rowid FROM text_fts WHERE text_fts MATCH ?)")
            args.append(expr)
        for s in likes:
            where.append("l.text LIKE ? ESCAPE '\\'")
            args.append("%" + s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if not where:
            return []
        rows = self.db.conn.execute(
            "SELECT l.id, l.file_id, l.line, l.text, l.box, l.confidence FROM text_lines l "
            "JOIN files f ON f.id = l.file_id WHERE f.status = 'ok' AND " + " AND ".join(where), args).fetchall()
        return [_stored(r) for r in rows]


def _replace(c: sqlite3.Connection, fid: int, content_hash: str | None, lines: Sequence[TextLine], how: str,
             now: float) -> None:
    c.execute("DELETE FROM text_lines WHERE file_id=?", (fid,))
    for i, ln in enumerate(lines):
        lid = c.execute("INSERT INTO text_lines(file_id, line, text, box, confidence) VALUES(?,?,?,?,?)",
                        (fid, i, ln.text, json.dumps([[round(x, 5), round(y, 5)] for x, y in ln.box]),
                         float(ln.confidence))).lastrowid
        c.execute("INSERT INTO text_fts(rowid, text) VALUES(?, ?)", (lid, ln.text))
    c.execute("INSERT OR REPLACE INTO text_read(file_id, content_hash, lines, how, read_at) VALUES(?,?,?,?,?)",
              (fid, content_hash, len(lines), how, now))


def _fts_phrase(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def _stored(r: tuple) -> StoredLine:
    return StoredLine(r[0], r[1], r[2], r[3], tuple((float(x), float(y)) for x, y in json.loads(r[4])), r[5])
