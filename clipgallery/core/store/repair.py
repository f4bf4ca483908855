"""Rebuild a damaged library from what SQLite can still read; `index` then encodes the rest again.

Each table is copied into a fresh file with the current schema, row by row around damaged pages.
The damaged file is kept beside it (renamed, never deleted), so nothing is lost by repairing.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LibraryError
from ..lock import WriterLock
from .schema import MIGRATIONS, SCHEMA_VERSION, statements

DB_NAME = "library.sqlite"  # core.library.DB_NAME (imported from there, it would be a cycle)
# Parents before children, so that foreign keys can be checked once at the end. The text search
# index (text_fts) is not copied: it is rebuilt from text_lines, whose ids it is keyed by.
_TABLES = ["meta", "models", "files", "vectors", "regions", "tags", "label_sets", "probes", "cluster_runs",
           "clusters", "cluster_groups", "text_vectors", "text_lines", "text_read", "clips", "clip_frames",
           "raw_pairs"]
_CHUNK = 256


@dataclass
class RepairReport:
    library: Path
    damaged_copy: Path | None = None  # where the damaged file was kept
    kept: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    lost: dict[str, int] = field(default_factory=dict)  # table -> rows (or row ids) that could not be read
    was_damaged: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"library": str(self.library), "damaged_copy": str(self.damaged_copy) if self.damaged_copy else None,
                "was_damaged": self.was_damaged, "kept": self.kept, "lost": self.lost}


def repair_library(library_dir: Path, force: bool = False) -> RepairReport:
    """Rebuild library_dir's database if quick_check finds damage (always, with `force`)."""
    library_dir = Path(library_dir)
    db = library_dir / DB_NAME
    if not db.exists():
        raise LibraryError(f"there is no library at {library_dir} to repair")
    with WriterLock(library_dir).acquire():
        report = RepairReport(db)
        old = sqlite3.connect(f"file:{_quote(db)}?mode=ro", uri=True, isolation_level=None)
        try:
            report.was_damaged = _damaged(old)
            if not report.was_damaged and not force:
                return report
            new_path = library_dir / f"{DB_NAME}.repairing"
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{new_path}{suffix}")
            new = sqlite3.connect(new_path, isolation_level=None)
            try:
                new.execute("PRAGMA journal_mode=DELETE")
                new.execute("BEGIN")
                for script in MIGRATIONS:
                    for stmt in statements(script):
                        new.execute(stmt)
                for table in _tables(new):
                    _copy_table(old, new, table, report)
                _drop_orphans(new)
                new.execute("INSERT INTO text_fts(rowid, text) SELECT id, text FROM text_lines")
                # Every vector set changed: caches built from the old file must be rebuilt.
                new.execute("INSERT INTO meta(key, value) VALUES('generation', '1') ON CONFLICT(key) "
                            "DO UPDATE SET value = CAST(value AS INTEGER) + 1000003")
                new.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                new.execute("COMMIT")
            finally:
                new.close()
        finally:
            old.close()
        damaged = library_dir / f"{DB_NAME}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
        os.replace(db, damaged)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(f"{db}{suffix}"):
                os.replace(f"{db}{suffix}", f"{damaged}{suffix}")
        os.replace(new_path, db)
        report.damaged_copy = damaged
        return report


def _tables(new: sqlite3.Connection) -> list[str]:
    """_TABLES, then any other table a later migration made (features merged after this list was
    written), in the order they were created; never SQLite's own tables, a virtual table (an FTS
    index is rebuilt from its source) or its shadow tables."""
    rows = new.execute("SELECT name, sql FROM sqlite_master WHERE type='table' ORDER BY rowid").fetchall()
    virtual = tuple(f"{n}_" for n, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL TABLE"))
    names = [n for n, sql in rows if not n.startswith("sqlite_") and f"{n}_" not in virtual
             and not (virtual and n.startswith(virtual))]
    return [t for t in _TABLES if t in names] + [t for t in names if t not in _TABLES]


def _damaged(conn: sqlite3.Connection) -> bool:
    try:
        return [r[0] for r in conn.execute("PRAGMA quick_check(1)")] != ["ok"]
    except sqlite3.DatabaseError:
        return True


def _copy_table(old: sqlite3.Connection, new: sqlite3.Connection, table: str, report: RepairReport) -> None:
    cols = [r[1] for r in new.execute(f"PRAGMA table_info({table})")]
    try:
        have = {r[1] for r in old.execute(f"PRAGMA table_info({table})")}
    except sqlite3.DatabaseError:
        have = set()
    if not have:  # the table (or the schema page naming it) is gone
        report.lost[table] = report.lost.get(table, 0) + 1
        return
    select = ", ".join(c if c in have else "NULL" for c in cols)
    insert = f"INSERT OR IGNORE INTO {table}({', '.join(cols)}) VALUES({', '.join('?' * len(cols))})"
    kept = lost = 0
    try:
        hi = old.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        hi = None
    last, dry = 0, 0
    while hi is None or last < hi:
        try:
            rows = old.execute(f"SELECT rowid, {select} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                               (last, _CHUNK)).fetchall()
        except sqlite3.DatabaseError:
            # A damaged page in this range: look each row id up on its own and keep what answers.
            for rid in range(last + 1, last + _CHUNK + 1):
                try:
                    row = old.execute(f"SELECT {select} FROM {table} WHERE rowid = ?", (rid,)).fetchone()
                except sqlite3.DatabaseError:
                    lost += 1
                    continue
                if row is not None:
                    new.execute(insert, row)
                    kept += 1
            last += _CHUNK
            dry = dry + 1 if hi is None else 0
            if dry > 64:  # no end in sight and nothing readable for 16k ids: the rest is gone
                break
            continue
        if not rows:
            break
        new.executemany(insert, [r[1:] for r in rows])
        kept += len(rows)
        last = rows[-1][0]
    report.kept[table] = kept
    if lost:
        report.lost[table] = lost


def _drop_orphans(new: sqlite3.Connection) -> None:
    """Rows whose parent was on a damaged page would break foreign keys: drop them (index redoes them)."""
    for table, col, parent in [("vectors", "file_id", "files"), ("vectors", "model_id", "models"),
                               ("regions", "file_id", "files"), ("regions", "model_id", "models"),
                               ("tags", "file_id", "files"), ("clusters", "file_id", "files"),
                               ("clusters", "run_id", "cluster_runs"), ("cluster_groups", "run_id", "cluster_runs"),
                               ("label_sets", "model_id", "models"), ("probes", "model_id", "models"),
                               ("cluster_runs", "model_id", "models"), ("text_vectors", "model_id", "models"),
                               ("text_lines", "file_id", "files"), ("text_read", "file_id", "files"),
                               ("clips", "file_id", "files"), ("clip_frames", "file_id", "files"),
                               ("clip_frames", "model_id", "models")]:
        new.execute(f"DELETE FROM {table} WHERE {col} NOT IN (SELECT id FROM {parent})")


def _quote(path: Path) -> str:
    from urllib.parse import quote

    return quote(os.fsencode(path))
