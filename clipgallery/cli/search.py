"""`search` and `similar`: the query language and search options -> core SearchOptions -> hits."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import (
    clock,
    emit,
    indexed_spec,
    json_option,
    load_embedder,
    open_library,
    positive_int,
    say,
    threshold,
)
from .people import add_person_option


def register(subparsers: Any) -> None:
    s = subparsers.add_parser(
        "search", help="find photos by words and/or example images",
        description="Words form the text query; +term / -term add / subtract a concept; 2:term or "
                    "-0.5:term weight it; \"quoted phrases\" stay together; a path to an image file is an "
                    "image term. Example: clipgallery search ~/Photos kids on the beach -people")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("query", nargs=argparse.REMAINDER, metavar="QUERY...", help="the query (see above)")
    _search_options(s)
    s.set_defaults(func=cmd_search)

    s = subparsers.add_parser("similar", help="find photos that look like an image (indexed or any file)")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("image", type=Path, metavar="IMAGE")
    s.add_argument("--regional", action="store_true",
                   help="match the parts of the image: finds photos that share an object or a building "
                        "even when the scenes differ (needs `index --regional`)")
    s.add_argument("--box", type=_box, metavar="L,T,R,B",
                   help="with --regional: only this part of IMAGE, as fractions of its width and height "
                        "(0.5,0,1,0.5 is the top right quarter)")
    _search_options(s)
    s.set_defaults(func=cmd_similar)


_SEARCH_VALUE_OPTIONS = ("-k", "--threshold", "--after", "--before", "--in", "--sort", "--model", "--tag",
                         "--album", "--min-stars", "--library-dir", "--person")
_SEARCH_FLAGS = ("--exact", "--json", "--favourites", "--favorites")


def mark_options(s: argparse.ArgumentParser) -> None:
    """The hand-made filters (search, similar, export): core SearchOptions' album/min_stars/favourites/tag."""
    from .organize import stars_value

    s.add_argument("--album", metavar="NAME", help="only photos in this album (see `clipgallery album`)")
    s.add_argument("--min-stars", type=stars_value, metavar="N", help="only photos with at least N stars")
    s.add_argument("--favourites", "--favorites", dest="favourites", action="store_true",
                   help="only favourites")
    s.add_argument("--tag", metavar="LABEL",
                   help="only photos tagged LABEL, by hand or zero-shot (see `clipgallery tag`)")


def _search_options(s: argparse.ArgumentParser) -> None:
    """The options shared by search and similar (also parsed again from after the query words)."""
    s.add_argument("-k", type=positive_int, default=50, metavar="N", help="at most N results (default 50)")
    s.add_argument("--threshold", type=threshold, metavar="T",
                   help="only results scoring at least T (cosine, -1..1), or 'auto': where the matches end")
    s.add_argument("--after", type=_date, metavar="DATE", help="only photos taken on or after DATE (YYYY-MM-DD)")
    s.add_argument("--before", type=_date, metavar="DATE", help="only photos taken before DATE (YYYY-MM-DD)")
    s.add_argument("--in", dest="within", metavar="SUBFOLDER", help="only photos in this subfolder of PATH")
    s.add_argument("--sort", choices=["score", "date", "oldest", "name"], default="score",
                   help="best first (score), newest first (date), oldest first, or by file name")
    s.add_argument("--exact", action="store_true", help="exact search even in a large library (slower)")
    s.add_argument("--model", metavar="SPEC", help="which indexed model to search with (default: the main one)")
    mark_options(s)
    add_person_option(s)
    json_option(s)


