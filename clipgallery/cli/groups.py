"""`group` (also `cluster`) and `duplicates`: automatic groups and near-identical photos."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import LibraryJob, emit, fraction, json_option, k_value, open_library, positive_int


def register(subparsers: Any) -> None:
    # "group" is the word the app uses; "cluster" stays the command's name in scripts (the contract).
    s = subparsers.add_parser("cluster", aliases=["group"],
                              help="group the photos automatically (k-means) and name the groups")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--k", type=k_value, default=None, metavar="N|auto", help="number of groups (default: auto)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (same seed, same groups)")
    s.add_argument("--pca", type=positive_int, metavar="D", help="reduce the vectors to D dimensions first")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    s.add_argument("--rename", nargs=2, metavar=("N", "NAME"),
                   help="rename group N (as listed) of the last grouping instead of grouping again")
    s.add_argument("--merge", nargs=2, type=positive_int, metavar=("N", "M"),
                   help="move every photo of group N into group M (as listed) of the last grouping")
    json_option(s)
    s.set_defaults(func=cmd_cluster)

    s = subparsers.add_parser(
        "duplicates", help="find photos that are the same picture (checked pixel by pixel) and suggest which to keep",
        description="CLIP proposes photos that look alike; the pixels decide which are the same picture "
                    "(resized, recompressed or lightly cropped copies): those are duplicates. Photos that are "
                    "only alike are 'similar' (--similar shows them) and are never moved to the trash.")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--threshold", type=fraction, default=None, metavar="T",
                   help="cosine similarity that makes two photos candidates (default 0.95)")
    s.add_argument("--pixel-difference", type=pixel_levels, default=None, metavar="D",
                   help="largest difference of the aligned 32x32 thumbnails (0-255 levels, RMS) for the same "
                        "picture (default 8)")
    s.add_argument("--similar", action="store_true",
                   help="also list the groups that are only similar (kind \"similar\" in --json)")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    s.add_argument("--trash-extras", action="store_true",
                   help="move every duplicate group's extras (all but the photo to keep) to the desktop trash: "
                        "prints what it would move, and moves only with --yes")
    s.add_argument("--yes", action="store_true", help="with --trash-extras: move them now")
    s.add_argument("--trashed", action="store_true",
                   help="list the photos clipgallery moved to the trash before, and where they went")
    json_option(s)
    s.set_defaults(func=cmd_duplicates)


def cmd_cluster(args: argparse.Namespace) -> int:
    from ..core.grouping import group_library

    if args.rename or args.merge:
        return _edit_groups(args)
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


def pixel_levels(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= x <= 255:
        raise argparse.ArgumentTypeError(f"must be between 0 and 255: {x}")
    return x


def cmd_duplicates(args: argparse.Namespace) -> int:
    from ..core.duplicates import DEFAULT_DUPLICATE_THRESHOLD, find_duplicates
    from ..core.errors import QueryError
    from ..core.pixels import MAX_RMS

    if args.yes and not args.trash_extras:
        raise QueryError("--yes confirms --trash-extras; give both to move the extras to the trash")
    if args.trashed:
        return _list_trashed(args)
    threshold = DEFAULT_DUPLICATE_THRESHOLD if args.threshold is None else args.threshold
    max_rms = MAX_RMS if args.pixel_difference is None else args.pixel_difference
    with LibraryJob(args) as job:
        report = find_duplicates(job.lib, job.spec, threshold, progress=job.bar, cancel=job.cancel, max_rms=max_rms)
        if report.cancelled:
            print("clipgallery: cancelled", file=sys.stderr)
            return 130
        if args.trash_extras:
            return _trash_extras(args, job, report)
    text = []
    for g in report.groups:
        text.append(f"keep {g.keep.path}")
        text += [f"  {s:.3f}  {m.path}" for m, s in zip(g.members[1:], g.similarity[1:])]
    if args.similar and report.similar:
        text.append("similar, not the same picture (never moved to the trash):")
        for g in report.similar:
            text.append(f"  {g.keep.path}")
            text += [f"    {s:.3f}  {m.path}" for m, s in zip(g.members[1:], g.similarity[1:])]
    text.append(f"{len(report.groups)} groups of duplicates (cosine >= {threshold}, same pixels within {max_rms:g})"
                + (f"; {len(report.similar)} more groups only similar" + ("" if args.similar else " (--similar)")
                   if report.similar else "")
                + ("" if report.exact else "; large library: searched approximately"))
    for path, reason in report.unreadable:
        print(f"clipgallery: could not compare the pixels of {path}: {reason}", file=sys.stderr)
    emit(args, report.to_json(similar=args.similar), "\n".join(text))
    return 0


def _list_trashed(args: argparse.Namespace) -> int:
    """--trashed: what was moved to the trash, from the library's record (nothing is searched)."""
    import time

    from ..core.trash import trashed

    lib = open_library(args)
    rows = trashed(lib)
    text = [f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(r['when']))}  {r['path']} -> "
            f"{r['trash_path'] or 'the Trash'}  (kept {r['kept']})" for r in rows]
    text.append(f"{len(rows)} photos moved to the trash by clipgallery" if rows else
                "clipgallery has moved no photo of this folder to the trash")
    emit(args, rows, "\n".join(text))
    return 0


def _trash_extras(args: argparse.Namespace, job: LibraryJob, report: Any) -> int:
    """--trash-extras: the plan (moves nothing), or with --yes the move and its outcome."""
    from ..core.trash import choices, plan_trash, trash_extras

    plan = plan_trash(job.lib, choices(report.groups), report.max_rms, progress=job.bar, cancel=job.cancel)
    if not args.yes:
        text = [f"would move {m.path}  (keeping {m.keep.name})" for m in plan.moves]
        text += [f"would not move {p}: {why}" for p, why in plan.refused]
        text.append(f"{len(plan.moves)} photos would be moved to {plan.trash}; nothing was moved. "
                    "Run again with --yes to move them." if plan.moves else "No duplicates to move.")
        emit(args, plan.to_json(), "\n".join(text))
        return 0
    result = trash_extras(job.lib, plan, progress=job.bar)
    text = [f"moved {p} to {where or result.trash}" for p, where in result.trashed]
    text += [f"could not move {p}: {why}" for p, why in result.failed]
    text.append(f"{len(result.trashed)} photos moved to {result.trash}; restore them from there if needed.")
    emit(args, result.to_json(), "\n".join(text))
    return 0


def _edit_groups(args: argparse.Namespace) -> int:
    """--rename / --merge: change the stored groups of the last run; nothing is grouped again."""
    from ..core import organize as org
    from ..core.errors import OrganizeError
    from ..core.grouping import load_grouping
    from .common import indexed_spec

    if args.rename and args.merge:
        raise OrganizeError("give --rename or --merge, one at a time")
    lib = open_library(args)
    spec = indexed_spec(lib, args.model)
    if args.rename:
        try:
            number = positive_int(args.rename[0])
        except argparse.ArgumentTypeError as e:
            raise OrganizeError(f"--rename N NAME: N is a group number ({e})") from None
        org.rename_group(lib, spec, number, args.rename[1])
    else:
        org.merge_groups(lib, spec, args.merge[0], args.merge[1])
    grouping = load_grouping(lib, spec)
    assert grouping is not None
    groups = grouping.groups
    emit(args, [g.to_json() for g in groups],  # the same document as grouping again
         "\n".join(f"  {g.cluster + 1:>2}. {g.name}: {len(g.file_ids)} photos" for g in groups))
    return 0
