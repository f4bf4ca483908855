"""`draw`: CLIPDraw, a drawing of coloured strokes optimised until the model reads it as a text."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import ProgressBar, emit, graceful_cancel, json_option, load_embedder, positive_int


def register(subparsers: Any) -> None:
    s = subparsers.add_parser(
        "draw", help="draw a text with coloured strokes (CLIPDraw): see what the model reads into words",
        description="Optimises coloured Bézier strokes so that the model, shown randomly cropped and warped "
                    "copies of the drawing, matches it to TEXT. No training; minutes on a CPU, seconds on a GPU.")
    s.add_argument("text", metavar="TEXT", help="what to draw")
    s.add_argument("--out", type=Path, required=True, metavar="FILE.png", help="the PNG to write (never overwrites)")
    s.add_argument("--model", metavar="SPEC", help="the model to draw for (default: the default model)")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    s.add_argument("--strokes", type=positive_int, default=16, metavar="N", help="number of strokes (default 16)")
    s.add_argument("--steps", type=positive_int, default=200, metavar="N", help="optimisation steps (default 200)")
    s.add_argument("--size", type=positive_int, default=256, metavar="PX", help="side of the PNG (default 256)")
    s.add_argument("--seed", type=int, default=0)
    json_option(s)
    s.set_defaults(func=cmd_draw)


def cmd_draw(args: argparse.Namespace) -> int:
    from ..core.draw import draw, save_new
    from ..core.errors import ImageError
    from ..core.models import default_spec

    out = args.out.expanduser()
    if out.exists():
        raise ImageError("already exists; not overwriting it", out)
    if not out.parent.is_dir():
        raise ImageError("the folder to write into does not exist", out.parent)
    embedder = load_embedder(args.model or default_spec(), args.device)
    bar = ProgressBar(unit="step")
    try:
        result = draw(embedder, args.text, strokes=args.strokes, steps=args.steps, seed=args.seed,
                      out_size=args.size, progress=bar, cancel=graceful_cancel())
    finally:
        bar.close()
    path = save_new(result.image, out).resolve()
    data = {"out": str(path), "text": args.text, "model": embedder.spec, "score": round(result.score, 6),
            "strokes": args.strokes, "steps": result.steps, "seconds": round(result.seconds, 2)}
    print(f"drew '{args.text}' in {result.seconds:.0f} s (score {result.score:.3f})", file=sys.stderr)
    emit(args, data, str(path))
    return 0
