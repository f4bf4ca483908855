"""SQL of what a person marks by hand: albums, stars and favourites, hand-made tags, removed tags."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .schema import Database, chunks, placeholders


@dataclass(frozen=True)
class AlbumRow:
    id: int
    name: str
    count: int  # readable photos in it
    created_at: float


class MarkStore:
    """Albums (`albums`, `album_photos`), stars and favourites (`marks`), hand-made tags
    (`manual_tags`) and zero-shot tags removed from one photo (`tag_overrides`).

    Every write is one transaction over all the photos it names: it lands whole or not at all."""

    def __init__(self, db: Database):
        self.db = db

    # -- albums ------------------------------------------------------------------------------------

    def albums(self) -> list[AlbumRow]:
        """Every album by name (case-insensitive), with its readable photos counted."""
        rows = self.db.conn.execute(
            "SELECT a.id, a.name, COUNT(f.id), a.created_at FROM albums a "
            "LEFT JOIN album_photos p ON p.album_id = a.id LEFT JOIN files f ON f.id = p.file_id AND f.status='ok' "
            "GROUP BY a.id ORDER BY a.name COLLATE NOCASE").fetchall()
        return [AlbumRow(int(r[0]), r[1], int(r[2]), float(r[3])) for r in rows]

    def album_id(self, name: str) -> int | None:
        row = self.db.conn.execute("SELECT id FROM albums WHERE name=?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def create_album(self, name: str, now: float) -> int:
        with self.db.transaction() as c:
            aid = c.execute("INSERT INTO albums(name, created_at) VALUES(?, ?)", (name, now)).lastrowid
        assert aid is not None
        return int(aid)

    def rename_album(self, album_id: int, name: str) -> None:
        with self.db.transaction() as c:
            c.execute("UPDATE albums SET name=? WHERE id=?", (name, album_id))

    def delete_album(self, album_id: int) -> None:
        """The album and its membership; the photos themselves are untouched."""
        with self.db.transaction() as c:
            c.execute("DELETE FROM albums WHERE id=?", (album_id,))

    def add_to_album(self, album_id: int, file_ids: Sequence[int], now: float) -> int:
        """Add photos (those already in it stay as they were); returns how many were new."""
        with self.db.transaction() as c:
            before = c.total_changes
            c.executemany("INSERT OR IGNORE INTO album_photos(album_id, file_id, added_at) VALUES(?,?,?)",
                          [(album_id, int(f), now) for f in file_ids])
            return int(c.total_changes - before)

    def remove_from_album(self, album_id: int, file_ids: Sequence[int]) -> int:
        with self.db.transaction() as c:
            before = c.total_changes
            c.executemany("DELETE FROM album_photos WHERE album_id=? AND file_id=?",
                          [(album_id, int(f)) for f in file_ids])
            return int(c.total_changes - before)

    def album_files(self, album_id: int) -> list[int]:
        """The album's photos, in the order they were added."""
        return [int(r[0]) for r in self.db.conn.execute(
            "SELECT file_id FROM album_photos WHERE album_id=? ORDER BY added_at, file_id", (album_id,))]

    def albums_of(self, file_ids: Sequence[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for chunk in chunks([int(i) for i in file_ids]):
            q = (f"SELECT p.file_id, a.name FROM album_photos p JOIN albums a ON a.id = p.album_id "
                 f"WHERE p.file_id IN ({placeholders(len(chunk))}) ORDER BY a.name COLLATE NOCASE")
            for fid, name in self.db.conn.execute(q, chunk):
                out.setdefault(int(fid), []).append(name)
        return out

    # -- stars and favourites ----------------------------------------------------------------------

    def set_stars(self, file_ids: Sequence[int], stars: int) -> None:
        with self.db.transaction() as c:
            c.executemany("INSERT INTO marks(file_id, stars) VALUES(?, ?) "
                          "ON CONFLICT(file_id) DO UPDATE SET stars=excluded.stars",
                          [(int(f), stars) for f in file_ids])
            c.execute("DELETE FROM marks WHERE stars=0 AND favourite=0")

    def set_favourite(self, file_ids: Sequence[int], on: bool) -> None:
        with self.db.transaction() as c:
            c.executemany("INSERT INTO marks(file_id, favourite) VALUES(?, ?) "
                          "ON CONFLICT(file_id) DO UPDATE SET favourite=excluded.favourite",
                          [(int(f), int(on)) for f in file_ids])
            c.execute("DELETE FROM marks WHERE stars=0 AND favourite=0")

    def marks_of(self, file_ids: Sequence[int]) -> dict[int, tuple[int, bool]]:
        """file id -> (stars, favourite) of the photos that have either."""
        out: dict[int, tuple[int, bool]] = {}
        for chunk in chunks([int(i) for i in file_ids]):
            q = f"SELECT file_id, stars, favourite FROM marks WHERE file_id IN ({placeholders(len(chunk))})"
            out.update((int(f), (int(s), bool(v))) for f, s, v in self.db.conn.execute(q, chunk))
        return out

    def all_marks(self) -> dict[int, tuple[int, bool]]:
        return {int(f): (int(s), bool(v)) for f, s, v in
                self.db.conn.execute("SELECT file_id, stars, favourite FROM marks")}

    def with_min_stars(self, stars: int) -> set[int]:
        return {int(r[0]) for r in self.db.conn.execute("SELECT file_id FROM marks WHERE stars >= ?", (stars,))}

    def favourites(self) -> set[int]:
        return {int(r[0]) for r in self.db.conn.execute("SELECT file_id FROM marks WHERE favourite=1")}

    # -- hand-made tags and removed zero-shot tags -------------------------------------------------

    def add_tag(self, label: str, file_ids: Sequence[int], now: float) -> None:
        """A hand-made tag on photos; it also undoes an earlier removal of that tag from them."""
        rows = [(int(f), label) for f in file_ids]
        with self.db.transaction() as c:
            c.executemany("INSERT OR IGNORE INTO manual_tags(file_id, label, added_at) VALUES(?,?,?)",
                          [(f, lab, now) for f, lab in rows])
            c.executemany("DELETE FROM tag_overrides WHERE file_id=? AND label=?", rows)

    def remove_tag(self, label: str, file_ids: Sequence[int]) -> None:
        """Take a tag off photos: the hand-made one, and the zero-shot one for good (re-tagging
        does not bring it back, since the removal is recorded rather than the tag row deleted)."""
        rows = [(int(f), label) for f in file_ids]
        with self.db.transaction() as c:
            c.executemany("DELETE FROM manual_tags WHERE file_id=? AND label=?", rows)
            c.executemany("INSERT OR IGNORE INTO tag_overrides(file_id, label) VALUES(?,?)", rows)

    def rename_tag(self, old: str, new: str) -> None:
        """Rename a hand-made tag on every photo (merging into `new` where both exist)."""
        with self.db.transaction() as c:
            c.execute("INSERT OR IGNORE INTO manual_tags(file_id, label, added_at) "
                      "SELECT file_id, ?, added_at FROM manual_tags WHERE label=?", (new, old))
            c.execute("DELETE FROM manual_tags WHERE label=? AND label<>?", (old, new))
            if old.casefold() == new.casefold():  # a change of case only: NOCASE saw one label
                c.execute("UPDATE manual_tags SET label=? WHERE label=?", (new, old))

    def delete_tag(self, label: str) -> None:
        with self.db.transaction() as c:
            c.execute("DELETE FROM manual_tags WHERE label=?", (label,))

    def manual_labels(self) -> dict[str, int]:
        """Hand-made label -> readable photos carrying it, by label."""
        return {lab: int(n) for lab, n in self.db.conn.execute(
            "SELECT MIN(m.label), COUNT(f.id) FROM manual_tags m LEFT JOIN files f ON f.id = m.file_id "
            "AND f.status='ok' GROUP BY m.label ORDER BY m.label COLLATE NOCASE")}

    def manual_tagged(self, label: str) -> list[int]:
        return [int(r[0]) for r in self.db.conn.execute(
            "SELECT file_id FROM manual_tags WHERE label=? ORDER BY file_id", (label,))]

    def manual_tags_of(self, file_ids: Sequence[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for chunk in chunks([int(i) for i in file_ids]):
            q = (f"SELECT file_id, label FROM manual_tags WHERE file_id IN ({placeholders(len(chunk))}) "
                 "ORDER BY label COLLATE NOCASE")
            for fid, lab in self.db.conn.execute(q, chunk):
                out.setdefault(int(fid), []).append(lab)
        return out

    def removed_tags(self, file_ids: Iterable[int]) -> set[tuple[int, str]]:
        """(file id, label casefolded) of the zero-shot tags a person took off."""
        out: set[tuple[int, str]] = set()
        for chunk in chunks([int(i) for i in file_ids]):
            q = f"SELECT file_id, label FROM tag_overrides WHERE file_id IN ({placeholders(len(chunk))})"
            out.update((int(f), lab.casefold()) for f, lab in self.db.conn.execute(q, chunk))
        return out
