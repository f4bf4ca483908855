"""Tags: zero-shot label sets (prompt-template ensembles, per-label descriptions) and few-shot tags.

Both kinds are stored in the library's `tags` table per label set and model; few-shot tags live
in the label set named TAUGHT, one label per taught probe.
"""

from __future__ import annotations

import json
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .embed import Embedder
from .errors import LibraryError, QueryError
from .indexer import Progress
from .library import Library

TAUGHT = "taught"  # the label set that holds the few-shot tags (one label per taught probe)
STRATEGIES = ("templates", "descriptions", "both")
DEFAULT_STRATEGY = "both"
# A small ensemble in the spirit of CLIP's ImageNet prompts; averaging in embedding space
# smooths out the quirks of any one phrasing.
DEFAULT_TEMPLATES = (
    "a photo of a {}.",
    "a picture of a {}.",
    "a photo of the {}.",
    "a close-up photo of a {}.",
    "a good photo of a {}.",
    "a {}.",
)
MAX_LABEL_CHARS = 200
SCORE_CHUNK = 8192  # photos scored per step: bounds memory and lets cancel act quickly
TEXT_BATCH = 64  # prompts encoded (and kept) per step
ProgressFn = Callable[[Progress], None]
EmbedderSource = Embedder | Callable[[], Embedder]  # a model, or a function that loads it when needed


# -- label sets --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelSet:
    """A named vocabulary to tag with; descriptions (per label, optional) are full sentences."""

    name: str
    labels: tuple[str, ...]
    descriptions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    threshold: float | None = None  # the set's own default threshold, if it names one
    origin: str = ""  # where it came from: a file path, "built-in" or "library"

    def to_json(self) -> dict[str, Any]:
        labels = {lab: list(self.descriptions.get(lab, ())) for lab in self.labels}
        data: dict[str, Any] = {"name": self.name, "labels": labels, "templates": list(self.templates)}
        if self.threshold is not None:
            data["threshold"] = self.threshold
        return data

    def default_threshold(self) -> float:
        """The set's own threshold, else twice what a uniform guess over the set would score."""
        return self.threshold if self.threshold is not None else min(0.5, 2.0 / len(self.labels))


def labels_dir() -> Path:
    from .models import resources_dir

    return resources_dir() / "labels"


def builtin_label_sets() -> dict[str, Path]:
    """name -> file of every label set shipped in resources/labels."""
    return {p.stem: p for p in sorted(labels_dir().glob("*.json"))}


def parse_label_set(data: Any, origin: str = "") -> LabelSet:
    """Validate a decoded label-set document; QueryError with a plain reason when it is not one."""
    where = f"label set {origin}" if origin else "label set"
    if not isinstance(data, dict):
        raise QueryError(f"{where}: expected a JSON object with \"name\" and \"labels\"")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise QueryError(f"{where}: missing \"name\" (a non-empty string)")
    name = _clean_text(name)
    if name.casefold() == TAUGHT:
        raise QueryError(f"{where}: the name \"{TAUGHT}\" is reserved for taught (few-shot) tags")
    raw = data.get("labels")
    if isinstance(raw, list):
        pairs = [(lab, []) for lab in raw]
    elif isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        raise QueryError(f"{where}: \"labels\" must be a list of labels or an object of label -> descriptions")
    labels, descriptions = _parse_labels(pairs, where)
    templates = _parse_templates(data.get("templates"), where)
    threshold = data.get("threshold")
    if threshold is not None and (not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1):
        raise QueryError(f"{where}: \"threshold\" must be a number between 0 and 1")
    return LabelSet(name, labels, descriptions, templates, None if threshold is None else float(threshold), origin)


