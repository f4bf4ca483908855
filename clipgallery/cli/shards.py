"""`embed` and `import`: a folder's vectors as Parquet shards (made in this process or as a Ray Data
job on a cluster), and shards added to a folder's library without reading its photos."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import PhaseBar, emit, graceful_cancel, json_option, open_library, positive_int


def register(subparsers: Any) -> None:
    s = subparsers.add_parser("import", help="add Parquet shards of vectors (from `embed`) to a folder's library, "
                                             "without reading the photos")
    s.add_argument("path", type=Path, metavar="PATH", help="the photo folder the shards describe")
    s.add_argument("shards", type=Path, nargs="+", metavar="SHARD_OR_DIR",
                   help="a .parquet shard, or a folder of them")
    s.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="when another process is updating the library, wait up to SECONDS for it")
    json_option(s)
    s.set_defaults(func=cmd_import)

    s = subparsers.add_parser("embed", help="encode a folder's photos into Parquet shards, in this process or "
                                            "on a Ray cluster (for `import`)")
    s.add_argument("source", type=Path, metavar="SOURCE", help="the photo folder (on a cluster: a path every "
                                                               "node reads)")
    s.add_argument("--out", type=Path, required=True, metavar="DIR", help="a new or empty folder for the shards")
    s.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: this process (default); ray: a Ray Data job (pip install 'clipgallery[cluster]')")
    s.add_argument("--address", metavar="ADDR", help="the Ray cluster to join (default: start one on this machine)")
    s.add_argument("--model", metavar="SPEC", help="model spec (default: $CLIPGALLERY_MODEL or "
                                                   "ViT-B-32:laion2b_s34b_b79k)")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                   help="for --engine local (a Ray job puts encoders on the cluster's GPUs when it has any)")
    s.add_argument("--batch-size", type=positive_int, metavar="N", help="photos per encoding batch")
    s.add_argument("--workers", type=positive_int, metavar="N", help="decoding threads (--engine local)")
    json_option(s)
    s.set_defaults(func=cmd_embed)


def cmd_import(args: argparse.Namespace) -> int:
    from ..core.importer import import_shards

    lib = open_library(args, create=True)
    bar, cancel = PhaseBar(), graceful_cancel()
    try:
        report = import_shards(lib, args.shards, progress=bar, cancel=cancel, lock_wait=args.wait)
    finally:
        bar.close()
    text = (f"{report.imported} imported, {report.skipped} skipped (already in the library) from "
            f"{report.shards} shard(s) of {report.model} in {report.seconds:.1f} s"
            + (" (cancelled: run again to finish)" if report.cancelled else ""))
    emit(args, report.to_json(), text)
    return 130 if report.cancelled else 0


def cmd_embed(args: argparse.Namespace) -> int:
    from ..core.embedjob import embed_folder
    from ..core.models import parse_spec

    spec = parse_spec(args.model).text
    bar, cancel = PhaseBar(), graceful_cancel()
    try:
        report = embed_folder(args.source, args.out, spec, engine=args.engine, address=args.address,
                              device=args.device, batch_size=args.batch_size, workers=args.workers,
                              progress=bar, cancel=cancel)
    finally:
        bar.close()
    lines = [f"{report.embedded} embedded, {len(report.failed)} failed in {report.seconds:.1f} s with {report.model} "
             f"({report.engine}): {len(report.shards)} shard(s) in {report.out}"
             + (" (cancelled)" if report.cancelled else "")]
    lines += [f"  failed: {f['path']}: {f['error']}" for f in report.failed]
    emit(args, report.to_json(), "\n".join(lines))
    return 130 if report.cancelled else 0
