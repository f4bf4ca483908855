"""`text`: the lines of text read in a photo (`index --text` reads them; `search text:WORD` finds them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import emit, json_option, open_library


def register(subparsers: Any) -> None:
    s = subparsers.add_parser("text", help="print the lines of text read in a photo (needs `index --text`)")
    s.add_argument("path", type=Path, metavar="PATH", help="the photo folder")
    s.add_argument("photo", type=Path, metavar="PHOTO", help="a photo in it (absolute, or relative to PATH)")
    json_option(s)
    s.set_defaults(func=cmd_text)


def cmd_text(args: argparse.Namespace) -> int:
    from ..core.errors import LibraryError

    lib = open_library(args)
    photo = args.photo.expanduser()
    if not photo.is_absolute() and not photo.exists():
        photo = lib.root / photo
    rel = lib.relpath_of(photo)
    fid = lib.file_ids([rel]).get(rel) if rel is not None else None
    if fid is None:
        raise LibraryError(f"{args.photo} is not an indexed photo of {lib.root}")
    if not lib.text.was_read(fid):
        raise LibraryError(f"the text of {args.photo} has not been read: run `clipgallery index {lib.root} --text`")
    found = lib.text.lines(fid)
    data = {"path": str(lib.abspath(rel)),
            "lines": [{"text": ln.text, "box": [list(p) for p in ln.box], "confidence": round(ln.confidence, 4)}
                      for ln in found]}
    if not found and not args.json:
        print("no text found in this photo", file=sys.stderr)
    emit(args, data, "\n".join(ln.text for ln in found))
    return 0
