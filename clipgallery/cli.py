"""`clipgallery ...` subcommands. Thin: parse, call core, print. Heavy modules load only when used."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="clipgallery",
        description="Organize a photo folder with CLIP: index, search, tag, group, find duplicates, export.",
    )
    p.add_argument("--version", action="version", version=f"clipgallery {__version__}")
    p.add_argument("--library-dir", type=Path, metavar="DIR",
                   help="where the library of this folder lives (default: one per folder in your data dir)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("index", help="index (or update) the photos of a folder")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--model", metavar="SPEC", help="model spec (default: $CLIPGALLERY_MODEL or ViT-B-32:laion2b_s34b_b79k)")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    s.add_argument("--batch-size", type=_positive_int, metavar="N")
    s.add_argument("--workers", type=_positive_int, metavar="N", help="decoding threads")
    _json(s)
    s.set_defaults(func=cmd_index)

    s = sub.add_parser("info", help="show where a folder's library is and what it holds")
    s.add_argument("path", type=Path, metavar="PATH")
    _json(s)
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("models", help="list the bundled models and the default")
    _json(s)
    s.set_defaults(func=cmd_models)
    return p


def _json(s: argparse.ArgumentParser) -> None:
    s.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {n}")
    return n


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .core.errors import ClipGalleryError

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


# -- helpers shared by the commands ----------------------------------------------------------------


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """One JSON document with --json, else the human text; stdout only ever gets this."""
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    elif text:
        print(text)


def open_library(args: argparse.Namespace, create: bool = False):
    from .core.library import Library

    return Library(args.path, args.library_dir, create=create)


class ProgressBar:
    """Turns core Progress callbacks into a tqdm bar on stderr."""

    def __init__(self, unit: str = "img"):
        self.unit = unit
        self.bar = None

    def __call__(self, p) -> None:
        from tqdm import tqdm

        if p.phase == "scanning":
            return
        if self.bar is None:
            if p.total == 0:
                return
            self.bar = tqdm(total=p.total, unit=self.unit, file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
        self.bar.n = p.done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def graceful_cancel() -> threading.Event:
    """First Ctrl-C asks the running job to stop after the current batch; a second one aborts."""
    cancel = threading.Event()

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nclipgallery: stopping after the current batch (Ctrl-C again to abort)", file=sys.stderr)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
    return cancel


# -- commands --------------------------------------------------------------------------------------


def cmd_index(args: argparse.Namespace) -> int:
    from .core.embed import Embedder
    from .core.indexer import index_folder

    lib = open_library(args, create=True)
    print(f"Loading model {args.model or 'default'}...", file=sys.stderr)
    embedder = Embedder.load(args.model, args.device)
    print(f"Indexing {lib.root} with {embedder.spec} on {embedder.device} "
          f"(library: {lib.dir})", file=sys.stderr)
    bar = ProgressBar()
    try:
        report = index_folder(lib, embedder, args.batch_size, args.workers, progress=bar, cancel=graceful_cancel())
    finally:
        bar.close()
    data = report.to_json()
    lines = [f"{report.indexed} indexed, {report.unchanged} unchanged, {report.reused} reused, "
             f"{report.removed} removed, {len(report.failed)} failed in {report.seconds:.1f} s"
             + (" (cancelled: run again to finish)" if report.cancelled else "")]
    lines += [f"  failed: {f.path}: {f.error}" for f in report.failed]
    emit(args, data, "\n".join(lines))
    return 130 if report.cancelled else 0


def cmd_info(args: argparse.Namespace) -> int:
    lib = open_library(args)
    models = [{"spec": spec, "dim": dim, "vectors": n} for _, spec, dim, n in lib.models()]
    failed = [{"path": str(lib.abspath(p)), "error": e} for p, e in lib.failed_files()]
    data = {"folder": str(lib.root), "library": str(lib.dir), "photos": lib.count(), "models": models,
            "failed": failed}
    text = [f"folder:  {lib.root}", f"library: {lib.dir}", f"photos:  {lib.count()}"]
    text += [f"model:   {m['spec']} ({m['dim']}-d, {m['vectors']} vectors)" for m in models]
    text += [f"failed:  {f['path']}: {f['error']}" for f in failed]
    emit(args, data, "\n".join(text))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .core.models import bundled_models, default_spec

    data = {"default": default_spec(),
            "bundled": [{"name": n, "description": e.get("description", "")} for n, e in bundled_models().items()]}
    text = [f"default: {data['default']}"] + [f"bundled: {b['name']}: {b['description']}" for b in data["bundled"]]
    emit(args, data, "\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
