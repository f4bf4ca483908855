"""Duplicate photos: CLIP proposes candidates (cosine >= threshold pairs, exact blockwise, or a k-means
partition when large); the pixels confirm them (core.pixels, fingerprints cached in the library by
content hash). Confirmed pairs make **duplicate** groups, each member the same picture as the group's
suggested keeper; candidates the pixels do not confirm make **similar** groups, which nothing may
ever move to the trash. The groups are computed on demand, never stored."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import LibraryError, QueryError
from .library import FileInfo, Library
from .pixels import MAX_RMS
from .progress import Progress, ProgressFn

DUPLICATE = "duplicate"  # the same picture, maybe resized, recompressed or lightly cropped (pixels agree)
SIMILAR = "similar"  # alike to CLIP only: never a duplicate, never trashed

# 0.95 is the usual starting point for CLIP near-duplicates (the range used in practice is
# 0.95-0.99): a resized, recompressed or lightly edited copy stays above it, while a different
# photo, even of the same subject, falls below. Lower it (0.90-0.93) to also gather burst shots,
# raise it (0.98+) for copies only. (The bundled shapes-tiny model only knows colour and shape:
# a resized copy scores ~1.0 and a picture of another class at most ~0.9, but two drawings of
# the same class look identical to it.)
DEFAULT_DUPLICATE_THRESHOLD = 0.95
EXACT_UP_TO = 20_000  # photos; above, candidate pairs come from an inverted-file partition
BLOCK = 4096
MAX_PROBES = 6  # partition cells searched per photo at most (when more could match: approximate)


@dataclass(frozen=True)
class DuplicateGroup:
    keep: FileInfo  # the suggested keeper: largest resolution, then largest file, then oldest
    members: tuple[FileInfo, ...]  # keeper first
    similarity: tuple[float, ...]  # cosine of each member to the keeper
    kind: str = DUPLICATE  # DUPLICATE: every member is the same picture as the keeper; SIMILAR: CLIP only
    # The pixel difference of each member to the keeper (core.pixels.difference; None: not decodable)
    difference: tuple[float | None, ...] = ()

    @property
    def extras(self) -> tuple[FileInfo, ...]:
        """What keeping only the keeper would leave out (for a SIMILAR group, nothing is ever extra)."""
        return self.members[1:] if self.kind == DUPLICATE else ()

    def to_json(self) -> dict[str, Any]:
        diffs = self.difference or (None,) * len(self.members)
        return {"keep": str(self.keep.path), "paths": [str(m.path) for m in self.members], "kind": self.kind,
                "members": [{"path": str(m.path), "similarity": round(s, 4), "width": m.width,
                             "height": m.height, "size": m.size,
                             "pixel_difference": None if d is None else round(d, 2)}
                            for m, s, d in zip(self.members, self.similarity, diffs)]}


@dataclass
class DuplicateReport:
    threshold: float
    groups: list[DuplicateGroup]  # confirmed duplicates only
    exact: bool  # False when the partition search may have missed a pair
    seconds: float = 0.0
    cancelled: bool = False
    similar: list[DuplicateGroup] = field(default_factory=list)  # CLIP candidates the pixels did not confirm
    max_rms: float = MAX_RMS
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): no pixel check possible
    decoded: int = 0  # photos decoded for their fingerprint in this run (0 when all were cached)

    def to_json(self, similar: bool = False) -> list[dict[str, Any]]:
        return [g.to_json() for g in self.groups] + ([g.to_json() for g in self.similar] if similar else [])


def duplicate_pairs(
    vectors: np.ndarray,
    threshold: float = DEFAULT_DUPLICATE_THRESHOLD,
    seed: int = 0,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> tuple[np.ndarray, bool]:
    """Row pairs [m, 2] (i < j) of unit vectors with cosine >= threshold, and whether the search was exact."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(x) > EXACT_UP_TO:
        return _partitioned_pairs(x, threshold, seed, progress, cancel)
    return _exact_pairs(x, threshold, progress, cancel), True


def _exact_pairs(x: np.ndarray, t: float, progress: ProgressFn | None, cancel: threading.Event | None) -> np.ndarray:
    n = len(x)
    out = []
    blocks = [(i, j) for i in range(0, n, BLOCK) for j in range(i, n, BLOCK)]
    for done, (i, j) in enumerate(blocks):
        if cancel is not None and cancel.is_set():
            break
        sim = x[i:i + BLOCK] @ x[j:j + BLOCK].T
        a, b = np.nonzero(sim >= t)
        a, b = a + i, b + j
        keep = a < b
        out.append(np.stack([a[keep], b[keep]], 1))
        if progress is not None:
            progress(Progress("comparing", done + 1, len(blocks)))
    return np.concatenate(out) if out else np.zeros((0, 2), np.int64)


