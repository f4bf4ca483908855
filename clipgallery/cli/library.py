"""`index` and `info`: build a folder's library and show what it holds."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from . import people
from .common import (
    ProgressBar,
    emit,
    graceful_cancel,
    json_option,
    load_embedder,
    open_library,
    positive_int,
    say,
)


def register(subparsers: Any) -> None:
    s = subparsers.add_parser("index", help="index (or update) the photos of a folder")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--model", metavar="SPEC", help="model spec (default: $CLIPGALLERY_MODEL or ViT-B-32:laion2b_s34b_b79k)")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    s.add_argument("--batch-size", type=positive_int, metavar="N")
    s.add_argument("--workers", type=positive_int, metavar="N", help="decoding threads")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--regional", dest="regional", action="store_true", default=None,
                   help="also store region vectors, for `similar --regional` (remembered for this folder; "
                        "about 14 KiB per photo with ViT-B-32)")
    g.add_argument("--no-regional", dest="regional", action="store_false",
                   help="stop storing region vectors and drop the stored ones")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--text", dest="text", action="store_true", default=None,
                   help="also read the text in the photos, for text:WORD searches (remembered for this folder; "
                        "the text stays in the library)")
    g.add_argument("--no-text", dest="text", action="store_false",
                   help="stop reading text in photos and delete all the text read")
    s.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="when another process is updating the library, wait up to SECONDS for it "
                        "(default: say so and exit)")
    people.add_index_options(s)
    json_option(s)
    s.set_defaults(func=cmd_index)

    s = subparsers.add_parser("info", help="show where a folder's library is and what it holds")
    s.add_argument("path", type=Path, metavar="PATH")
    json_option(s)
    s.set_defaults(func=cmd_info)


def cmd_index(args: argparse.Namespace) -> int:
    from ..core.indexer import index_folder
    from ..core.models import parse_spec
    from ..core.textread import read_after_index

    lib = open_library(args, create=True)
    if args.text is not None and (args.text != lib.text.enabled or not args.text):
        lib.text.set_enabled(args.text)
        print("Text in photos " + ("on: it is read after indexing" if args.text
                                   else "off: all the text read was deleted"), file=sys.stderr)
    if args.regional is not None and args.regional != lib.regional:
        lib.set_regional(args.regional)
        print("Region vectors " + ("on: photos indexed before get them now" if args.regional
                                   else "off: the stored ones were dropped"), file=sys.stderr)
    people.apply_index_setting(args, lib)
    spec = parse_spec(args.model).text
    loaded = []

    def load():  # only when some photo needs encoding: an up-to-date folder is checked without the model
        embedder = load_embedder(spec, args.device)
        loaded.append(embedder)
        print(f"Indexing {lib.root} with {embedder.spec} on {embedder.device} (library: {lib.dir})",
              file=sys.stderr)
        return embedder

    bar, cancel = ProgressBar(), graceful_cancel()
    generation = lib.generation
    try:
        report = index_folder(lib, load, args.batch_size, args.workers, progress=bar, cancel=cancel, spec=spec,
                              lock_wait=args.wait)
    finally:
        bar.close()
    indexed_cancelled = report.cancelled
    bar = ProgressBar(unit="photo")  # the text pass (when the folder's text is read) has its own bar
    try:
        read_after_index(lib, report, progress=bar, cancel=cancel)
    finally:
        bar.close()
    report.faces = people.run_face_pass(args, lib, cancel, lambda: ProgressBar("photo"))
    if report.faces is not None:
        report.cancelled = report.cancelled or report.faces.cancelled
    if loaded and not report.cancelled:  # the model is at hand: make the next search torch-free
        from ..core.textfast import ensure_built

        mid = lib.model_id(spec)
        ensure_built(loaded[0], lambda: lib.vectors(mid)[1] if mid is not None else None, say)
    if not report.cancelled and not lib.read_only:
        _refresh_caches(lib, spec, ann=lib.generation != generation)
    data = report.to_json()
    lines = [f"{report.indexed} indexed, {report.unchanged} unchanged, {report.reused} reused, "
             f"{report.removed} removed, {len(report.failed)} failed in {report.seconds:.1f} s"
             + (" (cancelled: run again to finish)" if indexed_cancelled else "")]
    lines += [f"  failed: {f.path}: {f.error}" for f in report.failed]
    lines += [f"  skipped folder (cannot be read; its photos are kept): {p}" for p in report.skipped_folders]
    from ..core.formats import missing_decoder

    lines += [f"  not read: {n} {ext} file(s): "
              + (missing_decoder(f"x{ext}") or "no decoder for this format is installed")
              for ext, n in sorted(report.unsupported.items())]
    if report.kept_missing:
        lines.append(f"  the folder looks empty (an unmounted drive?): the {report.kept_missing} photos "
                     "of the library were kept")
    t = report.text
    if t is not None:
        lines.append(f"text: {t.read} read ({t.with_text} with text), {t.gated} without text by the detector, "
                     f"{t.copied} copied, {len(t.failed)} failed in {t.seconds:.1f} s"
                     + (" (cancelled: run again to finish)" if t.cancelled else ""))
        lines += [f"  failed: {f.path}: {f.error}" for f in t.failed]
    emit(args, data, "\n".join(lines))
    return 130 if report.cancelled else 0


def _refresh_caches(lib: Any, spec: str, ann: bool) -> None:
    """The memory-mapped vectors and (when the run changed the library) the ANN index, brought up
    to date now that the run is over, so that the next search (a fresh process, or the app)
    starts from them (core.search). An unchanged folder leaves a missing index to the app."""
    from ..core.search import refresh_caches

    mid = lib.model_id(spec)
    if mid is not None:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C skips it: the first search does it then
            refresh_caches(lib, [mid], ann=ann, notify=say)


def cmd_info(args: argparse.Namespace) -> int:
    from ..core.indexer import last_scan

    lib = open_library(args)
    models = [{"spec": spec, "dim": dim, "vectors": n} for _, spec, dim, n in lib.models()]
    failed = [{"path": str(lib.abspath(p)), "error": e} for p, e in lib.failed_files()]
    for m, (mid, *_rest) in zip(models, lib.models()):
        m["regions"] = lib.region_count(mid)
    data = {"folder": str(lib.root), "library": str(lib.dir), "photos": lib.count(), "models": models,
            "regional": lib.regional, "failed": failed, "faces": people.faces_info(lib)}
    skipped = last_scan(lib)
    data.update(skipped)
    data["read_only"] = lib.read_only
    text = [f"folder:  {lib.root}", f"library: {lib.dir}", f"photos:  {lib.count()}",
            f"regional vectors: {'on' if lib.regional else 'off'}",
            "faces:   " + ("on ({faces} faces in {photos} photos searched, {people} people)".format(**data["faces"])
                           if data["faces"]["on"] else "off")]
    data.update({"formats": _formats_json(), "videos": lib.media.clip_count(), "raw_pairs": lib.media.pair_count()})
    text += _formats_text() + [f"videos:  {data['videos']}", f"RAW files beside their JPEGs: {data['raw_pairs']}"]
    text += [f"model:   {m['spec']} ({m['dim']}-d, {m['vectors']} vectors"
             + (f", {m['regions']} with regions)" if m["regions"] else ")") for m in models]
    text += [f"failed:  {f['path']}: {f['error']}" for f in failed]
    text += [f"skipped: {p} (folder cannot be read)" for p in skipped["skipped_folders"]]
    text += [f"skipped: {n} {ext} file(s) (no decoder installed)" for ext, n in skipped["unsupported"].items()]
    counts = lib.text.counts()
    data["text"] = {"enabled": lib.text.enabled, "read": counts.read, "with_text": counts.with_text,
                    "lines": counts.lines}
    text.append(f"text in photos: {'on' if lib.text.enabled else 'off'}"
                + (f" ({counts.read} read, {counts.with_text} with text, {counts.lines} lines)"
                   if lib.text.enabled or counts.read else ""))
    emit(args, data, "\n".join(text))
    return 0


def _formats_json() -> dict[str, bool]:
    """Every format clipgallery knows -> whether this installation reads it."""
    from ..core.formats import available

    return dict(available())


def _formats_text() -> list[str]:
    from ..core.formats import REGISTRY, available

    on = available()
    lines = ["formats: " + ", ".join(f.name for f, _ in REGISTRY if on[f.name])]
    off = [f"{f.name} (install {f.install})" for f, _ in REGISTRY if not on[f.name]]
    if off:
        lines.append("  not readable here: " + ", ".join(off))
    return lines
