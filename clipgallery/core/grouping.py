"""Automatic groups: k-means (k chosen by silhouette), named from text, stored as a run.

Near-duplicates live in core.duplicates (re-exported here for older callers).
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LibraryError, QueryError
from .library import Library
from .progress import Progress, ProgressFn
from .tagging import EmbedderSource

MAX_AUTO_K = 30
SILHOUETTE_SAMPLE = 3000  # silhouette is O(n^2): measured on a seeded sample of this many photos
N_INIT = 4  # k-means restarts (fixed, so a seed gives one answer)
MINIBATCH_FROM = 20_000  # above this many photos the final fit uses MiniBatchKMeans
KEEP_RUNS = 10  # older grouping runs of a model are pruned
NAME_CONTRAST = 0.5  # how much a name's similarity to the other groups counts against it
NAME_TEMPLATE = "a photo of a {}."


# -- k-means -----------------------------------------------------------------------------------------


def auto_k_range(n: int, k_max: int | None = None) -> range:
    """The k tried by automatic selection: 2 .. min(30, sqrt(n)), never more than n - 1."""
    hi = min(MAX_AUTO_K, int(math.isqrt(n))) if k_max is None else k_max
    return range(2, max(2, min(hi, n - 1)) + 1) if n >= 3 else range(1, 2)


def choose_k(
    vectors: np.ndarray,
    ks: Sequence[int] | None = None,
    seed: int = 0,
    sample: int = SILHOUETTE_SAMPLE,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> tuple[int, dict[int, float]]:
    """The k with the best mean silhouette (ties -> smaller k), and the score of every k tried.

    On large inputs both the k-means fits and the silhouettes use one seeded sample, so the
    cost does not grow with the library; the final grouping is fitted on everything.
    """
    from sklearn.metrics import pairwise_distances, silhouette_score

    ks = list(ks if ks is not None else auto_k_range(len(vectors)))
    if len(vectors) < 3 or ks == [1]:
        return 1, {}
    x = vectors
    if len(x) > sample:
        rng = np.random.default_rng(seed)
        x = x[np.sort(rng.choice(len(x), size=sample, replace=False))]
    ks = [k for k in ks if 2 <= k < len(x)]
    dist = pairwise_distances(x, metric="euclidean")
    scores: dict[int, float] = {}
    for i, k in enumerate(ks):
        if cancel is not None and cancel.is_set():
            break
        labels, _ = kmeans(x, k, seed)
        scores[k] = float(silhouette_score(dist, labels, metric="precomputed")) if len(set(labels)) > 1 else -1.0
        if progress is not None:
            progress(Progress("choosing k", i + 1, len(ks)))
    if not scores:
        return 1, {}
    best = max(scores.values())
    return min(k for k, s in scores.items() if s >= best - 1e-9), scores


def kmeans(vectors: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(labels [n], centres [k, dim]); KMeans, or MiniBatchKMeans for large inputs; seeded."""
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from threadpoolctl import threadpool_limits

    if k <= 1:
        return np.zeros(len(vectors), np.int64), vectors.mean(0, keepdims=True)
    if len(vectors) > MINIBATCH_FROM:
        model = MiniBatchKMeans(n_clusters=k, n_init=3, random_state=seed, batch_size=4096)
    else:
        model = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed)
    # One thread (OpenMP and BLAS): these fits take a second or two at most, and spinning threads
    # slow them down many times over whenever the CPU is busy (indexing, the GUI, other programs).
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "fewer distinct points than clusters": empty groups are dropped
        labels = model.fit_predict(vectors)
    return labels.astype(np.int64), model.cluster_centers_.astype(np.float32)


# -- names -------------------------------------------------------------------------------------------


@dataclass
class Vocabulary:
    """Words that can name a group, and their text vectors [n, dim]."""

    words: list[str]
    vectors: np.ndarray


def build_vocabulary(library: Library | None, model_spec: str, embedder: EmbedderSource | None = None,
                     progress: ProgressFn | None = None) -> Vocabulary:
    """The built-in label sets (emotions, concepts) plus those applied in the library, one word once.

    Every word is encoded with the same template, so that their similarities are comparable (a
    set's own template, "a photo that makes you feel {}." say, would lift or sink the whole set).
    Encoded words are kept in the library, so `embedder` (an Embedder or a function that loads
    one) is needed only once.
    """
    from . import tagging

    sets = [tagging.load_label_set(name) for name in tagging.builtin_label_sets()]
    if library is not None:
        sets += [ls for ls in tagging._stored_label_sets(library, model_spec).values()]
    words: list[str] = []
    prompts: list[str] = []
    seen: set[str] = set()
    for ls in sets:
        for lab in ls.labels:
            if lab.casefold() not in seen:
                seen.add(lab.casefold())
                words.append(lab)
                prompts.append(tagging.fill(NAME_TEMPLATE, lab))
    vecs = tagging.encode_texts_cached(library, model_spec, prompts, embedder, progress)
    return Vocabulary(words, vecs)


