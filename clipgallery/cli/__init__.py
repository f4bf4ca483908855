"""`clipgallery ...` subcommands. Thin: parse, call core, print. Heavy modules load only when used.

One module per family of commands, each with `register(subparsers)`; `common` holds what they share.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ..core.names import shown
from . import (
    app,
    common,
    desktop,
    draw,
    evaluation,
    explain,
    export,
    groups,
    library,
    organize,
    people,
    repair,
    search,
    shards,
    tags,
    text,
    watch,
)

FAMILIES = (library, shards, text, evaluation, app, search, tags, organize, groups, export, explain, draw, desktop, people, repair, watch)  # `--help` order


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
    _global_option_everywhere(p, "--library-dir", type=Path, metavar="DIR",
                              help="where the library of this folder lives (also accepted before the command)")
    return p


def _global_option_everywhere(parser: argparse.ArgumentParser, *flags: str, **kwargs: Any) -> None:
    """Accept a global option after the command too (`clipgallery index PATH --library-dir DIR`),
    where people put it; SUPPRESS keeps a value given before the command when it is not repeated."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                sub.add_argument(*flags, default=argparse.SUPPRESS, **kwargs)
                _global_option_everywhere(sub, *flags, **kwargs)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(search.glue_negative_box(sys.argv[1:] if argv is None else list(argv)))
    from ..core.errors import ClipGalleryError, database_error

    try:
        return int(args.func(args) or 0)
    except ClipGalleryError as e:
        print(f"clipgallery: error: {shown(str(e))}", file=sys.stderr)
        return 1
    except RecursionError:  # the last net: still one sentence, never a traceback
        print("clipgallery: error: the input is nested too deeply to read", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("clipgallery: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:
        lib = common.LAST_LIBRARY[0]  # a stray sqlite3 error: named after the library it came from
        err = database_error(e, lib.db_path, lib.root) if lib is not None else database_error(e, "(unknown)")
        if err is None:
            raise
        print(f"clipgallery: error: {shown(str(err))}", file=sys.stderr)
        return 1
    finally:
        lib, common.LAST_LIBRARY[0] = common.LAST_LIBRARY[0], None
        if lib is not None:
            lib.close()
