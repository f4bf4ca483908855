"""`tag`, `teach` and `labels`: zero-shot label sets and taught tags."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import LibraryJob, emit, fraction, json_option


def register(subparsers: Any) -> None:
    s = subparsers.add_parser("tag", help="tag every photo zero-shot with a label set (emotions by default)",
                       description="Each photo gets its best label and every label scoring at least the "
                                   "threshold. LABELS is a built-in set (emotions, concepts), a JSON file "
                                   '({"name": ..., "labels": [...]}), a set applied before, or "taught" '
                                   "to re-apply the taught tags.")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--labels", default="emotions", metavar="emotions|FILE", help="label set (default: emotions)")
    s.add_argument("--threshold", type=fraction, metavar="T",
                   help="also keep every label scoring at least T (0..1; default: the set's own)")
    s.add_argument("--strategy", choices=["templates", "descriptions", "both"], default="both",
                   help="text side: prompt templates, per-label descriptions, or both averaged (default)")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    s.add_argument("photos", nargs="*", type=Path, metavar="PHOTO",
                   help="with --add/--remove: the photos to tag by hand")
    hand = s.add_mutually_exclusive_group()
    # LABEL PHOTO... in one option: argparse cannot give a second positional list after an option.
    hand.add_argument("--add", nargs="+", metavar=("LABEL", "PHOTO"),
                      help="put a hand-made tag on photos (kept when re-tagging)")
    hand.add_argument("--remove", nargs="+", metavar=("LABEL", "PHOTO"),
                      help="take a tag off photos: a hand-made one, or a wrong zero-shot one (for good)")
    hand.add_argument("--rename", nargs=2, metavar=("OLD", "NEW"),
                      help="rename a hand-made tag on every photo (into an existing tag: the two become one)")
    hand.add_argument("--delete", metavar="LABEL", help="take a hand-made tag off every photo")
    json_option(s)
    s.set_defaults(func=cmd_tag)

    s = subparsers.add_parser("teach", help="teach a tag from a few example photos, then tag the whole folder",
                       description="Trains a small classifier on the examples' vectors. Without --negatives, "
                                   "random photos of the folder serve as counter-examples.")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("label", metavar="LABEL")
    s.add_argument("--examples", type=Path, nargs="+", required=True, metavar="IMG",
                   help="photos of the tag: indexed photos of PATH or any image files")
    s.add_argument("--negatives", type=Path, nargs="+", default=[], metavar="IMG", help="photos that are not")
    s.add_argument("--threshold", type=fraction, default=0.5, metavar="T", help="probability to tag (default 0.5)")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    json_option(s)
    s.set_defaults(func=cmd_teach)

    s = subparsers.add_parser("labels", help="list the label sets and taught tags of a folder, with photo counts")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    json_option(s)
    s.set_defaults(func=cmd_labels)


def cmd_tag(args: argparse.Namespace) -> int:
    from ..core import tagging
    from ..core.errors import QueryError

    if args.add is not None or args.remove is not None:
        return _hand_tag(args)
    if args.photos:
        raise QueryError("photos go with --add LABEL or --remove LABEL (plain `tag PATH` tags every photo)")
    if args.rename is not None or args.delete is not None:
        return _edit_tag(args)
    job = LibraryJob(args)
    lib, spec = job.lib, job.spec
    if args.labels.strip().lower() == tagging.TAUGHT:
        probes = tagging.list_probes(lib, spec)
        if not probes:
            raise QueryError(f"no taught tags yet: teach one with `clipgallery teach {lib.root} LABEL "
                                     "--examples IMG...`")
        reports = [tagging.apply_probe(lib, spec, p.name) for p in probes]
        by_file: dict = {}
        for r in reports:
            for ph in r.photos:
                by_file.setdefault(str(ph.path), []).extend(ph.tags)
        data = [{"path": path, "tags": [{"label": t.label, "score": round(t.score, 4)}
                                        for t in sorted(tags, key=lambda t: -t.score)]}
                for path, tags in sorted(by_file.items())]
        emit(args, data, "\n".join(f"{r.probe.name}: {len(r.photos)} photos" for r in reports))
        return 0
    label_set = tagging.load_label_set(args.labels, lib, spec)
    with job:
        report = tagging.tag_library(lib, job.embedder(), label_set, args.threshold, args.strategy, job.bar,
                                     job.cancel)
    if report.cancelled:
        print("clipgallery: cancelled; the tags were left as they were", file=sys.stderr)
        return 130
    text = [f"{label_set.name}: {len(report.photos)} photos tagged (threshold {report.threshold:.2f})"]
    text += [f"  {lab}: {n}" for lab, n in report.counts.items()]
    emit(args, report.to_json(), "\n".join(text))
    return 0


def cmd_teach(args: argparse.Namespace) -> int:
    from ..core import tagging

    job = LibraryJob(args)
    report = tagging.teach(job.lib, job.spec, args.label, args.examples, args.negatives,
                           embedder=job.embedder, threshold=args.threshold)
    p = report.probe
    text = [f"taught '{p.name}' from {p.positives} examples and {p.negatives} "
            f"{'random background photos' if p.background else 'counter-examples'}: {len(report.photos)} photos"]
    text += [f"  {ph.tags[0].score:.3f}  {ph.path}" for ph in report.photos]
    emit(args, report.to_json(), "\n".join(text))
    return 0


def cmd_labels(args: argparse.Namespace) -> int:
    from ..core import tagging

    job = LibraryJob(args)
    lib = job.lib
    sets = tagging.label_set_summaries(lib, job.spec)
    data = [{"name": s.name, "kind": s.kind, "counts": s.counts, "strategy": s.strategy,
             "threshold": s.threshold} for s in sets]
    text = []
    for s in sets:
        text.append(f"{s.name} ({s.kind}):")
        text += [f"  {lab}: {n}" for lab, n in s.counts.items()]
    if not sets:
        text = [f"no label sets applied yet: try `clipgallery tag {lib.root}`"]
    emit(args, data, "\n".join(text))
    return 0


def _hand_tag(args: argparse.Namespace) -> int:
    from ..core import organize as org
    from ..core.errors import OrganizeError
    from .common import open_library

    adding = args.add is not None
    label_text, *more = args.add if adding else args.remove
    photos = list(args.photos) + [Path(p) for p in more]
    if not photos:
        raise OrganizeError(f"name the photos: clipgallery tag PATH --{'add' if adding else 'remove'} LABEL PHOTO...")
    label = org.clean_name(label_text, "tag")
    lib = open_library(args)
    ids = org.resolve_photos(lib, photos)
    if adding:
        org.add_tag(lib, label, ids)
    else:
        org.remove_tag(lib, label, ids)
    paths = {f.id: f.path for f in lib.files(ids)}
    data = {"label": label, "action": "add" if adding else "remove",
            "photos": [{"path": str(paths[i]), "tags": list(m.tags)} for i, m in org.marks_of(lib, ids).items()]}
    emit(args, data, f"{'tagged' if adding else 'untagged'} {len(ids)} photos {'with' if adding else 'from'} '{label}'")
    return 0


def _edit_tag(args: argparse.Namespace) -> int:
    """--rename OLD NEW / --delete LABEL: a hand-made tag on every photo that carries it."""
    from ..core import organize as org
    from .common import open_library

    lib = open_library(args)
    if args.rename is not None:
        old, new = args.rename
        ids = org.rename_tag(lib, old, new)
        label = org.clean_name(new, "tag")
        action, text = "rename", f"renamed '{org.clean_name(old, 'tag')}' to '{label}' on {len(ids)} photos"
    else:
        ids = org.delete_tag(lib, args.delete)
        label = org.clean_name(args.delete, "tag")
        action, text = "delete", f"deleted the tag '{label}' from {len(ids)} photos"
    paths = {f.id: f.path for f in lib.files(ids)}
    data = {"label": label, "action": action,
            "photos": [{"path": str(paths[i]), "tags": list(m.tags)} for i, m in org.marks_of(lib, ids).items()]}
    if args.rename is not None:
        data["from"] = org.clean_name(args.rename[0], "tag")
    emit(args, data, text)
    return 0
