"""`clipgallery ...` subcommands. Thin: parse, call core, print. Heavy modules load only when used.

One module per family of commands, each with `register(subparsers)`; `common` holds what they share.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import __version__
from . import app, evaluation, export, groups, library, search, tags

FAMILIES = (library, evaluation, app, search, tags, groups, export)  # the order `--help` lists them in


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="clipgallery",
        description="Organize a photo folder with CLIP: index, search, tag, group, find duplicates, export.",
    )
    p.add_argument("--version", action="version", version=f"clipgallery {__version__}")
    p.add_argument("--library-dir", type=Path, metavar="DIR",
                   help="where the library of this folder lives (default: one per folder in your data dir)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for family in FAMILIES:
        family.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..core.errors import ClipGalleryError

    try:
        return int(args.func(args) or 0)
    except ClipGalleryError as e:
        print(f"clipgallery: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("clipgallery: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
