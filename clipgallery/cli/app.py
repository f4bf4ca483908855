"""`models` and `gui`: the bundled models, and the desktop app."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import emit, json_option


def register(subparsers: Any) -> None:
    s = subparsers.add_parser("models", help="list the bundled models and the default")
    json_option(s)
    s.set_defaults(func=cmd_models)

    s = subparsers.add_parser("gui", help="open the desktop app (optionally on a folder)")
    s.add_argument("path", type=Path, nargs="?", metavar="PATH")
    s.add_argument("--model", metavar="SPEC", help="model for this session (default: the one in the settings)")
    s.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="device for this session")
    s.add_argument("--screenshot", type=Path, metavar="FILE",
                   help="open PATH, wait until it is indexed (and --query has run), save a screenshot, exit")
    s.add_argument("--query", metavar="TEXT", help="with --screenshot: search for TEXT first")
    s.add_argument("--panel", choices=["tags", "groups", "duplicates"],
                   help="with --screenshot: run this side-panel tab (tag, group, find duplicates) and show it")
    s.add_argument("--benchmark", action="store_true",
                   help="print the time until the window is shown, then exit (for bench/gui_startup.py)")
    s.set_defaults(func=cmd_gui)


def cmd_models(args: argparse.Namespace) -> int:
    from ..core.models import bundled_models, default_spec

    data = {"default": default_spec(),
            "bundled": [{"name": n, "description": e.get("description", "")} for n, e in bundled_models().items()]}
    text = [f"default: {data['default']}"] + [f"bundled: {b['name']}: {b['description']}" for b in data["bundled"]]
    emit(args, data, "\n".join(text))
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    if args.screenshot is not None and args.path is None:
        raise SystemExit("clipgallery gui: error: --screenshot needs a folder PATH")
    if args.query and args.screenshot is None:
        raise SystemExit("clipgallery gui: error: --query works with --screenshot")
    from ..gui.platform_check import check_display  # before Qt: its own message tells a person nothing

    problem = check_display()
    if problem is not None:
        print(f"clipgallery: error: {problem}", file=sys.stderr)
        return 1
    from ..gui.app import run

    if args.panel and args.screenshot is None:
        raise SystemExit("clipgallery gui: error: --panel works with --screenshot")
    return run(args.path, args.library_dir, args.model, args.device, args.screenshot, args.query,
               args.benchmark, args.panel)
