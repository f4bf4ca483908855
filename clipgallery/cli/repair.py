"""`clipgallery repair PATH`: rebuild a damaged library from what can still be read."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import emit, json_option


def register(subparsers: Any) -> None:
    s = subparsers.add_parser("repair", help="rebuild a damaged library, keeping everything still readable",
                              description="Checks the library of PATH (SQLite quick_check) and, when it is damaged, "
                                          "copies every readable row into a new file; the damaged file is kept "
                                          "beside it. Run `clipgallery index PATH` afterwards to encode what was "
                                          "lost.")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--force", action="store_true", help="rebuild even when no damage is found")
    json_option(s)
    s.set_defaults(func=cmd_repair)


def cmd_repair(args: argparse.Namespace) -> int:
    from ..core.library import Library, default_library_dir
    from ..core.repair import repair_library

    root = Path(args.path).expanduser().resolve()
    lib_dir = Path(args.library_dir).expanduser().resolve() if args.library_dir else default_library_dir(root)
    report = repair_library(lib_dir, force=args.force)
    Library(root, lib_dir, create=False).close()  # the rebuilt file opens, and belongs to this folder
    if not report.was_damaged and report.damaged_copy is None:
        emit(args, report.to_json(), f"the library at {lib_dir} is not damaged: nothing to repair")
        return 0
    lines = [f"repaired the library at {lib_dir}; the damaged file is kept as {report.damaged_copy}"]
    lines += [f"  {t}: {n} rows could not be read" for t, n in report.lost.items()]
    lines.append(f"run `clipgallery index {root}` to index again what was lost")
    print(lines[-1], file=sys.stderr)
    emit(args, report.to_json(), "\n".join(lines))
    return 0
