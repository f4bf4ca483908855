"""`clipgallery text` and the --text options of `index` and `info`: the text read in photos."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any


def add_index_options(s: argparse.ArgumentParser) -> None:
    g = s.add_mutually_exclusive_group()
    g.add_argument("--text", dest="text", action="store_true", default=None,
                   help="also read the text in the photos, for text:WORD searches (remembered for this folder; "
                        "the text stays in the library)")
    g.add_argument("--no-text", dest="text", action="store_false",
                   help="stop reading text in photos and delete all the text read")


def register(sub) -> None:
    s = sub.add_parser("text", help="print the lines of text read in a photo (needs `index --text`)")
    s.add_argument("path", type=Path, metavar="PATH", help="the photo folder")
    s.add_argument("photo", type=Path, metavar="PHOTO", help="a photo in it (absolute, or relative to PATH)")
    s.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    s.set_defaults(func=cmd_text)


def apply_setting(args: argparse.Namespace, lib) -> None:
    if getattr(args, "text", None) is None:
        return
    from .core.textstore import TextStore

    store = TextStore(lib)
    if args.text != store.enabled or not args.text:
        store.set_enabled(args.text)
        print("Text in photos " + ("on: it is read after indexing" if args.text
                                   else "off: all the text read was deleted"), file=sys.stderr)


def read_after_index(lib, data: dict[str, Any], lines: list[str], cancel: threading.Event) -> bool:
    """The reading pass of `index` when the folder's setting is on; True when it was cancelled."""
    from .cli import ProgressBar
    from .core.textread import read_folder
    from .core.textstore import TextStore

    if cancel.is_set() or not TextStore(lib).enabled:
        return False
    bar = ProgressBar(unit="photo")
    try:
        report = read_folder(lib, progress=bar, cancel=cancel)
    finally:
        bar.close()
    data["text"] = report.to_json()
    lines.append(f"text: {report.read} read ({report.with_text} with text), {report.gated} without text by the "
                 f"detector, {report.copied} copied, {len(report.failed)} failed in {report.seconds:.1f} s"
                 + (" (cancelled: run again to finish)" if report.cancelled else ""))
    lines += [f"  failed: {f.path}: {f.error}" for f in report.failed]
    return report.cancelled


def add_info(lib, data: dict[str, Any], text: list[str]) -> None:
    from .core.textstore import TextStore

    store = TextStore(lib)
    counts = store.counts()
    data["text"] = {"enabled": store.enabled, **counts}
    text.append(f"text in photos: {'on' if store.enabled else 'off'}"
                + (f" ({counts['read']} read, {counts['with_text']} with text, {counts['lines']} lines)"
                   if store.enabled or counts["read"] else ""))


def cmd_text(args: argparse.Namespace) -> int:
    from .cli import emit, open_library
    from .core.errors import LibraryError
    from .core.textstore import TextStore

    lib = open_library(args)
    photo = args.photo.expanduser()
    if not photo.is_absolute() and not photo.exists():
        photo = lib.root / photo
    rel = lib.relpath_of(photo)
    fid = lib.file_ids([rel]).get(rel) if rel is not None else None
    if fid is None:
        raise LibraryError(f"{args.photo} is not an indexed photo of {lib.root}")
    store = TextStore(lib)
    if not store.was_read(fid):
        raise LibraryError(f"the text of {args.photo} has not been read: run `clipgallery index {lib.root} --text`")
    found = store.lines(fid)
    data = {"path": str(lib.abspath(rel)),
            "lines": [{"text": ln.text, "box": [list(p) for p in ln.box], "confidence": round(ln.confidence, 4)}
                      for ln in found]}
    if not found and not args.json:
        print("no text found in this photo", file=sys.stderr)
    emit(args, data, "\n".join(ln.text for ln in found))
    return 0
