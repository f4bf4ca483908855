"""`group` (also `cluster`) and `duplicates`: automatic groups and near-identical photos."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import LibraryJob, emit, fraction, json_option, k_value, positive_int


def register(subparsers: Any) -> None:
    # "group" is the word the app uses; "cluster" stays the command's name in scripts (the contract).
    s = subparsers.add_parser("cluster", aliases=["group"],
                              help="group the photos automatically (k-means) and name the groups")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--k", type=k_value, default=None, metavar="N|auto", help="number of groups (default: auto)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (same seed, same groups)")
    s.add_argument("--pca", type=positive_int, metavar="D", help="reduce the vectors to D dimensions first")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    json_option(s)
    s.set_defaults(func=cmd_cluster)

    s = subparsers.add_parser("duplicates", help="find groups of near-identical photos and suggest which to keep")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--threshold", type=fraction, default=None, metavar="T",
                   help="cosine similarity that makes a near-duplicate (default 0.95)")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    json_option(s)
    s.set_defaults(func=cmd_duplicates)


def cmd_cluster(args: argparse.Namespace) -> int:
    from ..core.grouping import group_library

    with LibraryJob(args) as job:  # the model loads only if the naming words were never encoded here
        result = group_library(job.lib, job.spec, args.k, args.seed, args.pca, embedder=job.embedder,
                               progress=job.bar, cancel=job.cancel)
    if result.cancelled:
        print("clipgallery: cancelled; nothing was stored", file=sys.stderr)
        return 130
    how = f"chosen automatically (silhouette {result.silhouettes[result.k]:.3f})" if result.silhouettes else "given"
    text = [f"{len(result.groups)} groups (k={result.k}, {how}, seed {result.seed}):"]
    text += [f"  {g.cluster + 1:>2}. {g.name}: {len(g.file_ids)} photos, cover {g.cover_path}" for g in result.groups]
    emit(args, result.to_json(), "\n".join(text))
    return 0


def cmd_duplicates(args: argparse.Namespace) -> int:
    from ..core.duplicates import DEFAULT_DUPLICATE_THRESHOLD, find_duplicates

    threshold = DEFAULT_DUPLICATE_THRESHOLD if args.threshold is None else args.threshold
    with LibraryJob(args) as job:
        report = find_duplicates(job.lib, job.spec, threshold, progress=job.bar, cancel=job.cancel)
    if report.cancelled:
        print("clipgallery: cancelled", file=sys.stderr)
        return 130
    text = []
    for g in report.groups:
        text.append(f"keep {g.keep.path}")
        text += [f"  {s:.3f}  {m.path}" for m, s in zip(g.members[1:], g.similarity[1:])]
    text.append(f"{len(report.groups)} groups of near-duplicates (cosine >= {threshold})"
                + ("" if report.exact else "; large library: searched approximately"))
    emit(args, report.to_json(), "\n".join(text))
    return 0
