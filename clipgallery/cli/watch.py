"""`watch`: index a folder, then keep its library up to date as photos come, change, move and go."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from . import people
from .common import ProgressBar, json_option, load_embedder, open_library, say

BUSY_WAIT_S = 5.0  # another process indexing the folder (`clipgallery index`): wait for it this long


def register(subparsers: Any) -> None:
    s = subparsers.add_parser(
        "watch", help="index a folder, then index its changes as they happen, until Ctrl-C",
        description="Indexes the folder once, then watches it: photos copied in, changed, moved or deleted are "
                    "indexed within seconds (moved and copied photos keep their vectors, nothing is encoded "
                    "twice). Prints one line per change; with --json, one JSON object per line. Stops on "
                    "Ctrl-C or SIGTERM.")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--model", metavar="SPEC", help="model spec (default: $CLIPGALLERY_MODEL or ViT-B-32:laion2b_s34b_b79k)")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    s.add_argument("--quiet-time", type=_seconds, default=None, metavar="SECONDS",
                   help="how long a folder must be still before its changes are indexed (default 1)")
    json_option(s)
    s.set_defaults(func=cmd_watch)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.1 <= value <= 600:
        raise argparse.ArgumentTypeError(f"must be between 0.1 and 600 seconds: {text}")
    return value


def cmd_watch(args: argparse.Namespace) -> int:
    from ..core.errors import ClipGalleryError
    from ..core.models import parse_spec
    from ..core.watch import QUIET_S, FolderWatcher, WatchError

    if not args.path.is_dir():
        raise WatchError(f"cannot watch {args.path}: it is " + ("not a folder" if args.path.exists()
                                                                 else "not there"))
    lib = open_library(args, create=True)
    spec = parse_spec(args.model).text
    stop = threading.Event()
    models: list[Any] = []

    def load() -> Any:  # only when some photo needs encoding; kept for every later run
        if not models:
            models.append(load_embedder(spec, args.device))
        return models[0]

    updating = threading.Lock()  # the first run (here) and the watcher's runs never overlap

    def update(first: bool = False) -> None:
        with updating:
            if not stop.is_set():
                _update(args, lib, models[0] if models else load, spec, stop, first)

    def failed(e: BaseException) -> None:  # later runs: say so and keep watching
        reason = str(e) if isinstance(e, ClipGalleryError) else f"unexpected error: {type(e).__name__}: {e}"
        print(f"clipgallery: error: {reason}", file=sys.stderr, flush=True)

    def on_signal(signum: int, frame: Any) -> None:
        if not stop.is_set():
            print("\nclipgallery: stopping", file=sys.stderr, flush=True)
        stop.set()  # also cancels an index run in progress (what is committed stays)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    quiet = args.quiet_time if args.quiet_time is not None else QUIET_S
    watcher = FolderWatcher(lib.root, lambda paths: update(), skip=lib.dir, quiet=quiet, on_error=failed)
    try:
        watcher.start()  # before the first run: a photo copied in meanwhile is seen
        update(first=True)
        if not stop.is_set():
            say(f"Watching {lib.root} (Ctrl-C to stop)")
        stop.wait()
    finally:
        stop.set()
        watcher.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _update(args: argparse.Namespace, lib: Any, embedder: Any, spec: str, stop: threading.Event,
            first: bool) -> None:
    """One index run (with the folder's text and face passes), printed as one line per change."""
    from ..core.indexer import index_folder
    from ..core.textread import read_after_index
    from ..core.watch import index_changes

    bar = ProgressBar() if first else None  # the first run may be a whole folder; later ones are a few photos

    def run() -> Any:
        return index_folder(lib, embedder, progress=bar, cancel=stop, spec=spec, lock_wait=BUSY_WAIT_S)

    try:
        report, changes = index_changes(lib, run)
    finally:
        if bar is not None:
            bar.close()
    read_after_index(lib, report, cancel=stop)
    if not report.cancelled and lib.faces.enabled:
        report.faces = people.run_face_pass(args, lib, stop, lambda: _NoBar())
    for c in [] if first else changes:  # the first run is the catching up: a summary
        _line(args, json.dumps(c.to_json(), ensure_ascii=False) if args.json else c.text())
    if first:
        if args.json:
            _line(args, json.dumps({"event": "ready", "folder": str(lib.root), "library": str(lib.dir),
                                    "index": report.to_json()}, ensure_ascii=False))
        say(f"{lib.count()} photos in the library ({report.indexed} indexed, {report.reused} reused, "
            f"{report.removed} removed, {len(report.failed)} failed in {report.seconds:.1f} s)")
    elif changes:
        say(f"{report.indexed} indexed, {report.reused} reused, {report.removed} removed, "
            f"{len(report.failed)} failed in {report.seconds:.1f} s")
    if report.kept_missing:
        say(f"the folder looks empty (an unmounted drive?): the {report.kept_missing} photos of the library "
            "were kept")


def _line(args: argparse.Namespace, text: str) -> None:
    from ..core.names import shown

    sys.stdout.write(shown(text) + "\n")
    sys.stdout.flush()  # a reader of the stream sees each change as it happens


class _NoBar:
    def __call__(self, p: Any) -> None:
        pass

    def close(self) -> None:
        pass