def _partitioned_pairs(x: np.ndarray, t: float, seed: int, progress: ProgressFn | None,
                       cancel: threading.Event | None) -> tuple[np.ndarray, bool]:
    """Inverted-file search: k-means cells; each photo is compared with the cells it could match in.

    A photo y of cell b within distance r of x lies on b's side of the plane halfway between
    x's centre and b's centre, so only cells whose plane is within r of x need searching; that
    search is exact. It is capped at the MAX_PROBES nearest planes per photo (then reported as
    not exact): duplicates sit far closer together than photos of a cell, so the cap rarely matters.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    n = len(x)
    cells = int(np.clip(n // 300, 16, 1024))
    rng = np.random.default_rng(seed)
    sample = x[np.sort(rng.choice(n, size=min(n, cells * 40), replace=False))]
    # Rough cells are enough (the bound keeps the search right), so no k-means++ seeding.
    with threadpool_limits(1):
        fit = KMeans(cells, init="random", n_init=1, max_iter=10, random_state=seed).fit(sample)
    centres = fit.cluster_centers_.astype(np.float32)
    r = math.sqrt(max(0.0, 2.0 - 2.0 * t))
    sq_c = (centres * centres).sum(1)
    gap = np.sqrt(np.maximum(sq_c[:, None] + sq_c[None, :] - 2.0 * centres @ centres.T, 1e-12))
    probes: list[np.ndarray] = []
    exact = True
    home = np.empty(n, np.int64)
    for i in range(0, n, BLOCK):
        d2 = sq_c[None, :] - 2.0 * (x[i:i + BLOCK] @ centres.T)  # + |x|^2, the same for every cell
        h = d2.argmin(1)
        # Distance from x to the hyperplane halfway between its centre and cell b's centre: a
        # photo in b within r of x lies beyond that plane, so cells farther than r cannot hold one.
        margin = (d2 - d2[np.arange(len(h)), h][:, None]) / (2.0 * gap[h])
        margin[np.arange(len(h)), h] = -np.inf
        top = min(MAX_PROBES, cells)
        order = np.argpartition(margin, top - 1, axis=1)[:, :top]
        order = np.take_along_axis(order, np.argsort(np.take_along_axis(margin, order, 1), axis=1), 1)
        within = np.take_along_axis(margin, order, 1) <= r
        exact &= bool((margin <= r).sum(1).max() <= MAX_PROBES)
        home[i:i + BLOCK] = h
        probes.append(np.where(within, order, -1))
    probe = np.concatenate(probes)
    # Work in cell order, so each cell's members are one contiguous slice.
    perm = np.argsort(home, kind="stable")
    xs = x[perm]
    pos = np.empty(n, np.int64)
    pos[perm] = np.arange(n)
    starts = np.searchsorted(home[perm], np.arange(cells + 1))
    askers = np.repeat(pos, probe.shape[1])
    asked = probe.ravel()
    valid = asked >= 0
    askers, asked = askers[valid], asked[valid]
    by_cell = np.argsort(asked, kind="stable")
    ask_starts = np.searchsorted(asked[by_cell], np.arange(cells + 1))
    out = []
    for c in range(cells):
        if cancel is not None and cancel.is_set():
            break
        lo, hi = starts[c], starts[c + 1]
        ask = askers[by_cell[ask_starts[c]:ask_starts[c + 1]]]
        for s in range(0, len(ask) if hi > lo else 0, BLOCK):
            q = ask[s:s + BLOCK]
            sim = xs[q] @ xs[lo:hi].T
            rows = np.flatnonzero(sim.max(1) >= t)  # duplicates are rare: look closer only where one is
            if len(rows):
                a, b = np.nonzero(sim[rows] >= t)
                a, b = q[rows[a]], b + lo
                keep = a != b
                out.append(np.stack([np.minimum(a, b)[keep], np.maximum(a, b)[keep]], 1))
        if progress is not None and (c % 16 == 0 or c == cells - 1):
            progress(Progress("comparing", c + 1, cells))
    pairs = np.unique(np.concatenate(out), axis=0) if out else np.zeros((0, 2), np.int64)
    pairs = np.sort(perm[pairs], axis=1) if len(pairs) else pairs
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))] if len(pairs) else pairs
    return pairs, exact


def duplicate_components(n: int, pairs: np.ndarray) -> list[np.ndarray]:
    """Connected components (size >= 2) of the graph whose edges are `pairs`, as sorted row arrays."""
    if len(pairs) == 0:
        return []
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    counts = np.bincount(labels)
    return [np.flatnonzero(labels == c) for c in np.flatnonzero(counts >= 2)]


# Formats that throw detail away when saved: of the same picture at the same size, a PNG, TIFF or
# RAW file is the original and a JPEG the copy, even when the JPEG (at quality 60 of a flat
# drawing) is the larger file.
LOSSY = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".webp", ".heic", ".heif", ".avif"})


def keeper_key(f: FileInfo) -> tuple:
    """Sort key of the photo to keep: most pixels, then a lossless file before a lossy one, then the
    largest file, then the oldest, then the shortest path."""
    pixels = (f.width or 0) * (f.height or 0)
    lossy = f.path.suffix.lower() in LOSSY
    return (-pixels, lossy, -f.size, f.date, len(f.relpath), f.relpath)


def find_duplicates(
    library: Library,
    model_spec: str,
    threshold: float = DEFAULT_DUPLICATE_THRESHOLD,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    max_rms: float = MAX_RMS,
) -> DuplicateReport:
    """Groups of photos that are the same picture (confirmed by their pixels), each with a suggested
    keeper, and the groups CLIP alone finds alike (`similar`)."""
    t0 = time.perf_counter()
    if not 0 < threshold <= 1:
        raise QueryError(f"the duplicate threshold is a cosine similarity between 0 and 1 (got {threshold})")
    mid = library.model_id(model_spec)
    if mid is None or library.count(mid) == 0:
        raise LibraryError(f"{library.root} has no photos indexed with model {model_spec}: "
                           f"run `clipgallery index {library.root}` first")
    ids, mat = library.vectors(mid)
    pairs, exact = duplicate_pairs(mat, threshold, progress=progress, cancel=cancel)
    if cancel is not None and cancel.is_set():
        return DuplicateReport(threshold, [], exact, time.perf_counter() - t0, True, max_rms=max_rms)
    comps = duplicate_components(len(ids), pairs)
    infos = {f.id: f for f in library.files(sorted({int(ids[r]) for c in comps for r in c}))}
    row_of = {int(fid): i for i, fid in enumerate(ids.tolist())}
    from .pixels import fingerprints

    prints = fingerprints(library, list(infos.values()), progress=progress, cancel=cancel)
    if cancel is not None and cancel.is_set():
        return DuplicateReport(threshold, [], exact, time.perf_counter() - t0, True, max_rms=max_rms)

    def cosine(a: FileInfo, b: FileInfo) -> float:
        return float(mat[row_of[a.id]] @ mat[row_of[b.id]])

    groups, similar = [], []
    for comp in comps:
        files = sorted((infos[int(ids[r])] for r in comp if int(ids[r]) in infos), key=keeper_key)
        if len(files) < 2:
            continue
        confirmed = _confirmed_groups(files, prints.prints, max_rms)
        for keep, members, diffs in confirmed:
            groups.append(DuplicateGroup(keep, members, tuple(cosine(m, keep) for m in members), DUPLICATE, diffs))
        if not (len(confirmed) == 1 and len(confirmed[0][1]) == len(files)):
            diffs = tuple(prints.difference(files[0], f) for f in files)
            similar.append(DuplicateGroup(files[0], tuple(files), tuple(cosine(f, files[0]) for f in files),
                                          SIMILAR, diffs))
    groups.sort(key=lambda g: (-len(g.members), g.keep.relpath))
    similar.sort(key=lambda g: (-len(g.members), g.keep.relpath))
    return DuplicateReport(threshold, groups, exact, time.perf_counter() - t0, similar=similar, max_rms=max_rms,
                           unreadable=prints.unreadable, decoded=prints.decoded)


def _confirmed_groups(files: list[FileInfo], prints: dict[int, Any], max_rms: float
                      ) -> list[tuple[FileInfo, tuple[FileInfo, ...], tuple[float | None, ...]]]:
    """Split photos CLIP found alike (best keeper first) into groups whose every member is the same
    picture as the group's keeper, checked directly against it (never through a chain of pairs)."""
    from .pixels import difference

    out: list[tuple[FileInfo, tuple[FileInfo, ...], tuple[float | None, ...]]] = []
    rest = list(files)
    while len(rest) >= 2:
        keep, others = rest[0], rest[1:]
        if prints.get(keep.id) is None:
            rest = others
            continue
        members: list[FileInfo] = [keep]
        diffs: list[float | None] = [0.0]
        left: list[FileInfo] = []
        for f in others:
            d = None if prints.get(f.id) is None else difference(prints[keep.id], prints[f.id])
            if d is not None and d <= max_rms:
                members.append(f)
                diffs.append(d)
            else:
                left.append(f)
        if len(members) >= 2:
            out.append((keep, tuple(members), tuple(diffs)))
        rest = left
    return out