def name_groups(centres: np.ndarray, vocabulary: Vocabulary) -> list[str]:
    """A distinct readable name per group: its nearest words, the next best when one is taken.

    A word's similarity to the average group is subtracted in part, so words close to every
    photo (the hubs of a text space) do not name everything.
    """
    if len(vocabulary.words) == 0:
        return [f"group {i + 1}" for i in range(len(centres))]
    c = centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    sim = c @ vocabulary.vectors.T
    score = sim - NAME_CONTRAST * sim.mean(0, keepdims=True) if len(c) > 1 else sim
    ranked = np.argsort(-score, axis=1, kind="stable")
    names: list[str | None] = [None] * len(c)
    taken: set[str] = set()
    # The most confident groups choose first, so a clear "beach" group is not robbed by a vague one.
    for g in np.argsort(-score.max(1), kind="stable").tolist():
        for w in ranked[g, :5].tolist():
            if vocabulary.words[w] not in taken:
                names[g] = vocabulary.words[w]
                break
        else:
            best = vocabulary.words[int(ranked[g, 0])]
            n = 2
            while f"{best} ({n})" in taken:
                n += 1
            names[g] = f"{best} ({n})"
        taken.add(names[g])
    return [n or "" for n in names]


# -- grouping a library ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    cluster: int  # 0 = the largest group
    name: str
    cover: int  # file id of the photo nearest the centre
    file_ids: tuple[int, ...]  # most typical first
    scores: tuple[float, ...]  # cosine similarity of each photo to the group's centre
    paths: tuple[Path, ...]

    @property
    def cover_path(self) -> Path:
        return self.paths[self.file_ids.index(self.cover)] if self.cover in self.file_ids else self.paths[0]

    def to_json(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "name": self.name, "cover": str(self.cover_path),
                "paths": [str(p) for p in self.paths], "size": len(self.file_ids)}


@dataclass
class Grouping:
    model: str
    k: int
    seed: int
    auto: bool
    groups: list[Group]
    silhouettes: dict[int, float] = field(default_factory=dict)  # k -> mean silhouette (automatic k)
    run_id: int | None = None
    created_at: float = 0.0
    seconds: float = 0.0
    cancelled: bool = False  # nothing was stored

    def to_json(self) -> list[dict[str, Any]]:
        return [g.to_json() for g in self.groups]


def group_library(
    library: Library,
    model_spec: str,
    k: int | None = None,
    seed: int = 0,
    pca: int | None = None,
    embedder: EmbedderSource | None = None,
    vocabulary: Vocabulary | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    store: bool = True,
) -> Grouping:
    """Group every indexed photo with k-means (k=None: chosen automatically) and name the groups.

    Names come from `vocabulary`, else from the built-in one (see build_vocabulary; `embedder`
    may be a function that loads the model, called only if a word was never encoded); with
    neither, groups are called "group 1", "group 2"... Deterministic for a given seed.
    """
    t0 = time.perf_counter()
    notify = progress or (lambda p: None)
    mid = library.model_id(model_spec)
    if mid is None or library.count(mid) == 0:
        raise LibraryError(f"{library.root} has no photos indexed with model {model_spec}: "
                           f"run `clipgallery index {library.root}` first")
    ids, mat = library.vectors(mid)
    if k is not None and not 1 <= k <= len(ids):
        raise QueryError(f"cannot make {k} groups out of {len(ids)} photos: choose k between 1 and {len(ids)}")
    x = _reduce(mat, pca, seed)
    scores: dict[int, float] = {}
    auto = k is None
    if k is None:
        k, scores = choose_k(x, seed=seed, progress=notify, cancel=cancel)
    if cancel is not None and cancel.is_set():
        return Grouping(model_spec, k, seed, auto, [], scores, cancelled=True)
    notify(Progress("grouping", 0, 1))
    labels, _ = kmeans(x, k, seed)
    groups_rows = _order_groups(ids, mat, labels)
    k = len(groups_rows)  # identical photos can leave a group empty
    centres = np.stack([_unit(mat[rows].mean(0)) for rows in groups_rows])
    if vocabulary is None and embedder is not None:
        vocabulary = build_vocabulary(library, model_spec, embedder, notify)
    names = name_groups(centres, vocabulary) if vocabulary is not None else [f"group {i + 1}" for i in range(k)]
    if cancel is not None and cancel.is_set():
        return Grouping(model_spec, k, seed, auto, [], scores, cancelled=True)
    infos = {f.id: f.path for f in library.files(ids.tolist())}
    groups = []
    for g, rows in enumerate(groups_rows):
        sims = mat[rows] @ centres[g]
        order = np.argsort(-sims, kind="stable")
        fids = tuple(int(ids[rows[i]]) for i in order)
        groups.append(Group(g, names[g], fids[0], fids, tuple(float(sims[i]) for i in order),
                            tuple(infos[f] for f in fids)))
    result = Grouping(model_spec, k, seed, auto, groups, scores, created_at=time.time())
    if store:
        result.run_id = _store(library, mid, result, pca)
    result.seconds = time.perf_counter() - t0
    notify(Progress("grouping", 1, 1))
    return result


