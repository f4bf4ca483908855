"""Zero-shot tagging: score every photo against a label set, store its tags, read tags back.

Label sets live in core.label_sets, their prompts in core.text_vectors, taught (few-shot) tags in
core.probes; their public names are re-exported here, so `from .tagging import X` keeps working.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .embed import Embedder
from .errors import QueryError
from .label_sets import (  # noqa: F401 (re-exported: the tagging API in one import)
    DEFAULT_STRATEGY,
    DEFAULT_TEMPLATES,
    MAX_LABEL_CHARS,
    STRATEGIES,
    TAUGHT,
    LabelSet,
    PhotoTags,
    Tag,
    _clean_text,
    _model_id,
    _stored_label_sets,
    builtin_label_sets,
    labels_dir,
    load_label_set,
    parse_label_set,
    read_label_set_file,
)
from .library import Library
from .organize import MANUAL
from .probes import (  # noqa: F401
    BACKGROUND_MIN,
    BACKGROUND_PER_POSITIVE,
    PROBE_C,
    REFINE_ROUNDS,
    Probe,
    TeachReport,
    apply_probe,
    delete_probe,
    list_probes,
    teach,
)
from .progress import Progress, ProgressFn
from .relevance import adaptive_threshold, background_sample
from .store.tags import AppliedLabelSet
from .text_vectors import (  # noqa: F401
    TEXT_BATCH,
    EmbedderSource,
    encode_texts_cached,
    fill,
    label_embeddings,
    label_prompts,
    resolve_embedder,
)

SCORE_CHUNK = 8192  # photos scored per step: bounds memory and lets cancel act quickly
# For models that cannot read a generic prompt (a small model trained on one domain), a label
# must also be one of the label's matches in the library (where a search for it would end, see
# core.relevance), or fit the photo at least this share as well as it fits its best photo.
FIT = 0.9
MATCHES = 2000  # a label's best photos looked at for where its matches end (as a search shows them)


def softmax_scores(vectors: np.ndarray, text_vectors: np.ndarray, logit_scale: float) -> np.ndarray:
    """[n, labels] probabilities: softmax over the set of the scaled cosine similarities."""
    logits = logit_scale * (vectors @ text_vectors.T)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


# -- tagging -----------------------------------------------------------------------------------------



@dataclass
class TagReport:
    label_set: str
    model: str
    strategy: str
    threshold: float
    photos: list[PhotoTags]
    counts: dict[str, int]  # label -> photos that carry it
    seconds: float = 0.0
    cancelled: bool = False  # nothing was written

    def to_json(self) -> list[dict[str, Any]]:
        return [p.to_json() for p in self.photos]


def tag_library(
    library: Library,
    embedder: Embedder,
    label_set: LabelSet,
    threshold: float | None = None,
    strategy: str = DEFAULT_STRATEGY,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> TagReport:
    """Tag every indexed photo with its best label and every label scoring >= threshold.

    Replaces the tags this label set had for this model; a cancelled run writes nothing.
    """
    t0 = time.perf_counter()
    threshold = label_set.default_threshold() if threshold is None else float(threshold)
    if not 0 <= threshold <= 1:
        raise QueryError(f"threshold must be between 0 and 1 (got {threshold})")
    model_id = _model_id(library, embedder.spec)
    ids, mat = library.vectors(model_id)
    notify = progress or (lambda p: None)
    text = label_embeddings(label_set, embedder, strategy, library, notify)
    open_set = bool(label_set.none)
    if open_set:
        none = _unit(encode_texts_cached(library, embedder.spec, list(label_set.none), embedder, notify).mean(0))
        floor = _fit_floor(mat, text)
    rows: list[tuple[int, str, float]] = []
    per_file: list[tuple[int, tuple[Tag, ...]]] = []
    for start in range(0, len(ids), SCORE_CHUNK):
        if cancel is not None and cancel.is_set():
            return TagReport(label_set.name, embedder.spec, strategy, threshold, [], {}, time.perf_counter() - t0, True)
        chunk = mat[start:start + SCORE_CHUNK]
        if open_set:
            cos = chunk @ text.T
            fits = (cos > (chunk @ none)[:, None]) & (cos >= floor[None, :])
        else:
            fits = np.ones((len(chunk), len(text)), bool)
        probs = softmax_scores(chunk, text, embedder.logit_scale)
        for fid, p, ok in zip(ids[start:start + SCORE_CHUNK].tolist(), probs, fits):
            tags = _pick(label_set.labels, p, threshold, ok)
            per_file.append((fid, tags))
            rows += [(fid, t.label, t.score) for t in tags]
        notify(Progress("tagging", min(start + SCORE_CHUNK, len(ids)), len(ids)))
    library.tags.replace_label_set(
        model_id, AppliedLabelSet(label_set.name, label_set.to_json(), strategy, threshold, time.time()), rows)
    paths = {f.id: f.path for f in library.files([fid for fid, _ in per_file])}
    photos = [PhotoTags(fid, paths[fid], tags) for fid, tags in per_file if fid in paths]
    photos.sort(key=lambda p: str(p.path))
    counts = {lab: 0 for lab in label_set.labels}
    for _, lab, _ in rows:
        counts[lab] += 1
    return TagReport(label_set.name, embedder.spec, strategy, threshold, photos, counts, time.perf_counter() - t0)


def _pick(labels: Sequence[str], probs: np.ndarray, threshold: float,
          fits: np.ndarray | None = None) -> tuple[Tag, ...]:
    """The best label and every label at or above threshold, among those that fit at all."""
    order = np.argsort(-probs, kind="stable")
    best = int(order[0])
    return tuple(Tag(labels[i], float(probs[i])) for i in order.tolist()
                 if (i == best or probs[i] >= threshold) and (fits is None or fits[i]))


def _fit_floor(mat: np.ndarray, text: np.ndarray) -> np.ndarray:
    """Per label, the cosine a photo needs for the label to fit it: the lower of where a search for
    the label would end in this library and FIT times the cosine of its best photo (0 at least)."""
    cos = np.concatenate([mat[start:start + SCORE_CHUNK] @ text.T for start in range(0, len(mat), SCORE_CHUNK)]) \
        if len(mat) else np.zeros((0, len(text)), np.float32)
    floors = np.zeros(len(text), np.float32)
    for j in range(len(text)):
        col = cos[:, j]
        if len(col) == 0:
            continue
        best = max(float(col.max()), 0.0)
        top = col if len(col) <= MATCHES else np.partition(col, len(col) - MATCHES)[-MATCHES:]
        floors[j] = min(adaptive_threshold(top, col[background_sample(len(col))]), FIT * best)
    return floors


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)



def retag(library: Library, embedder: Embedder, progress: ProgressFn | None = None,
          cancel: threading.Event | None = None) -> dict[str, int]:
    """Re-apply every label set and taught tag this model has (after new photos were indexed).

    Returns label set -> photos tagged (for taught tags: tag -> photos).
    """
    out: dict[str, int] = {}
    for applied in library.tags.label_sets(_model_id(library, embedder.spec)):
        ls = parse_label_set(applied.definition, "library")
        report = tag_library(library, embedder, ls, applied.threshold, applied.strategy, progress, cancel)
        if report.cancelled:
            return out
        out[ls.name] = len(report.photos)
    for probe in list_probes(library, embedder.spec):
        out[f"{TAUGHT}:{probe.name}"] = len(apply_probe(library, embedder.spec, probe.name).photos)
    return out


# -- reading tags back -------------------------------------------------------------------------------



def known_labels(library: Library, model_spec: str) -> dict[str, tuple[str, ...]]:
    """label set -> its labels, for every label set applied with this model (taught tags under TAUGHT)."""
    out = {name: ls.labels for name, ls in sorted(_stored_label_sets(library, model_spec).items())}
    taught = tuple(p.name for p in list_probes(library, model_spec))
    if taught:
        out[TAUGHT] = taught
    manual = tuple(library.marks.manual_labels())
    if manual:
        out[MANUAL] = manual
    return out


def files_with_tag(library: Library, model_spec: str, label: str, label_set: str | None = None) -> set[int]:
    """Ids of the photos that carry `label` (case-insensitive); QueryError naming the known tags if unknown."""
    return {fid for fid, _, _ in photos_with_tag(library, model_spec, label, label_set)}


def photos_with_tag(library: Library, model_spec: str, label: str,
                    label_set: str | None = None) -> list[tuple[int, str, float]]:
    """(file id, label as stored, score) of the photos that carry `label`, best first."""
    known = known_labels(library, model_spec)
    if label_set is not None and label_set not in known:
        raise QueryError(f"unknown label set '{label_set}'"
                         + (f"; known: {', '.join(known)}" if known else _no_tags_hint(library)))
    wanted = _clean_text(label).casefold()
    matches = [(s, lab) for s, labels in known.items() if label_set in (None, s)
               for lab in labels if lab.casefold() == wanted]
    if not matches:
        raise QueryError(f"unknown tag '{label}'" + (f"; known tags: {_describe(known)}" if known
                                                     else _no_tags_hint(library)))
    mid = library.model_id(model_spec)
    out: list[tuple[int, str, float]] = []
    for s, lab in matches:
        if s == MANUAL:  # hand-made: certain, so first
            out = [(fid, lab, 1.0) for fid in library.marks.manual_tagged(lab)] + out
        elif mid is not None:
            out += library.tags.tagged(mid, s, lab)
    first: dict[int, tuple[int, str, float]] = {}
    for r in out:  # a photo tagged by hand and zero-shot counts once
        first.setdefault(r[0], r)
    return list(first.values())


def _no_tags_hint(library: Library) -> str:
    return f"; no photos are tagged yet: run `clipgallery tag {library.root}` or `clipgallery teach` first"


def _describe(known: Mapping[str, Sequence[str]], limit: int = 40) -> str:
    parts, shown = [], 0
    for s, labels in known.items():
        take = list(labels[:max(0, limit - shown)])
        shown += len(take)
        more = f" and {len(labels) - len(take)} more" if len(take) < len(labels) else ""
        if take or more:
            parts.append(f"{', '.join(take)}{more} ({s})")
    return "; ".join(parts)


@dataclass(frozen=True)
class LabelSetSummary:
    """What the GUI lists: a label set applied in this library, with its photos per label."""

    name: str
    kind: str  # "zero-shot" | "taught"
    counts: dict[str, int]  # label -> photos, every label of the set (zero included), in set order
    strategy: str | None = None
    threshold: float | None = None
    tagged_at: float | None = None


def label_set_summaries(library: Library, model_spec: str) -> list[LabelSetSummary]:
    """Every label set applied with this model (taught tags last), with label counts."""
    mid = library.model_id(model_spec)
    if mid is None:
        return []
    counts = library.tags.label_counts(mid)
    stored = _stored_label_sets(library, model_spec)
    out = []
    for a in library.tags.label_sets(mid):
        labels = stored[a.name].labels
        out.append(LabelSetSummary(a.name, "zero-shot", {lab: counts.get((a.name, lab), 0) for lab in labels},
                                   a.strategy, a.threshold, a.tagged_at))
    probes = list_probes(library, model_spec)
    if probes:
        out.append(LabelSetSummary(TAUGHT, "taught", {p.name: counts.get((TAUGHT, p.name), 0) for p in probes},
                                   None, None, max(p.created_at for p in probes)))
    manual = library.marks.manual_labels()
    if manual:
        out.append(LabelSetSummary(MANUAL, "hand-made", manual))
    return out


def label_counts(library: Library, model_spec: str) -> dict[str, dict[str, int]]:
    """label set -> label -> number of photos, for every label set applied with this model."""
    return {s.name: s.counts for s in label_set_summaries(library, model_spec)}


def tags_of(library: Library, model_spec: str, file_ids: Iterable[int]) -> dict[int, list[tuple[str, Tag]]]:
    """file id -> [(label set, tag)], best first within each set (for a photo's info panel)."""
    mid = library.model_id(model_spec)
    out: dict[int, list[tuple[str, Tag]]] = {}
    if mid is None:
        return out
    ids = list(file_ids)
    for fid, labels in library.marks.manual_tags_of(ids).items():
        out[fid] = [(MANUAL, Tag(lab, 1.0)) for lab in labels]
    for fid, s, lab, score in library.tags.tags_of(mid, ids):
        out.setdefault(fid, []).append((s, Tag(lab, score)))
    return out


def forget_label_set(library: Library, model_spec: str, name: str) -> None:
    """Remove a label set (or, with name TAUGHT, every taught tag) and its tags for this model."""
    if name == MANUAL:  # every hand-made tag (the GUI confirms first)
        for label in library.marks.manual_labels():
            library.marks.delete_tag(label)
        return
    mid = library.model_id(model_spec)
    if mid is None:
        return
    library.tags.forget_label_set(mid, name, with_probes=name == TAUGHT)


