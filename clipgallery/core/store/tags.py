"""SQL of tags, label sets as applied, taught probes and encoded prompts (text vectors)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .schema import Database, chunks, placeholders


@dataclass(frozen=True)
class AppliedLabelSet:
    """A label set as it was applied with one model: re-appliable without its file."""

    name: str
    definition: dict[str, Any]  # the label set's JSON document
    strategy: str
    threshold: float
    tagged_at: float


@dataclass(frozen=True)
class ProbeRow:
    """A taught probe as stored (core.tagging turns it into a Probe)."""

    name: str
    coef: np.ndarray
    intercept: float
    threshold: float
    positives: int
    negatives: int
    background: bool
    examples: tuple[str, ...]
    created_at: float


class TagStore:
    """Tags per (file, model, label set, label) with a score; taught tags live under one label set."""

    def __init__(self, db: Database):
        self.db = db

    # -- encoded prompts -------------------------------------------------------------------------

    def text_vectors(self, model_id: int, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """text -> its stored unit vector, for the texts encoded before with this model."""
        out: dict[str, np.ndarray] = {}
        for chunk in chunks(list(texts)):
            q = f"SELECT text, vec FROM text_vectors WHERE model_id=? AND text IN ({placeholders(len(chunk))})"
            out.update((t, np.frombuffer(v, dtype="<f4")) for t, v in self.db.conn.execute(q, (model_id, *chunk)))
        return out

    def save_text_vectors(self, model_id: int, texts: Sequence[str], vectors: Iterable[np.ndarray]) -> None:
        with self.db.transaction() as c:
            c.executemany("INSERT OR REPLACE INTO text_vectors(model_id, text, vec) VALUES(?,?,?)",
                          [(model_id, t, np.asarray(v).astype("<f4").tobytes()) for t, v in zip(texts, vectors)])

    # -- zero-shot label sets --------------------------------------------------------------------

    def replace_label_set(self, model_id: int, applied: AppliedLabelSet,
                          tags: Iterable[tuple[int, str, float]]) -> None:
        """Store a label set as applied and its tags (file id, label, score), replacing the old ones."""
        with self.db.transaction() as c:
            c.execute("DELETE FROM tags WHERE model_id=? AND label_set=?", (model_id, applied.name))
            c.executemany("INSERT INTO tags(file_id, model_id, label_set, label, score) VALUES(?,?,?,?,?)",
                          [(fid, model_id, applied.name, lab, score) for fid, lab, score in tags])
            c.execute("INSERT OR REPLACE INTO label_sets(model_id, name, definition, strategy, threshold, tagged_at) "
                      "VALUES(?,?,?,?,?,?)", (model_id, applied.name, json.dumps(applied.definition),
                                              applied.strategy, applied.threshold, applied.tagged_at))

    def label_sets(self, model_id: int) -> list[AppliedLabelSet]:
        """Every label set applied with this model, by name."""
        rows = self.db.conn.execute("SELECT name, definition, strategy, threshold, tagged_at FROM label_sets "
                                    "WHERE model_id=? ORDER BY name", (model_id,)).fetchall()
        return [AppliedLabelSet(r[0], json.loads(r[1]), r[2], r[3], r[4]) for r in rows]

    def forget_label_set(self, model_id: int, name: str, with_probes: bool = False) -> None:
        """Remove a label set and its tags (with_probes: the taught probes too)."""
        with self.db.transaction() as c:
            c.execute("DELETE FROM tags WHERE model_id=? AND label_set=?", (model_id, name))
            c.execute("DELETE FROM label_sets WHERE model_id=? AND name=?", (model_id, name))
            if with_probes:
                c.execute("DELETE FROM probes WHERE model_id=?", (model_id,))

    # -- reading tags ----------------------------------------------------------------------------

    def tagged(self, model_id: int, label_set: str, label: str) -> list[tuple[int, str, float]]:
        """(file id, label, score) of the photos carrying a label, best first."""
        return self.db.conn.execute("SELECT file_id, label, score FROM tags WHERE model_id=? AND label_set=? "
                                    "AND label=? ORDER BY score DESC, file_id", (model_id, label_set, label)).fetchall()

    def label_counts(self, model_id: int) -> dict[tuple[str, str], int]:
        """(label set, label) -> number of photos carrying it."""
        return {(s, lab): n for s, lab, n in self.db.conn.execute(
            "SELECT label_set, label, COUNT(*) FROM tags WHERE model_id=? GROUP BY label_set, label", (model_id,))}

    def tags_of(self, model_id: int, file_ids: Sequence[int]) -> list[tuple[int, str, str, float]]:
        """(file id, label set, label, score) of some photos, by label set then best first."""
        out: list[tuple[int, str, str, float]] = []
        for chunk in chunks([int(i) for i in file_ids]):
            q = (f"SELECT file_id, label_set, label, score FROM tags WHERE model_id=? AND file_id IN "
                 f"({placeholders(len(chunk))}) ORDER BY label_set, score DESC")
            out += self.db.conn.execute(q, (model_id, *chunk)).fetchall()
        return out

    def labels_of_set(self, model_id: int, label_set: str) -> list[tuple[int, str]]:
        """(file id, label) of every tag in one label set."""
        return self.db.conn.execute("SELECT file_id, label FROM tags WHERE model_id=? AND label_set=? "
                                    "ORDER BY file_id, label", (model_id, label_set)).fetchall()

    # -- taught probes ---------------------------------------------------------------------------

    def save_probe(self, model_id: int, p: ProbeRow) -> None:
        with self.db.transaction() as c:
            c.execute("INSERT OR REPLACE INTO probes(model_id, name, coef, intercept, threshold, positives, "
                      "negatives, background, examples, created_at) VALUES(?,?,?,?,?,?,?,?,?,?)",
                      (model_id, p.name, np.asarray(p.coef).astype("<f4").tobytes(), p.intercept, p.threshold,
                       p.positives, p.negatives, int(p.background), json.dumps(list(p.examples)), p.created_at))

    def probes(self, model_id: int) -> list[ProbeRow]:
        rows = self.db.conn.execute(
            "SELECT name, coef, intercept, threshold, positives, negatives, background, examples, created_at "
            "FROM probes WHERE model_id=? ORDER BY name", (model_id,)).fetchall()
        return [ProbeRow(r[0], np.frombuffer(r[1], dtype="<f4").astype(np.float32), r[2], r[3], r[4], r[5],
                         bool(r[6]), tuple(json.loads(r[7])), r[8]) for r in rows]

    def replace_label_tags(self, model_id: int, label_set: str, label: str,
                           tags: Iterable[tuple[int, float]]) -> None:
        """The photos (file id, score) carrying one label of a set, replacing those it had."""
        with self.db.transaction() as c:
            c.execute("DELETE FROM tags WHERE model_id=? AND label_set=? AND label=?", (model_id, label_set, label))
            c.executemany("INSERT INTO tags(file_id, model_id, label_set, label, score) VALUES(?,?,?,?,?)",
                          [(fid, model_id, label_set, label, score) for fid, score in tags])

    def delete_probe(self, model_id: int, name: str, label_set: str) -> None:
        """A taught probe and the tags it gave (stored under `label_set`)."""
        with self.db.transaction() as c:
            c.execute("DELETE FROM probes WHERE model_id=? AND name=?", (model_id, name))
            c.execute("DELETE FROM tags WHERE model_id=? AND label_set=? AND label=?", (model_id, label_set, name))
