"""Few-shot ("taught") tags: a logistic-regression probe on example photos' vectors, stored and
applied like a label set (under the label set TAUGHT, one label per probe)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .embed import Embedder
from .errors import ImageError, QueryError
from .label_sets import MAX_LABEL_CHARS, TAUGHT, PhotoTags, Tag, _clean_text, _model_id
from .library import Library
from .store.tags import ProbeRow
from .text_vectors import EmbedderSource, resolve_embedder

# -- few-shot tags -----------------------------------------------------------------------------------

BACKGROUND_MIN = 100  # random library photos used as negatives when none are given
BACKGROUND_PER_POSITIVE = 20
# Inverse regularisation per training photo (features scaled to unit-variance coordinates).
# Strong: from a handful of examples the probe should keep what they share (the subject) and
# not memorise what merely varies among them (colour, background).
PROBE_C = 1.0
REFINE_ROUNDS = 3  # at most, of dropping background photos that look like positives


@dataclass(frozen=True)
class Probe:
    """A linear probe on image vectors: score = sigmoid(vec . coef + intercept)."""

    name: str
    coef: np.ndarray
    intercept: float
    threshold: float
    positives: int
    negatives: int
    background: bool  # negatives were random library photos
    examples: tuple[str, ...] = ()
    created_at: float = 0.0

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        return _sigmoid(vectors @ self.coef + self.intercept)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


@dataclass
class TeachReport:
    probe: Probe
    photos: list[PhotoTags]  # every photo that now carries the tag, best first

    def to_json(self) -> dict[str, Any]:
        return {"label": self.probe.name, "label_set": TAUGHT, "positives": self.probe.positives,
                "negatives": self.probe.negatives, "background_negatives": self.probe.background,
                "threshold": self.probe.threshold,
                "matches": [{"path": str(p.path), "score": round(p.tags[0].score, 4)} for p in self.photos]}


def teach(
    library: Library,
    model_spec: str,
    name: str,
    positives: Sequence[Path],
    negatives: Sequence[Path] = (),
    embedder: EmbedderSource | None = None,
    threshold: float = 0.5,
    seed: int = 0,
) -> TeachReport:
    """Train a logistic-regression probe from example photos, store it, and tag the library with it.

    Examples are indexed photos of this folder or any image file; the latter are encoded with
    `embedder` (an Embedder, or a function that loads one, called only when needed). With no
    negatives, random library photos other than the positives stand in as background.
    """
    name = _clean_text(name or "")
    if not name or len(name) > MAX_LABEL_CHARS:
        raise QueryError(f"a taught tag needs a name of 1 to {MAX_LABEL_CHARS} characters")
    if not positives:
        raise QueryError("give at least one example photo of the tag")
    if not 0 < threshold < 1:
        raise QueryError(f"threshold must be between 0 and 1 (got {threshold})")
    model_id = _model_id(library, model_spec)
    ids, mat = library.vectors(model_id)
    pos, pos_ids = _example_vectors(library, model_id, positives, embedder)
    neg, neg_ids = _example_vectors(library, model_id, negatives, embedder)
    both = {i for i in pos_ids if i is not None} & {i for i in neg_ids if i is not None}
    if both:
        shown = ", ".join(f.relpath for f in library.files(sorted(both)))
        raise QueryError(f"these photos are given both as examples and as negatives: {shown}")
    background = len(neg) == 0
    if background:
        neg = _background(ids, mat, {i for i in pos_ids if i is not None}, len(pos), seed)
        if len(neg) == 0:
            raise QueryError("no other photos in the library to contrast the examples with: give --negatives")
    coef, intercept = _fit(pos, neg, seed)
    for _ in range(REFINE_ROUNDS if background else 0):
        # Random photos include unlabelled positives (the rest of what is being taught). Those
        # the probe already calls positive are dropped from the negatives, and it is refitted.
        keep = _sigmoid(neg @ coef + intercept) < threshold
        if keep.all() or not keep.any():
            break
        neg = neg[keep]
        coef, intercept = _fit(pos, neg, seed)
    probe = Probe(name, coef, intercept, threshold, len(pos), len(neg), background,
                  tuple(str(Path(p).expanduser().resolve()) for p in positives), time.time())
    library.tags.save_probe(model_id, ProbeRow(name, coef, intercept, threshold, probe.positives, probe.negatives,
                                               background, probe.examples, probe.created_at))
    return apply_probe(library, model_spec, name)


def _example_vectors(library: Library, model_id: int, paths: Sequence[Path],
                     embedder: EmbedderSource | None) -> tuple[np.ndarray, list[int | None]]:
    """Vectors of example files: from the library when indexed, else encoded now."""
    from .images import decode

    ids, mat = library.vectors(model_id)
    row_of = {int(fid): i for i, fid in enumerate(ids.tolist())}
    vecs: list[np.ndarray] = []
    file_ids: list[int | None] = []
    loaded: Embedder | None = None
    for p in paths:
        p = Path(p).expanduser()
        if not p.is_file():
            raise QueryError(f"example photo not found: {p}")
        rel = library.relpath_of(p.resolve())
        fid = library.file_ids([rel]).get(rel) if rel else None
        if fid is not None and fid in row_of:
            vecs.append(mat[row_of[fid]])
            file_ids.append(fid)
            continue
        if embedder is None:
            raise QueryError(f"{p} is not an indexed photo of {library.root}, and no model was given to encode it")
        if loaded is None:
            loaded = resolve_embedder(embedder)
        assert loaded is not None
        try:
            image = decode(p, min_side=loaded.image_size).image
        except ImageError as e:  # name the example: there may be many
            raise ImageError(e.reason, p) from None
        vecs.append(loaded.encode_images([image])[0])
        file_ids.append(None)
    dim = mat.shape[1]
    return (np.stack(vecs) if vecs else np.zeros((0, dim), np.float32)), file_ids


def _background(ids: np.ndarray, mat: np.ndarray, exclude: set[int], n_pos: int, seed: int) -> np.ndarray:
    candidates = np.array([i for i, fid in enumerate(ids.tolist()) if fid not in exclude], dtype=np.int64)
    want = min(len(candidates), max(BACKGROUND_MIN, BACKGROUND_PER_POSITIVE * n_pos))
    rng = np.random.default_rng(seed)
    return mat[np.sort(rng.choice(candidates, size=want, replace=False))] if want else mat[:0]


def _fit(pos: np.ndarray, neg: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    dim = pos.shape[1]
    # Unit vectors have coordinates of size ~1/sqrt(dim); rescaling makes C mean the same for any model.
    scale = np.sqrt(dim)
    x = np.vstack([pos, neg]).astype(np.float64) * scale
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    clf = LogisticRegression(C=PROBE_C / len(x), class_weight="balanced", max_iter=2000, random_state=seed)
    clf.fit(x, y)
    return (clf.coef_[0] * scale).astype(np.float32), float(clf.intercept_[0])


def list_probes(library: Library, model_spec: str) -> list[Probe]:
    mid = library.model_id(model_spec)
    if mid is None:
        return []
    return [Probe(r.name, r.coef, r.intercept, r.threshold, r.positives, r.negatives, r.background, r.examples,
                  r.created_at) for r in library.tags.probes(mid)]


def apply_probe(library: Library, model_spec: str, name: str) -> TeachReport:
    """Score every indexed photo with a taught probe and store its tags (replacing the old ones)."""
    probe = next((p for p in list_probes(library, model_spec) if p.name == name), None)
    if probe is None:
        raise QueryError(f"no taught tag named '{name}'")
    model_id = _model_id(library, model_spec)
    ids, mat = library.vectors(model_id)
    scores = probe.scores(mat)
    keep = np.flatnonzero(scores >= probe.threshold)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    rows = [(int(ids[i]), float(scores[i])) for i in keep]
    library.tags.replace_label_tags(model_id, TAUGHT, name, rows)
    paths = {f.id: f.path for f in library.files([r[0] for r in rows])}
    photos = [PhotoTags(r[0], paths[r[0]], (Tag(name, r[1]),)) for r in rows if r[0] in paths]
    return TeachReport(probe, photos)


def delete_probe(library: Library, model_spec: str, name: str) -> None:
    mid = library.model_id(model_spec)
    if mid is None:
        return
    library.tags.delete_probe(mid, name, TAUGHT)

