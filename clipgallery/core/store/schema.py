"""The library's SQLite schema: the versioned migration list and the one database connection per thread.

Append a migration to change the schema (it becomes the next PRAGMA user_version); never edit one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

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
    # v4 (text in photos, core.store.text): each line of text read in a photo (its quadrilateral
    # as JSON fractions of the image), the photos read (with the content hash read, so changed
    # bytes are read again, and how many lines: 0 = no text, never retried), and a trigram FTS5
    # index over the lines keyed by text_lines.id (AUTOINCREMENT: an id is never reused, so a
    # stale FTS row can never point at another line).
    """
    CREATE TABLE text_lines(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        line INTEGER NOT NULL,
        text TEXT NOT NULL,
        box TEXT NOT NULL,
        confidence REAL NOT NULL
    );
    CREATE INDEX text_lines_file ON text_lines(file_id);
    CREATE TABLE text_read(
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        content_hash TEXT,
        lines INTEGER NOT NULL,
        how TEXT NOT NULL,
        read_at REAL NOT NULL
    );
    CREATE VIRTUAL TABLE text_fts USING fts5(text, tokenize='trigram');
    """,
    # v5 (videos, RAW+JPEG pairs; core/store/media.py): clip durations, per-frame vectors with their
    # times, and the RAW files shown beside the JPEG of the same shot. Only its own tables.
    """
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
    """,
    # people (core.faces): each face found (box in the upright photo's pixels, dlib's 128-d
    # descriptor as float32, a quality), the people they are grouped into, and which photos the
    # face pass has searched (zero faces included) in which content. Kept while the "faces" setting
    # is on. Creates only its own tables, so its place among other appended migrations is free.
    """
    CREATE TABLE people(
        id INTEGER PRIMARY KEY,
        name TEXT,
        hidden INTEGER NOT NULL DEFAULT 0,
        cover_face_id INTEGER REFERENCES faces(id) ON DELETE SET NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE faces(
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        left INTEGER NOT NULL,
        top INTEGER NOT NULL,
        right INTEGER NOT NULL,
        bottom INTEGER NOT NULL,
        quality REAL NOT NULL,
        descriptor BLOB NOT NULL,
        person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
        locked INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX faces_file ON faces(file_id);
    CREATE INDEX faces_person ON faces(person_id);
    CREATE TABLE face_scans(
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        content_hash TEXT,
        faces INTEGER NOT NULL,
        error TEXT,
        scanned_at REAL NOT NULL
    );
    """,
    # organize (issue 15): albums, stars and favourites, hand-made tags, and zero-shot tags a person
    # removed from one photo. Only new tables, so its place in this list does not matter; all hang
    # off files(id), which a move keeps, so marks follow a moved photo and vanish with a deleted one.
    """
    CREATE TABLE albums(
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        created_at REAL NOT NULL
    );
    CREATE TABLE album_photos(
        album_id INTEGER NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        added_at REAL NOT NULL,
        PRIMARY KEY(album_id, file_id)
    );
    CREATE INDEX album_photos_file ON album_photos(file_id);
    CREATE TABLE marks(
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        stars INTEGER NOT NULL DEFAULT 0 CHECK(stars BETWEEN 0 AND 5),
        favourite INTEGER NOT NULL DEFAULT 0 CHECK(favourite IN (0, 1))
    );
    CREATE TABLE manual_tags(
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        label TEXT NOT NULL COLLATE NOCASE,
        added_at REAL NOT NULL,
        PRIMARY KEY(file_id, label)
    );
    CREATE INDEX manual_tags_label ON manual_tags(label);
    CREATE TABLE tag_overrides(
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        label TEXT NOT NULL COLLATE NOCASE,
        PRIMARY KEY(file_id, label)
    );
    """,
    # v8 duplicates (core.pixels, core.trash; SQL in core/store/duplicates.py): each decoded picture's
    # pixel fingerprint keyed by content hash (a 32x32 RGB thumbnail and a perceptual hash; `error`
    # when it could not be decoded; `version` of the fingerprint recipe), so checking again never
    # decodes again; and every photo moved to the desktop trash as a duplicate (where it was, its
    # bytes' hash, the photo kept instead, where in the trash it went when known, when).
    """
    CREATE TABLE pixel_prints(
        content_hash TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        thumb BLOB,
        phash TEXT,
        error TEXT,
        made_at REAL NOT NULL
    );
    CREATE TABLE trashed(
        id INTEGER PRIMARY KEY,
        relpath TEXT NOT NULL,
        content_hash TEXT,
        size INTEGER NOT NULL,
        kept_relpath TEXT,
        trash_path TEXT,
        trashed_at REAL NOT NULL
    );
    CREATE INDEX trashed_relpath ON trashed(relpath);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
# A new library's page size. A 512-d float32 vector row is about 2 KB: with SQLite's default 4 KB
# pages only one fits in a page (4.3 KB per photo at 1M photos); 64 KB pages hold 31 of them
# (2.3 KB per photo, measured by bench/scale.py). Existing files keep theirs (SQLite sets it once).
PAGE_SIZE = 65536


class Database:
    """One SQLite file (WAL). Safe to share between threads: each thread gets its own connection.

    `read_only` (a library on a read-only disk, or without write permission) opens it so that it can
    still be read; a write then fails with SQLite's "readonly" error."""

    def __init__(self, path: Path, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self._local = threading.local()

    @property
    def conn(self) -> sqlite3.Connection:
        c: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if c is None and self.read_only:
            c = _connect_read_only(self.path)
            self._local.conn = c
        if c is None:
            c = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            c.execute(f"PRAGMA page_size={PAGE_SIZE}")  # takes effect only while the file is empty
            _wal(c)
            c.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across a process crash
            c.execute("PRAGMA foreign_keys=ON")
            self._local.conn = c
        return c

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None

    def transaction(self) -> Transaction:
        return Transaction(self.conn)

    def snapshot(self) -> Snapshot:
        return Snapshot(self.conn)

    @property
    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self, migrations: Sequence[str] = MIGRATIONS,
                on_create: Callable[[], None] | None = None) -> int:
        """Bring the file to the newest schema; returns the version it had.

        Every step, and `on_create` when the file is new (the library records its owner there), run
        in ONE transaction: a library exists completely or not at all, and of two processes creating
        it at once only one runs the migrations (the other reads the version again once it holds the
        write lock, and finds nothing to do). ValueError when the file was written by a newer schema
        than this code knows."""
        c = self.conn
        version = self.version
        if version > len(migrations):
            raise ValueError(f"schema {version}, this one knows {len(migrations)}")
        if version == len(migrations):
            return version
        c.execute("BEGIN IMMEDIATE")
        try:
            version = self.version
            for i in range(version, len(migrations)):
                for stmt in statements(migrations[i]):
                    c.execute(stmt)
                c.execute(f"PRAGMA user_version={i + 1}")
            if version == 0 and on_create is not None:
                on_create()
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:  # SQLite may already have rolled back (a full disk does)
                c.execute("ROLLBACK")
            raise
        return version

    def quick_check(self, limit: int = 5) -> list[str]:
        """PRAGMA quick_check: ["ok"], or the first problems found (a damaged page in any table)."""
        try:
            return [r[0] for r in self.conn.execute(f"PRAGMA quick_check({int(limit)})")]
        except sqlite3.DatabaseError as e:
            return [str(e)]

    # -- meta: small settings and the generation counter -----------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (key, value))

    @property
    def generation(self) -> int:
        """Bumped by every write that changes which vectors exist; caches compare against it."""
        return int(self.get_meta("generation", "0") or 0)

    def bump(self) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )


class Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (including KeyboardInterrupt).

    Inside another transaction on the same connection it joins that one, so a store method that
    writes in a transaction of its own can also be one step of a caller's larger transaction."""

    BEGIN = "BEGIN IMMEDIATE"

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.joined = False

    def __enter__(self) -> sqlite3.Connection:
        self.joined = self.conn.in_transaction
        if not self.joined:
            self.conn.execute(self.BEGIN)
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.joined:
            return
        if exc_type is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:  # SQLite rolls back by itself on some errors (a full disk)
            self.conn.execute("ROLLBACK")


class Snapshot(Transaction):
    """BEGIN ... COMMIT around reads, so every query inside sees one state of the file while another
    process writes (a read transaction takes no lock a writer waits for, and works read-only).
    Inside another transaction on the same connection it joins that one."""

    BEGIN = "BEGIN"

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.joined and self.conn.in_transaction:
            self.conn.execute("COMMIT")  # nothing was written: this only ends the snapshot


def _wal(c: sqlite3.Connection, wait: float = 30.0) -> None:
    """PRAGMA journal_mode=WAL, retried: while another process creates the same file, SQLite answers
    "locked" at once instead of waiting out the busy timeout."""
    deadline = time.monotonic() + wait
    while True:
        try:
            c.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _connect_read_only(db_path: Path) -> sqlite3.Connection:
    """mode=ro reads a WAL library when its -shm can be used; on a read-only disk without one, the
    file is opened as immutable (nothing can change it while it cannot be written)."""
    from urllib.parse import quote

    uri = "file:" + quote(os.fsencode(db_path))
    try:
        c = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=30, isolation_level=None)
        c.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return c
    except sqlite3.OperationalError:
        return sqlite3.connect(uri + "?immutable=1", uri=True, isolation_level=None)


def statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def chunks(items: Sequence[Any], n: int = 900) -> Iterator[Sequence[Any]]:
    """Slices of at most n items: SQLite allows a limited number of ? in one statement."""
    for i in range(0, len(items), n):
        yield items[i:i + n]


def placeholders(n: int) -> str:
    return ",".join("?" * n)
