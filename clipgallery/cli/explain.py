"""`explain`: why a photo matches a query (heatmap and concepts)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import emit, indexed_spec, json_option, load_embedder, open_library, positive_int


def register(subparsers: Any) -> None:
    s = subparsers.add_parser(
        "explain", help="why a photo matches a query: where in it (a heatmap) and which concepts",
        description="Shows which parts of PHOTO match the query (a heatmap of region-to-query similarity) "
                    "and the vocabulary concepts that carry the match, each with its share of the score.")
    s.add_argument("path", type=Path, metavar="PATH", help="the indexed photo folder")
    s.add_argument("photo", type=Path, metavar="PHOTO", help="a photo (in PATH or any image file)")
    s.add_argument("query", nargs="+", metavar="QUERY", help="the query, as for `search`")
    s.add_argument("--heatmap", type=Path, metavar="OUT.png",
                   help="write the photo with the heatmap laid over it (never overwrites)")
    s.add_argument("--concepts", type=positive_int, default=8, metavar="N", help="at most N concepts (default 8)")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    json_option(s)
    s.set_defaults(func=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    from ..core.errors import ImageError
    from ..core.explain import explain_photo, save_overlay
    from ..core.query import parse_query
    from ..core.search import Searcher
    from .search import _quote_term

    if args.heatmap is not None and args.heatmap.exists():
        raise ImageError("already exists; not overwriting it", args.heatmap)
    lib = open_library(args)
    text = " ".join(_quote_term(w) for w in args.query)
    parse_query(text, [lib.root])  # a bad query fails before the model loads
    searcher = Searcher(lib, load_embedder(indexed_spec(lib, args.model)),
                        notify=lambda m: print(m, file=sys.stderr), ann_build="never")
    result = explain_photo(searcher, args.photo, text, top=args.concepts)
    data = result.to_json()
    if args.heatmap is not None:
        data["overlay"] = str(save_overlay(result, args.heatmap).resolve())
    peak = result.peak()
    lines = [f"score {result.score:.3f}; best match around x={peak[0]:.0%}, y={peak[1]:.0%} of the photo"]
    lines += [f"{c.weight:+.3f}  {c.word}" for c in result.concepts]
    if args.heatmap is not None:
        lines.append(f"heatmap: {data['overlay']}")
    emit(args, data, "\n".join(lines))
    return 0
