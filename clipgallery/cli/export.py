"""`export`: copy or link groups, a tag or a search result into folders, with a manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import LibraryJob, emit, json_option, positive_int, threshold
from .organize import stars_value


def register(subparsers: Any) -> None:
    s = subparsers.add_parser("export", help="copy (or link) groups, a tag or a search result into folders",
                       description="Writes DEST/<group>/<file> and a manifest (CSV and JSON). Originals are "
                                   "never changed and nothing in DEST is overwritten. Note: a hard link "
                                   "shares its bytes with the original, so editing it edits the original.")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--dest", type=Path, required=True, metavar="DIR")
    what = s.add_mutually_exclusive_group()
    what.add_argument("--clusters", "--groups", dest="clusters", action="store_true",
                      help="the groups of the last `clipgallery group` (or `cluster`)")
    what.add_argument("--query", metavar="TEXT", help="the results of a search")
    what.add_argument("--person", metavar="NAME", help="the photos of a named person, in a folder named after them")
    # Alone, --album or --tag is what is exported (one folder); beside --clusters or --query, like
    # --min-stars and --favourites, it narrows that down.
    s.add_argument("--album", metavar="NAME", help="the photos of an album (or, with another source: only those)")
    s.add_argument("--tag", metavar="LABEL", help="the photos tagged LABEL (or, with another source: only those)")
    s.add_argument("--min-stars", type=stars_value, metavar="N", help="only photos with at least N stars")
    s.add_argument("--favourites", "--favorites", dest="favourites", action="store_true", help="only favourites")
    s.add_argument("--xmp", action="store_true",
                   help="write stars, favourite and tags into an XMP sidecar beside each copy (IMG_1.jpg.xmp), "
                        "as digiKam and Lightroom read them; an existing sidecar is never overwritten")
    s.add_argument("--label-set", metavar="NAME", help="with --tag: the label set LABEL belongs to")
    s.add_argument("-k", type=positive_int, default=50, metavar="N", help="with --query: at most N photos")
    s.add_argument("--threshold", type=threshold, metavar="T",
                   help="with --query: only results scoring at least T, or 'auto' (where the matches end)")
    s.add_argument("--mode", choices=["copy", "hardlink", "symlink"], default="copy")
    s.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    s.add_argument("--force", action="store_true", help="allow a destination inside the photo folder")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    json_option(s)
    s.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ..core import export as ex
    from ..core.organize import MarkFilter

    if not (args.clusters or args.query is not None or args.person is not None or args.album is not None or args.tag is not None
            or args.min_stars or args.favourites):
        from ..core.errors import OrganizeError

        raise OrganizeError("choose what to export: --clusters, --query TEXT, --person NAME, --tag LABEL, --album NAME, "
                            "--min-stars N or --favourites")
    job = LibraryJob(args)
    lib, spec = job.lib, job.spec
    marks = MarkFilter(args.album, args.min_stars, args.favourites, args.tag)
    if args.clusters:
        selection = ex.filter_selection(lib, ex.select_groups(lib, spec), marks)
    elif args.query is not None:
        selection = ex.select_query(lib, job.embedder(), args.query, args.k, args.threshold, marks)
    elif args.person is not None:
        from .people import select_person

        selection = ex.filter_selection(lib, ex.with_file_ids(lib, select_person(lib, args.person)), marks)
    elif args.album is not None:
        selection = ex.filter_selection(lib, ex.select_album(lib, args.album), MarkFilter(
            None, args.min_stars, args.favourites, args.tag))
    elif args.tag is not None:
        selection = ex.filter_selection(lib, ex.select_tag(lib, spec, args.tag, args.label_set), MarkFilter(
            None, args.min_stars, args.favourites, None))
    else:
        selection = ex.select_marked(lib, marks)
    sidecars = ex.xmp_for(lib, spec, selection) if args.xmp else None
    plan = ex.plan_export(selection, args.dest, lib.root, args.mode, args.force, sidecars)
    for path in plan.missing:
        print(f"clipgallery: skipped (no longer exists): {path}", file=sys.stderr)
    if args.dry_run:
        result = ex.ExportResult(plan, skipped=[(p, "no longer exists") for p in plan.missing],
                                 already=plan.already, dry_run=True)
        emit(args, result.to_json(), "dry run, nothing written. " + plan.describe())
        return 0
    with job:
        result = ex.run_export(plan, job.bar, job.cancel)
    text = [f"{len(result.written)} photos exported to {plan.dest} ({plan.mode})"
            + (" before being cancelled" if result.cancelled else "")
            + (f"; {len(result.already)} already there from an earlier export" if result.already else "")]
    text += [f"  skipped: {p}: {r}" for p, r in result.skipped]
    if result.manifest_csv is not None:
        text.append(f"manifest: {result.manifest_csv}")
    emit(args, result.to_json(), "\n".join(text))
    return 130 if result.cancelled else 0