def _parse_labels(pairs: list[tuple[Any, Any]], where: str) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    labels: list[str] = []
    descriptions: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    dupes: list[str] = []
    for lab, desc in pairs:
        if not isinstance(lab, str) or not _clean_text(lab):
            raise QueryError(f"{where}: every label must be a non-empty string (got {lab!r})")
        lab = _clean_text(lab)
        if len(lab) > MAX_LABEL_CHARS:
            raise QueryError(f"{where}: label \"{lab[:40]}...\" is longer than {MAX_LABEL_CHARS} characters")
        key = lab.casefold()
        if key in seen:
            dupes.append(lab)
            continue
        seen[key] = lab
        labels.append(lab)
        if isinstance(desc, str):
            desc = [desc]
        if not isinstance(desc, list) or not all(isinstance(d, str) and d.strip() for d in desc):
            raise QueryError(f"{where}: the descriptions of \"{lab}\" must be a list of non-empty strings")
        if desc:
            descriptions[lab] = tuple(_clean_text(d) for d in desc)
    if dupes:
        raise QueryError(f"{where}: duplicate labels: {', '.join(sorted(set(dupes)))}")
    if len(labels) < 2:
        raise QueryError(f"{where}: needs at least 2 labels to choose between (has {len(labels)})")
    return tuple(labels), descriptions


