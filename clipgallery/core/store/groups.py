"""SQL of groupings: runs (`cluster_runs`), each photo's group (`clusters`), each group's name and cover."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .schema import Database


@dataclass(frozen=True)
class GroupRun:
    id: int
    created_at: float
    params: dict[str, Any]


class GroupStore:
    """Stored groupings per model; the newest `keep` runs of a model are kept."""

    def __init__(self, db: Database):
        self.db = db

    def save_run(self, model_id: int, created_at: float, params: dict[str, Any],
                 members: Iterable[tuple[int, int, float]], groups: Iterable[tuple[int, str, int | None, int]],
                 keep: int) -> int:
        """One run: members (file id, group, similarity to its centre), groups (group, name, cover
        file id, size). Older runs beyond `keep` are pruned in the same transaction."""
        with self.db.transaction() as c:
            run_id = c.execute("INSERT INTO cluster_runs(model_id, created_at, params) VALUES(?,?,?)",
                               (model_id, created_at, json.dumps(params))).lastrowid
            c.executemany("INSERT INTO clusters(run_id, file_id, cluster, score) VALUES(?,?,?,?)",
                          [(run_id, f, g, s) for f, g, s in members])
            c.executemany("INSERT INTO cluster_groups(run_id, cluster, name, cover_file_id, size) VALUES(?,?,?,?,?)",
                          [(run_id, g, name, cover, size) for g, name, cover, size in groups])
            c.execute("DELETE FROM cluster_runs WHERE model_id=? AND id NOT IN (SELECT id FROM cluster_runs "
                      "WHERE model_id=? ORDER BY id DESC LIMIT ?)", (model_id, model_id, keep))
        assert run_id is not None
        return int(run_id)

    def run(self, model_id: int, run_id: int | None = None) -> GroupRun | None:
        """A run of this model (default: the latest)."""
        row = self.db.conn.execute(
            "SELECT id, created_at, params FROM cluster_runs WHERE model_id=? AND (? IS NULL OR id=?) "
            "ORDER BY id DESC LIMIT 1", (model_id, run_id, run_id)).fetchone()
        return None if row is None else GroupRun(row[0], row[1], json.loads(row[2]))

    def runs(self, model_id: int) -> list[GroupRun]:
        """Every stored run of a model, newest first."""
        return [GroupRun(r[0], r[1], json.loads(r[2])) for r in self.db.conn.execute(
            "SELECT id, created_at, params FROM cluster_runs WHERE model_id=? ORDER BY id DESC", (model_id,))]

    def members(self, run_id: int) -> list[tuple[int, int, float | None]]:
        """(file id, group, similarity) of the run's photos still readable, by group then best first."""
        return self.db.conn.execute(
            "SELECT c.file_id, c.cluster, c.score FROM clusters c JOIN files f ON f.id = c.file_id "
            "WHERE c.run_id=? AND f.status='ok' ORDER BY c.cluster, c.score DESC, c.file_id", (run_id,)).fetchall()

    def groups(self, run_id: int) -> list[tuple[int, str, int | None]]:
        """(group, name, cover file id) of the run's groups."""
        return self.db.conn.execute(
            "SELECT cluster, name, cover_file_id FROM cluster_groups WHERE run_id=? ORDER BY cluster",
            (run_id,)).fetchall()

    def member_count(self, run_id: int) -> int:
        return int(self.db.conn.execute("SELECT COUNT(*) FROM clusters WHERE run_id=?", (run_id,)).fetchone()[0])