def _date(text: str) -> float:
    """YYYY-MM-DD or a full ISO date-time -> POSIX seconds; without a zone it is local time, like EXIF."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None


def _query_text(args: argparse.Namespace) -> str:
    """Join the QUERY words into one query string; options typed after them are parsed here.

    argparse would take a term like -red (or worse, -kids as "-k ids") for an option, so the
    words are collected raw and only exact option names are pulled out of them.
    """
    opts = argparse.ArgumentParser(prog="clipgallery search", add_help=False)
    _search_options(opts)
    opts.add_argument("--library-dir", type=Path, default=argparse.SUPPRESS)
    words, pulled, tokens = [], [], list(args.query)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        name = tok.split("=", 1)[0] if tok.startswith("--") else tok
        if tok == "--":
            words += tokens[i + 1:]
            break
        if name in _SEARCH_FLAGS:
            pulled.append(tok)
        elif name in _SEARCH_VALUE_OPTIONS:
            take = 1 if "=" in tok else 2
            pulled += tokens[i:i + take]
            i += take - 1
        else:
            words.append(tok)
        i += 1
    opts.parse_args(pulled, namespace=args)  # sets only what was given; earlier values stay
    return " ".join(_quote_term(w) for w in words)


def _quote_term(word: str) -> str:
    """Keep a shell-quoted argument with spaces ("blue sky", "-2:blue sky", a path) one term."""
    import re

    if not any(c.isspace() for c in word) or '"' in word:
        return word
    prefix, body = re.match(r"([+-]?(?:\d+(?:\.\d+)?:)?)(.*)", word, re.S).groups()
    return f'{prefix}"{body}"'


def _searcher(lib: Any, args: argparse.Namespace) -> tuple[Any, str]:
    from ..core.search import Searcher

    spec = indexed_spec(lib, args.model)
    # Text goes through the torch-free export when there is one; torch loads only for images (or
    # to build the export). A one-shot run never waits for an ANN build (exact is quicker than
    # building); it uses a saved index when the app or an earlier run made one.
    searcher = Searcher(lib, load_embedder(spec, lib=lib), notify=say, ann_build="never")
    return searcher, spec


def _options_from(args: argparse.Namespace, restrict=None):
    """The core SearchOptions that the search options of the command line describe."""
    from ..core.search import SearchOptions

    return SearchOptions(k=args.k, threshold=args.threshold, folder=args.within, after=args.after,
                         before=args.before, sort=args.sort, restrict=restrict,
                         exact=True if args.exact else None, album=args.album, min_stars=args.min_stars,
                         favourites=args.favourites, tag=args.tag, person=getattr(args, "person", None) or None)


def _emit_hits(args: argparse.Namespace, hits: list) -> None:
    from datetime import datetime

    data = [{"path": str(h.path), "score": round(h.score, 6),
             "date": datetime.fromtimestamp(h.date).astimezone().isoformat(timespec="seconds")
             if h.date is not None else None, "text": h.text, **_media_keys(h)} for h in hits]
    if not hits and not args.json:
        print("no photos match", file=sys.stderr)
    emit(args, data, "\n".join(f"{h.score:.3f}  {h.path}" + (f"  “{h.text}”" if h.text else "") + _media_suffix(h)
                                for h in hits))


def _media_keys(hit: Any) -> dict[str, Any]:
    """JSON keys added to a hit: `at` and `duration` (seconds) for a video, `raw` for a RAW+JPEG pair."""
    out: dict[str, Any] = {}
    if hit.duration is not None or hit.at is not None:
        out["at"] = hit.at
        out["duration"] = round(hit.duration, 3) if hit.duration is not None else None
    if hit.raw:
        out["raw"] = [str(p) for p in hit.raw]
    return out


def _media_suffix(hit: Any) -> str:
    """The same, for a person: `  (video 0:42, best at 0:07)  + RAW IMG_1.CR2`."""
    parts = []
    if hit.duration is not None:
        at = f", best at {clock(hit.at)}" if hit.at is not None else ""
        parts.append(f"(video {clock(hit.duration)}{at})")
    if hit.raw:
        parts.append("+ RAW " + ", ".join(p.name for p in hit.raw))
    return ("  " + "  ".join(parts)) if parts else ""


def cmd_search(args: argparse.Namespace) -> int:
    from ..core.query import parse_query

    text = _query_text(args)
    lib = open_library(args)
    query = parse_query(text, [lib.root])  # a bad query fails before the model loads
    searcher, spec = _searcher(lib, args)
    _emit_hits(args, searcher.search(query, _options_from(args)))
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    from ..core.errors import ImageError, QueryError

    lib = open_library(args)
    image = args.image.expanduser()
    if not image.exists() and not image.is_absolute() and (lib.root / image).exists():
        image = lib.root / image  # a path given relative to the photo folder
    if not image.exists():
        raise ImageError("file not found", image)
    searcher, _ = _searcher(lib, args)
    if args.box is not None and not args.regional:
        raise QueryError("--box goes with --regional: a part of a photo is matched against parts of photos")
    if args.regional:  # regional matching is always exact
        _emit_hits(args, searcher.similar_regional(image, _options_from(args), box=args.box))
    else:
        _emit_hits(args, searcher.similar(image, _options_from(args)))
    return 0


def glue_negative_box(argv: list[str]) -> list[str]:
    """`--box -0.5,0,1,1` -> `--box=-0.5,0,1,1`: argparse takes a value starting with '-' for an
    option, and the user would be told "expected one argument" instead of what is wrong with the box."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--box" and i + 1 < len(argv) and argv[i + 1][:1] == "-" and argv[i + 1][1:2] in \
                tuple("0123456789."):
            out.append(f"--box={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def _box(text: str) -> tuple[float, float, float, float]:
    from ..core.regions import check_box

    try:
        return check_box(text.replace(" ", "").split(","))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
