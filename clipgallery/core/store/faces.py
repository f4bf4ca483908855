"""SQL of faces and people (core.faces): faces found per photo, the people they are grouped into,
which photos the face pass has searched, and the per-folder setting that deletes them all."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LibraryError, QueryError
from ..names import from_db
from .schema import Database

DESCRIPTOR_DIM = 128


@dataclass(frozen=True)
class DetectedFace:
    box: tuple[int, int, int, int]  # left, top, right, bottom in the upright original's pixels
    quality: float  # 0..1: size, detector confidence and sharpness; picks covers, orders clustering
    descriptor: np.ndarray  # [128] float32


@dataclass(frozen=True)
class Face:
    id: int
    file_id: int
    path: Path
    box: tuple[int, int, int, int]
    quality: float
    person_id: int | None


@dataclass
class Person:
    id: int
    name: str | None
    hidden: bool
    cover: Face | None
    faces: list[Face]

    @property
    def file_ids(self) -> list[int]:
        return list(dict.fromkeys(f.file_id for f in self.faces))

    @property
    def paths(self) -> list[Path]:
        seen: dict[int, Path] = {}
        for f in self.faces:
            seen.setdefault(f.file_id, f.path)
        return sorted(seen.values())

    def to_json(self) -> dict[str, Any]:
        return {"person": self.id, "name": self.name, "cover": str(self.cover.path) if self.cover else None,
                "photos": [str(p) for p in self.paths], "faces": len(self.faces), "hidden": self.hidden,
                "face_list": [{"face": f.id, "path": str(f.path), "box": list(f.box),
                               "quality": round(f.quality, 3)} for f in self.faces]}



class FaceStore:
    """Every SQL statement about faces and people (tables from the faces migration in schema.py)."""

    def __init__(self, db: Database, root: Path):
        self.db = db
        self.root = root

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    # the setting

    @property
    def enabled(self) -> bool:
        return self.db.get_meta("faces", "0") == "1"

    def set_enabled(self, enabled: bool) -> None:
        """On: the next index run finds faces. Off: every face, person and name is deleted, and
        overwritten on disk (secure_delete + a WAL checkpoint), since they are biometric data."""
        c = self.conn
        if enabled:
            with self.db.transaction():
                self.db.set_meta("faces", "1")
            return
        c.execute("PRAGMA secure_delete=ON")
        try:
            with self.db.transaction():
                self.db.set_meta("faces", "0")
                c.execute("DELETE FROM faces")
                c.execute("DELETE FROM people")
                c.execute("DELETE FROM face_scans")
        finally:
            c.execute("PRAGMA secure_delete=OFF")
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # the pass

    def enabled_in(self, c: sqlite3.Connection) -> bool:
        """The setting as this transaction sees it (a batch must not land after it was turned off)."""
        return c.execute("SELECT value FROM meta WHERE key='faces'").fetchone() == ("1",)

    def pending(self) -> list[tuple[int, str]]:
        """(file id, relpath) of readable photos not yet searched for faces in their present content."""
        return [(i, from_db(r)) for i, r in self.conn.execute(
            "SELECT f.id, f.relpath FROM files f LEFT JOIN face_scans s ON s.file_id = f.id "
            "WHERE f.status = 'ok' AND (s.file_id IS NULL OR s.content_hash IS NOT f.content_hash) "
            "ORDER BY f.id")]

    def scanned_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM face_scans").fetchone()[0]

    def face_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM faces").fetchone()[0]

    def save_scan(self, c: sqlite3.Connection, file_id: int, faces: Sequence[DetectedFace],
                  error: str | None = None) -> list[int]:
        """Replace a photo's faces by these (inside the caller's transaction); their new ids."""
        c.execute("DELETE FROM faces WHERE file_id=?", (file_id,))
        row = c.execute("SELECT content_hash FROM files WHERE id=?", (file_id,)).fetchone()
        if row is None:  # removed by an index run meanwhile
            return []
        c.execute("INSERT OR REPLACE INTO face_scans(file_id, content_hash, faces, error, scanned_at) "
                  "VALUES(?,?,?,?,?)", (file_id, row[0], len(faces), error, time.time()))
        ids = []
        for f in faces:
            ids.append(int(c.execute(
                "INSERT INTO faces(file_id, left, top, right, bottom, quality, descriptor) VALUES(?,?,?,?,?,?,?)",
                (file_id, *f.box, f.quality, np.asarray(f.descriptor, "<f4").tobytes())).lastrowid or 0))
        return ids

    def assigned(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(face ids, person ids, descriptors [n, 128]) of every face that belongs to a person."""
        rows = self.conn.execute(
            "SELECT id, person_id, descriptor FROM faces WHERE person_id IS NOT NULL ORDER BY id").fetchall()
        return _face_arrays(rows)

    def unassigned(self, c: sqlite3.Connection | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(face ids, descriptors) of faces in no person yet, best quality first."""
        rows = (c or self.conn).execute(
            "SELECT id, NULL, descriptor FROM faces WHERE person_id IS NULL ORDER BY quality DESC, id").fetchall()
        ids, _, desc = _face_arrays(rows)
        return ids, desc

    def new_person(self, c: sqlite3.Connection) -> int:
        return int(c.execute("INSERT INTO people(created_at) VALUES(?)", (time.time(),)).lastrowid or 0)

    def set_person(self, c: sqlite3.Connection, face_ids: Iterable[int], person_id: int | None,
                   locked: bool | None = None) -> None:
        if locked is None:
            c.executemany("UPDATE faces SET person_id=? WHERE id=?", [(person_id, int(i)) for i in face_ids])
        else:
            c.executemany("UPDATE faces SET person_id=?, locked=? WHERE id=?",
                          [(person_id, int(locked), int(i)) for i in face_ids])

    def refresh_people(self, c: sqlite3.Connection) -> None:
        """Drop people left without faces and give every person its best face as cover (unless the
        cover chosen still belongs to it)."""
        c.execute("DELETE FROM people WHERE NOT EXISTS(SELECT 1 FROM faces f WHERE f.person_id = people.id)")
        c.execute(
            "UPDATE people SET cover_face_id = (SELECT f.id FROM faces f WHERE f.person_id = people.id "
            "ORDER BY f.quality DESC, f.id LIMIT 1) WHERE cover_face_id IS NULL OR NOT EXISTS("
            "SELECT 1 FROM faces f WHERE f.id = people.cover_face_id AND f.person_id = people.id)")

    # people

    def faces(self, person_id: int | None = None, file_id: int | None = None) -> list[Face]:
        where, args = [], []
        if person_id is not None:
            where.append("fa.person_id = ?")
            args.append(person_id)
        if file_id is not None:
            where.append("fa.file_id = ?")
            args.append(file_id)
        sql = ("SELECT fa.id, fa.file_id, fi.relpath, fa.left, fa.top, fa.right, fa.bottom, fa.quality, "
               "fa.person_id FROM faces fa JOIN files fi ON fi.id = fa.file_id")
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.conn.execute(sql + " ORDER BY fa.quality DESC, fa.id", args).fetchall()
        root = self.root
        return [Face(r[0], r[1], root / from_db(r[2]), (r[3], r[4], r[5], r[6]), r[7], r[8]) for r in rows]

    def face(self, face_id: int) -> Face:
        rows = self.conn.execute(
            "SELECT fa.id, fa.file_id, fi.relpath, fa.left, fa.top, fa.right, fa.bottom, fa.quality, fa.person_id "
            "FROM faces fa JOIN files fi ON fi.id = fa.file_id WHERE fa.id = ?", (int(face_id),)).fetchall()
        if not rows:
            raise LibraryError(f"there is no face {face_id} in this library (see `clipgallery people PATH --json`)")
        r = rows[0]
        return Face(r[0], r[1], self.root / from_db(r[2]), (r[3], r[4], r[5], r[6]), r[7], r[8])

    def people(self, min_faces: int = 2, hidden: bool = False) -> list[Person]:
        """People with at least `min_faces` faces, named first, then the largest."""
        rows = self.conn.execute("SELECT id, name, hidden, cover_face_id FROM people").fetchall()
        by_person: dict[int, list[Face]] = {}
        for f in self.faces():
            if f.person_id is not None:
                by_person.setdefault(f.person_id, []).append(f)
        out = []
        for pid, name, hid, cover_id in rows:
            faces = by_person.get(pid, [])
            if len(faces) < min_faces or (hid and not hidden):
                continue
            cover = next((f for f in faces if f.id == cover_id), faces[0] if faces else None)
            out.append(Person(pid, name, bool(hid), cover, faces))
        out.sort(key=lambda p: (p.name is None, (p.name or "").lower(), -len(p.faces), p.id))
        return out

    def person(self, person_id: int) -> Person:
        row = self.conn.execute("SELECT id, name, hidden, cover_face_id FROM people WHERE id=?",
                                (int(person_id),)).fetchone()
        if row is None:
            raise LibraryError(f"there is no person {person_id} in this library "
                               "(see `clipgallery people PATH --all`)")
        faces = self.faces(person_id=row[0])
        cover = next((f for f in faces if f.id == row[3]), faces[0] if faces else None)
        return Person(row[0], row[1], bool(row[2]), cover, faces)

    def find(self, name: str) -> int:
        """The id of the person with this name (any case); QueryError naming the known ones if none."""
        key = " ".join(str(name).split())
        row = self.conn.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE", (key,)).fetchone()
        if row:
            return row[0]
        names = [r[0] for r in self.conn.execute(
            "SELECT name FROM people WHERE name IS NOT NULL ORDER BY name COLLATE NOCASE")]
        known = f"known people: {', '.join(names)}" if names else \
            "nobody has been named yet (name people with `clipgallery people PATH --name ID NAME` or in the People tab)"
        raise QueryError(f"there is no person named '{key}' in {self.root}; {known}")

    def names(self) -> dict[int, str | None]:
        return dict(self.conn.execute("SELECT id, name FROM people").fetchall())

    def photos_of(self, person_id: int) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT file_id FROM faces WHERE person_id=? ORDER BY file_id", (person_id,))]

    def rename(self, person_id: int, name: str | None) -> None:
        self.person(person_id)
        clean = " ".join(str(name).split()) if name is not None else ""
        with self.db.transaction() as c:
            if clean:
                other = c.execute("SELECT id, name FROM people WHERE name = ? COLLATE NOCASE AND id != ?",
                                  (clean, person_id)).fetchone()
                if other:
                    raise LibraryError(f"person {other[0]} is already called '{other[1]}': merge the two "
                                       f"(`--merge {other[0]} {person_id}`) instead of giving both one name")
            c.execute("UPDATE people SET name=? WHERE id=?", (clean or None, person_id))
            # A named person's faces are the user's word: a re-cluster never moves them.
            c.execute("UPDATE faces SET locked=1 WHERE person_id=?", (person_id,))

    def hide(self, person_id: int, hidden: bool = True) -> None:
        self.person(person_id)
        with self.db.transaction() as c:
            c.execute("UPDATE people SET hidden=? WHERE id=?", (int(hidden), person_id))
            c.execute("UPDATE faces SET locked=1 WHERE person_id=?", (person_id,))

    def merge(self, keep: int, other: int) -> None:
        """`other`'s faces join `keep`; `keep` takes `other`'s name when it has none."""
        a, b = self.person(keep), self.person(other)
        if a.id == b.id:
            raise LibraryError("give two different people to merge")
        with self.db.transaction() as c:
            c.execute("UPDATE faces SET person_id=?, locked=1 WHERE person_id IN (?, ?)", (a.id, a.id, b.id))
            name = a.name or b.name
            c.execute("DELETE FROM people WHERE id=?", (b.id,))
            c.execute("UPDATE people SET name=?, hidden=? WHERE id=?", (name, int(a.hidden and b.hidden), a.id))
            self.refresh_people(c)

    def move_out(self, face_id: int) -> int:
        """"Not this person": the face leaves its person for a person of its own (kept on re-cluster)."""
        face = self.face(face_id)
        with self.db.transaction() as c:
            pid = self.new_person(c)
            self.set_person(c, [face.id], pid, locked=True)
            if face.person_id is not None:
                # Its old person stays as it is when re-clustered too.
                c.execute("UPDATE faces SET locked=1 WHERE person_id=?", (face.person_id,))
            self.refresh_people(c)
        return pid


def _face_arrays(rows: Sequence[tuple[Any, ...]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    pids = np.array([r[1] if r[1] is not None else -1 for r in rows], dtype=np.int64)
    desc = np.empty((len(rows), DESCRIPTOR_DIM), np.float32)
    for i, r in enumerate(rows):
        desc[i] = np.frombuffer(r[2], dtype="<f4")
    return ids, pids, desc


# -- what an indexing batch does to faces (called by FileStore._apply_one, inside its transaction) --


def forget_content(c: sqlite3.Connection, file_id: int) -> None:
    """New content at a path: its faces are stale; face_scans' old hash marks it for the face pass."""
    c.execute("DELETE FROM faces WHERE file_id=?", (file_id,))


def copy_faces(c: sqlite3.Connection, file_id: int, source_id: int) -> None:
    """A copy of a photo takes its faces (in the same people) and its scan, like its vectors."""
    c.execute("INSERT INTO faces(file_id, left, top, right, bottom, quality, descriptor, person_id) "
              "SELECT ?, left, top, right, bottom, quality, descriptor, person_id FROM faces "
              "WHERE file_id=? ORDER BY id", (file_id, source_id))
    c.execute("INSERT OR REPLACE INTO face_scans(file_id, content_hash, faces, error, scanned_at) "
              "SELECT ?, content_hash, faces, error, scanned_at FROM face_scans WHERE file_id=?",
              (file_id, source_id))
