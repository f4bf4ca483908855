"""`people`, and the face options that index/info (cli.library), search/similar (cli.search) and
export (cli.export) take from here."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import emit, json_option, open_library


def register(subparsers: Any) -> None:
    s = subparsers.add_parser(
        "people", help="list the people found in the photos (index with --faces first); name, merge, hide",
        description="Lists people with two faces or more (--all: also those seen once). Actions run first, "
                    "then the list is printed. Face ids are in the JSON (face_list).")
    s.add_argument("path", metavar="PATH", type=Path)
    s.add_argument("--all", action="store_true", help="also people seen only once, and hidden people")
    s.add_argument("--name", nargs=2, metavar=("ID", "NAME"), help="name a person (an empty NAME removes it)")
    s.add_argument("--merge", nargs=2, type=int, metavar=("ID", "ID"),
                   help="the second person's faces join the first")
    s.add_argument("--not", dest="not_face", type=int, metavar="FACE_ID",
                   help="not this person: the face leaves its person")
    s.add_argument("--hide", type=int, metavar="ID", help="hide a person from the list")
    s.add_argument("--unhide", type=int, metavar="ID", help="show a hidden person again")
    s.add_argument("--recluster", action="store_true",
                   help="group the faces again from scratch (named, merged and hidden people stay)")
    json_option(s)
    s.set_defaults(func=cmd_people)


def add_index_options(s: argparse.ArgumentParser) -> None:
    g = s.add_mutually_exclusive_group()
    g.add_argument("--faces", dest="faces", action="store_true", default=None,
                   help="also find faces and group them into people (remembered for this folder; the "
                        "faces stay in the local library)")
    g.add_argument("--no-faces", dest="faces", action="store_false",
                   help="stop finding faces and delete every face, person and name stored")


def apply_index_setting(args: argparse.Namespace, lib: Any) -> None:
    store = lib.faces
    if args.faces is not None and args.faces != store.enabled:
        store.set_enabled(args.faces)
        print("Faces " + ("on: photos already indexed are searched for faces now" if args.faces
                          else "off: every face, person and name was deleted"), file=sys.stderr)
    elif args.faces is False:
        store.set_enabled(False)  # also when already off: leaves no face data behind


def run_face_pass(args: argparse.Namespace, lib: Any, cancel: threading.Event,
                  bar_factory: Callable[[], Any]) -> Any:
    """The face pass after CLIP indexing, when the folder's setting is on: core's FaceReport, or None."""
    from ..core.faces import index_faces

    if not lib.faces.enabled or cancel.is_set():
        return None
    bar = bar_factory()
    try:
        report = index_faces(lib, progress=bar, cancel=cancel, workers=getattr(args, "workers", None))
    finally:
        bar.close()
    print(f"Faces: {report.photos} photos searched, {report.faces} faces, {report.people} people"
          + (" (cancelled: run again to finish)" if report.cancelled else ""), file=sys.stderr)
    for f in report.failed:
        print(f"  faces failed: {f.path}: {f.error}", file=sys.stderr)
    return report


def faces_info(lib: Any) -> dict[str, Any]:
    store = lib.faces
    return {"on": store.enabled, "photos": store.scanned_count(), "faces": store.face_count(),
            "people": len(store.people())}


def add_person_option(s: argparse.ArgumentParser) -> None:
    s.add_argument("--person", metavar="NAME", help="only photos of this named person (see `clipgallery people`)")


def select_person(lib: Any, name: str) -> list[Any]:
    """export --person: the person's photos, in a folder named after them."""
    from ..core.export import Selected
    from ..core.faces import person_selection

    display, paths = person_selection(lib, name)
    return [Selected(p, display) for p in paths]


def cmd_people(args: argparse.Namespace) -> int:
    from ..core.errors import LibraryError
    from ..core.faces import recluster

    lib = open_library(args)
    store = lib.faces
    if not store.enabled and not store.scanned_count():
        raise LibraryError(f"faces are off for {lib.root}: turn them on with "
                           f"`clipgallery index {lib.root} --faces`")
    if args.name:
        store.rename(_int(args.name[0]), args.name[1])
    if args.merge:
        store.merge(*args.merge)
    if args.not_face is not None:
        pid = store.move_out(args.not_face)
        print(f"face {args.not_face} is now person {pid}", file=sys.stderr)
    if args.hide is not None:
        store.hide(args.hide, True)
    if args.unhide is not None:
        store.hide(args.unhide, False)
    if args.recluster:
        recluster(lib)
    people = store.people(min_faces=1 if args.all else 2, hidden=args.all)
    text = [f"{p.id:>4}  {p.name or '(no name)'}: {len(p.paths)} photos, {len(p.faces)} faces"
            + (" (hidden)" if p.hidden else "") + f", cover {p.cover.path if p.cover else '-'}" for p in people]
    if not people:
        text = ["no people yet" + ("" if args.all else " seen twice or more (--all lists everyone)")]
    emit(args, [p.to_json() for p in people], "\n".join(text))
    return 0


def _int(text: str) -> int:
    from ..core.errors import LibraryError

    try:
        return int(text)
    except ValueError:
        raise LibraryError(f"a person is given by its number (see `clipgallery people PATH`), not {text!r}") from None