def _reduce(mat: np.ndarray, pca: int | None, seed: int) -> np.ndarray:
    if not pca or pca >= min(mat.shape):
        return mat
    from sklearn.decomposition import PCA

    return PCA(n_components=pca, random_state=seed).fit_transform(mat).astype(np.float32)


def _order_groups(ids: np.ndarray, mat: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    """Rows of each non-empty group, largest group first (ties: the one holding the lowest id)."""
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    groups = [g for g in groups if len(g)]
    groups.sort(key=lambda rows: (-len(rows), int(ids[rows].min())))
    return groups


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def _store(library: Library, model_id: int, result: Grouping, pca: int | None) -> int:
    params = {"k": result.k, "auto": result.auto, "seed": result.seed, "pca": pca,
              "silhouettes": {str(k): round(s, 5) for k, s in result.silhouettes.items()}}
    return library.groups.save_run(
        model_id, result.created_at, params,
        [(f, g.cluster, s) for g in result.groups for f, s in zip(g.file_ids, g.scores)],
        [(g.cluster, g.name, g.cover, len(g.file_ids)) for g in result.groups], KEEP_RUNS)


def load_grouping(library: Library, model_spec: str, run_id: int | None = None) -> Grouping | None:
    """A stored run (default: the latest for this model), with photos removed since left out."""
    mid = library.model_id(model_spec)
    if mid is None:
        return None
    run = library.groups.run(mid, run_id)
    if run is None:
        return None
    run_id, created_at, params = run.id, run.created_at, run.params
    members: dict[int, list[tuple[int, float]]] = {}
    for fid, cl, score in library.groups.members(run_id):
        members.setdefault(cl, []).append((fid, score if score is not None else 0.0))
    paths = {f.id: f.path for f in library.files([fid for m in members.values() for fid, _ in m])}
    groups = []
    for cl, name, cover in library.groups.groups(run_id):
        m = [(f, s) for f, s in members.get(cl, []) if f in paths]
        if not m:
            continue
        fids = tuple(f for f, _ in m)
        groups.append(Group(cl, name, cover if cover in fids else fids[0], fids, tuple(s for _, s in m),
                            tuple(paths[f] for f in fids)))
    silhouettes = {int(k): s for k, s in params.get("silhouettes", {}).items()}
    return Grouping(model_spec, params["k"], params["seed"], params["auto"], groups, silhouettes, run_id, created_at)


def list_groupings(library: Library, model_spec: str) -> list[tuple[int, float, dict[str, Any]]]:
    """(run id, created_at, params) of the stored runs of a model, newest first."""
    mid = library.model_id(model_spec)
    if mid is None:
        return []
    return [(r.id, r.created_at, r.params) for r in library.groups.runs(mid)]


# Near-duplicates moved to core.duplicates; these names stay importable from here.
from .duplicates import (  # noqa: E402, F401
    BLOCK,
    DEFAULT_DUPLICATE_THRESHOLD,
    EXACT_UP_TO,
    MAX_PROBES,
    DuplicateGroup,
    DuplicateReport,
    duplicate_components,
    duplicate_pairs,
    find_duplicates,
    keeper_key,
)