def _parse_templates(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_TEMPLATES
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise QueryError(f"{where}: \"templates\" must be a non-empty list of strings")
    for t in raw:
        if t.count("{}") != 1:
            raise QueryError(f"{where}: template {t!r} must contain the label placeholder {{}} exactly once")
    return tuple(raw)


def _clean_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return " ".join("".join(ch for ch in text if unicodedata.category(ch) != "Cc" or ch in "\t\n").split())


def read_label_set_file(path: Path) -> LabelSet:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QueryError(f"label set file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise QueryError(f"cannot read label set file {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise QueryError(f"label set file {path} is not valid JSON (line {e.lineno}, column {e.colno}: "
                         f"{e.msg})") from None
    return parse_label_set(data, str(path))


def load_label_set(spec: str | Path, library: Library | None = None, model_spec: str | None = None) -> LabelSet:
    """A label set by file path, built-in name, or the name of one already applied in this library."""
    text = str(spec).strip()
    path = Path(text).expanduser()
    if path.is_file():
        return read_label_set_file(path)
    builtin = builtin_label_sets()
    if text in builtin:
        ls = read_label_set_file(builtin[text])
        return LabelSet(ls.name, ls.labels, ls.descriptions, ls.templates, ls.threshold, "built-in")
    if library is not None and model_spec is not None:
        stored = _stored_label_sets(library, model_spec)
        if text in stored:
            return stored[text]
    if text.endswith(".json") or "/" in text or "\\" in text:
        raise QueryError(f"label set file not found: {path}")
    raise QueryError(f"unknown label set '{text}': give a JSON file or one of: {', '.join(builtin)}")


# -- text side ---------------------------------------------------------------------------------------


def fill(template: str, label: str) -> str:
    """Put a label into a template, fixing 'a apple' -> 'an apple'."""
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", template.replace("{}", label))


def label_prompts(label_set: LabelSet, strategy: str = DEFAULT_STRATEGY) -> list[list[list[str]]]:
    """Per label, the prompt groups whose means are averaged: [templates] and/or [descriptions]."""
    if strategy not in STRATEGIES:
        raise QueryError(f"unknown prompt strategy '{strategy}': use one of {', '.join(STRATEGIES)}")
    out = []
    for lab in label_set.labels:
        from_templates = [fill(t, lab) for t in label_set.templates]
        desc = list(label_set.descriptions.get(lab, ()))
        if strategy == "templates" or not desc:
            groups = [from_templates]  # a label without descriptions falls back to the templates
        elif strategy == "descriptions":
            groups = [desc]
        else:
            groups = [from_templates, desc]
        out.append(groups)
    return out


def label_embeddings(label_set: LabelSet, embedder: Embedder, strategy: str = DEFAULT_STRATEGY,
                     library: Library | None = None, progress: ProgressFn | None = None) -> np.ndarray:
    """[labels, dim] unit vectors: each the normalised mean of its prompt-group means.

    With a library, encoded prompts are kept in it and reused.
    """
    groups = label_prompts(label_set, strategy)
    flat = [p for lab in groups for g in lab for p in g]
    vecs = encode_texts_cached(library, embedder.spec, flat, embedder, progress)
    out = np.zeros((len(groups), embedder.dim), np.float32)
    pos = 0
    for i, lab in enumerate(groups):
        for g in lab:
            out[i] += _unit(vecs[pos:pos + len(g)].mean(0))
            pos += len(g)
        out[i] = _unit(out[i])
    return out


def resolve_embedder(source: EmbedderSource | None) -> Embedder | None:
    """An Embedder, or what a loader function returns (called once, when a model is really needed)."""
    return source() if callable(source) and not isinstance(source, Embedder) else source


def encode_texts_cached(library: Library | None, model_spec: str, texts: Sequence[str],
                        embedder: EmbedderSource | None, progress: ProgressFn | None = None) -> np.ndarray:
    """[n, dim] unit vectors of texts. With a library, texts encoded before are read back from it,
    so `embedder` (an Embedder or a function loading one) is only used for new texts."""
    known: dict[str, np.ndarray] = {}
    mid = library.model_id(model_spec) if library is not None else None
    unique = list(dict.fromkeys(texts))
    if mid is not None:
        for i in range(0, len(unique), 900):
            chunk = unique[i:i + 900]
            q = f"SELECT text, vec FROM text_vectors WHERE model_id=? AND text IN ({','.join('?' * len(chunk))})"
            known.update((t, np.frombuffer(v, dtype="<f4")) for t, v in library.conn.execute(q, (mid, *chunk)))
    todo = [t for t in unique if t not in known]
    model = resolve_embedder(embedder) if todo else None
    if todo and model is None:
        raise QueryError("a model is needed to encode the label texts, and none was given")
    for i in range(0, len(todo), TEXT_BATCH):
        batch = todo[i:i + TEXT_BATCH]
        vecs = model.encode_texts(batch)
        known.update(zip(batch, vecs))
        if library is not None:
            with library.transaction() as c:
                mid = library.model_id(model_spec, model.dim)
                c.executemany("INSERT OR REPLACE INTO text_vectors(model_id, text, vec) VALUES(?,?,?)",
                              [(mid, t, v.astype("<f4").tobytes()) for t, v in zip(batch, vecs)])
        if progress is not None:
            progress(Progress("encoding labels", min(i + TEXT_BATCH, len(todo)), len(todo)))
    if not texts:
        return np.zeros((0, model.dim if model else 0), np.float32)
    return np.stack([known[t] for t in texts]).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def softmax_scores(vectors: np.ndarray, text_vectors: np.ndarray, logit_scale: float) -> np.ndarray:
    """[n, labels] probabilities: softmax over the set of the scaled cosine similarities."""
    logits = logit_scale * (vectors @ text_vectors.T)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


# -- tagging -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tag:
    label: str
    score: float


@dataclass(frozen=True)
class PhotoTags:
    file_id: int
    path: Path
    tags: tuple[Tag, ...]  # best first

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "tags": [{"label": t.label, "score": round(t.score, 4)} for t in self.tags]}


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
    rows: list[tuple[int, int, str, str, float]] = []
    per_file: list[tuple[int, tuple[Tag, ...]]] = []
    for start in range(0, len(ids), SCORE_CHUNK):
        if cancel is not None and cancel.is_set():
            return TagReport(label_set.name, embedder.spec, strategy, threshold, [], {}, time.perf_counter() - t0, True)
        probs = softmax_scores(mat[start:start + SCORE_CHUNK], text, embedder.logit_scale)
        for fid, p in zip(ids[start:start + SCORE_CHUNK].tolist(), probs):
            tags = _pick(label_set.labels, p, threshold)
            per_file.append((fid, tags))
            rows += [(fid, model_id, label_set.name, t.label, t.score) for t in tags]
        notify(Progress("tagging", min(start + SCORE_CHUNK, len(ids)), len(ids)))
    with library.transaction() as c:
        c.execute("DELETE FROM tags WHERE model_id=? AND label_set=?", (model_id, label_set.name))
        c.executemany("INSERT INTO tags(file_id, model_id, label_set, label, score) VALUES(?,?,?,?,?)", rows)
        c.execute("INSERT OR REPLACE INTO label_sets(model_id, name, definition, strategy, threshold, tagged_at) "
                  "VALUES(?,?,?,?,?,?)", (model_id, label_set.name, json.dumps(label_set.to_json()),
                                          strategy, threshold, time.time()))
    paths = {f.id: f.path for f in library.files([fid for fid, _ in per_file])}
    photos = [PhotoTags(fid, paths[fid], tags) for fid, tags in per_file if fid in paths]
    photos.sort(key=lambda p: str(p.path))
    counts = {lab: 0 for lab in label_set.labels}
    for _, _, _, lab, _ in rows:
        counts[lab] += 1
    return TagReport(label_set.name, embedder.spec, strategy, threshold, photos, counts, time.perf_counter() - t0)


def _pick(labels: Sequence[str], probs: np.ndarray, threshold: float) -> tuple[Tag, ...]:
    order = np.argsort(-probs, kind="stable")
    best = int(order[0])
    return tuple(Tag(labels[i], float(probs[i])) for i in order.tolist() if i == best or probs[i] >= threshold)


def _model_id(library: Library, model_spec: str) -> int:
    mid = library.model_id(model_spec)
    if mid is None or library.count(mid) == 0:
        raise LibraryError(f"{library.root} has no photos indexed with model {model_spec}: "
                           f"run `clipgallery index {library.root} --model {model_spec}` first")
    return mid


def retag(library: Library, embedder: Embedder, progress: ProgressFn | None = None,
          cancel: threading.Event | None = None) -> dict[str, int]:
    """Re-apply every label set and taught tag this model has (after new photos were indexed).

    Returns label set -> photos tagged (for taught tags: tag -> photos).
    """
    out: dict[str, int] = {}
    for row in library.conn.execute(
            "SELECT definition, strategy, threshold FROM label_sets WHERE model_id=? ORDER BY name",
            (_model_id(library, embedder.spec),)).fetchall():
        ls = parse_label_set(json.loads(row[0]), "library")
        report = tag_library(library, embedder, ls, row[2], row[1], progress, cancel)
        if report.cancelled:
            return out
        out[ls.name] = len(report.photos)
    for probe in list_probes(library, embedder.spec):
        out[f"{TAUGHT}:{probe.name}"] = len(apply_probe(library, embedder.spec, probe.name).photos)
    return out


# -- reading tags back -------------------------------------------------------------------------------


def _stored_label_sets(library: Library, model_spec: str) -> dict[str, LabelSet]:
    mid = library.model_id(model_spec)
    if mid is None:
        return {}
    rows = library.conn.execute("SELECT name, definition FROM label_sets WHERE model_id=?", (mid,)).fetchall()
    out = {}
    for name, definition in rows:
        ls = parse_label_set(json.loads(definition), "library")
        out[name] = LabelSet(ls.name, ls.labels, ls.descriptions, ls.templates, ls.threshold, "library")
    return out


def known_labels(library: Library, model_spec: str) -> dict[str, tuple[str, ...]]:
    """label set -> its labels, for every label set applied with this model (taught tags under TAUGHT)."""
    out = {name: ls.labels for name, ls in sorted(_stored_label_sets(library, model_spec).items())}
    taught = tuple(p.name for p in list_probes(library, model_spec))
    if taught:
        out[TAUGHT] = taught
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
        out += library.conn.execute("SELECT file_id, label, score FROM tags WHERE model_id=? AND label_set=? "
                                    "AND label=? ORDER BY score DESC, file_id", (mid, s, lab)).fetchall()
    return out


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
    counts: dict[tuple[str, str], int] = {
        (s, lab): n for s, lab, n in library.conn.execute(
            "SELECT label_set, label, COUNT(*) FROM tags WHERE model_id=? GROUP BY label_set, label", (mid,))}
    stored = _stored_label_sets(library, model_spec)
    out = []
    for name, strategy, threshold, tagged_at in library.conn.execute(
            "SELECT name, strategy, threshold, tagged_at FROM label_sets WHERE model_id=? ORDER BY name", (mid,)):
        labels = stored[name].labels
        out.append(LabelSetSummary(name, "zero-shot", {lab: counts.get((name, lab), 0) for lab in labels},
                                   strategy, threshold, tagged_at))
    probes = list_probes(library, model_spec)
    if probes:
        out.append(LabelSetSummary(TAUGHT, "taught", {p.name: counts.get((TAUGHT, p.name), 0) for p in probes},
                                   None, None, max(p.created_at for p in probes)))
    return out


def label_counts(library: Library, model_spec: str) -> dict[str, dict[str, int]]:
    """label set -> label -> number of photos, for every label set applied with this model."""
    return {s.name: s.counts for s in label_set_summaries(library, model_spec)}


def tags_of(library: Library, model_spec: str, file_ids: Iterable[int]) -> dict[int, list[tuple[str, Tag]]]:
    """file id -> [(label set, tag)], best first within each set (for a photo's info panel)."""
    mid = library.model_id(model_spec)
    out: dict[int, list[tuple[str, Tag]]] = {}
    ids = list(file_ids)
    if mid is None:
        return out
    for i in range(0, len(ids), 900):
        chunk = ids[i:i + 900]
        q = (f"SELECT file_id, label_set, label, score FROM tags WHERE model_id=? AND file_id IN "
             f"({','.join('?' * len(chunk))}) ORDER BY label_set, score DESC")
        for fid, s, lab, score in library.conn.execute(q, (mid, *chunk)):
            out.setdefault(fid, []).append((s, Tag(lab, score)))
    return out


def forget_label_set(library: Library, model_spec: str, name: str) -> None:
    """Remove a label set (or, with name TAUGHT, every taught tag) and its tags for this model."""
    mid = library.model_id(model_spec)
    if mid is None:
        return
    with library.transaction() as c:
        c.execute("DELETE FROM tags WHERE model_id=? AND label_set=?", (mid, name))
        c.execute("DELETE FROM label_sets WHERE model_id=? AND name=?", (mid, name))
        if name == TAUGHT:
            c.execute("DELETE FROM probes WHERE model_id=?", (mid,))


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
    with library.transaction() as c:
        c.execute("INSERT OR REPLACE INTO probes(model_id, name, coef, intercept, threshold, positives, negatives, "
                  "background, examples, created_at) VALUES(?,?,?,?,?,?,?,?,?,?)",
                  (model_id, name, coef.astype("<f4").tobytes(), intercept, threshold, probe.positives,
                   probe.negatives, int(background), json.dumps(list(probe.examples)), probe.created_at))
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
        vecs.append(loaded.encode_images([decode(p, min_side=loaded.image_size).image])[0])
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
    rows = library.conn.execute(
        "SELECT name, coef, intercept, threshold, positives, negatives, background, examples, created_at "
        "FROM probes WHERE model_id=? ORDER BY name", (mid,)).fetchall()
    return [Probe(r[0], np.frombuffer(r[1], dtype="<f4").astype(np.float32), r[2], r[3], r[4], r[5], bool(r[6]),
                  tuple(json.loads(r[7])), r[8]) for r in rows]


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
    rows = [(int(ids[i]), model_id, TAUGHT, name, float(scores[i])) for i in keep]
    with library.transaction() as c:
        c.execute("DELETE FROM tags WHERE model_id=? AND label_set=? AND label=?", (model_id, TAUGHT, name))
        c.executemany("INSERT INTO tags(file_id, model_id, label_set, label, score) VALUES(?,?,?,?,?)", rows)
    paths = {f.id: f.path for f in library.files([r[0] for r in rows])}
    photos = [PhotoTags(r[0], paths[r[0]], (Tag(name, r[4]),)) for r in rows if r[0] in paths]
    return TeachReport(probe, photos)


def delete_probe(library: Library, model_spec: str, name: str) -> None:
    mid = library.model_id(model_spec)
    if mid is None:
        return
    with library.transaction() as c:
        c.execute("DELETE FROM probes WHERE model_id=? AND name=?", (mid, name))
        c.execute("DELETE FROM tags WHERE model_id=? AND label_set=? AND label=?", (mid, TAUGHT, name))
