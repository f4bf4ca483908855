"""Grouping and near-duplicate speed on synthetic CLIP-like vectors (clustered, with planted duplicates).

Prints the time of automatic-k grouping (silhouette over k = 2..30 on a sample, then the final
fit on everything) and of the near-duplicate search, and checks that the planted structure is found.
Usage: python bench/grouping.py [--n 100000] [--dim 512] [--clusters 20] [--seed 0] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clipgallery.core import grouping  # noqa: E402


def make_vectors(n: int, dim: int, clusters: int, duplicates: int, seed: int):
    """Unit vectors around `clusters` centres (spread like CLIP photo vectors: cosine to the
    centre ~0.8, between groups ~0.0-0.3), with `duplicates` planted near-copies (cosine ~0.99).

    Returns (vectors, true cluster of each, planted pairs [m, 2]).
    """
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=dim)  # CLIP vectors share a common direction (the "photo" cone)
    centres = rng.normal(size=(clusters, dim)) + 1.2 * shared
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth = rng.integers(clusters, size=n)
    x = centres[truth] + rng.normal(size=(n, dim)) * (0.75 / np.sqrt(dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    src = rng.choice(n - duplicates, size=duplicates, replace=False)
    dst = np.arange(n - duplicates, n)
    copies = x[src] + rng.normal(size=(duplicates, dim)) * (0.12 / np.sqrt(dim))
    x[dst] = copies / np.linalg.norm(copies, axis=1, keepdims=True)
    truth[dst] = truth[src]
    return x.astype(np.float32), truth, np.stack([src, dst], 1)


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average {load:.2f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--clusters", type=int, default=20)
    p.add_argument("--duplicates", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="25k vectors: checks that it works (both search paths), in seconds")
    args = p.parse_args()
    if args.quick:
        args.n, args.duplicates = 25_000, 100
    from sklearn.metrics import adjusted_rand_score

    print(f"machine: {machine()}")
    x, truth, planted = make_vectors(args.n, args.dim, args.clusters, args.duplicates, args.seed)
    print(f"{args.n} vectors of {args.dim}-d, {args.clusters} clusters, {len(planted)} planted duplicates")

    t = time.perf_counter()
    k, scores = grouping.choose_k(x, seed=args.seed)
    t_choose = time.perf_counter() - t
    labels, _ = grouping.kmeans(x, k, args.seed)
    t_group = time.perf_counter() - t
    ari = adjusted_rand_score(truth, labels)
    print(f"grouping (automatic k): {t_group:.1f} s  (choosing k over {len(scores)} values: {t_choose:.1f} s, "
          f"final fit: {t_group - t_choose:.1f} s); k = {k} (true {args.clusters}), ARI = {ari:.3f}")

    t = time.perf_counter()
    pairs, exact = grouping.duplicate_pairs(x, grouping.DEFAULT_DUPLICATE_THRESHOLD, seed=args.seed)
    t_dup = time.perf_counter() - t
    found = {tuple(p) for p in pairs.tolist()}
    hit = sum((int(a), int(b)) in found for a, b in planted)
    extra = len(found - {(int(a), int(b)) for a, b in planted})
    print(f"near-duplicates (cosine >= {grouping.DEFAULT_DUPLICATE_THRESHOLD}): {t_dup:.1f} s  "
          f"({'exact' if exact else 'partitioned'}); planted found {hit}/{len(planted)}, other pairs {extra}")
    ok = hit == len(planted) and k == args.clusters
    print("check:", "ok" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
