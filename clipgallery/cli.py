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
    g = s.add_mutually_exclusive_group()
    g.add_argument("--regional", dest="regional", action="store_true", default=None,
                   help="also store region vectors, for `similar --regional` (remembered for this folder; "
                        "about 14 KiB per photo with ViT-B-32)")
    g.add_argument("--no-regional", dest="regional", action="store_false",
                   help="stop storing region vectors and drop the stored ones")
    _json(s)
    s.set_defaults(func=cmd_index)

    s = sub.add_parser("info", help="show where a folder's library is and what it holds")
    s.add_argument("path", type=Path, metavar="PATH")
    _json(s)
    s.set_defaults(func=cmd_info)

    ev = sub.add_parser("eval", help="measure a model on a folder-per-class dataset of your own photos")
    evsub = ev.add_subparsers(dest="eval_command", metavar="KIND", required=True)
    for kind, help_text in [
        ("zeroshot", "zero-shot top-1/top-5 for each prompt strategy, per class, confusion matrix"),
        ("probe", "a logistic-regression linear probe next to zero-shot on the same test split"),
        ("retrieval", "image-to-image mAP for global, max-pooled and regional max-pooled vectors"),
        ("typographic", "zero-shot accuracy after writing a wrong class name on every image"),
    ]:
        e = evsub.add_parser(kind, help=help_text, description=help_text)
        e.add_argument("dataset", type=Path, metavar="DATASET", help="a folder with one subfolder per class")
        e.add_argument("--labels", type=Path, metavar="FILE", help="class names and descriptions (JSON)")
        e.add_argument("--model", metavar="SPEC")
        e.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
        e.add_argument("--report", type=Path, metavar="FILE",
                       help="Markdown report path (default: eval-KIND-DATASET.md here; never overwritten)")
        e.add_argument("--plots", type=Path, metavar="DIR", help="also write PNG charts into DIR")
        if kind == "zeroshot":
            e.add_argument("--prompts", choices=["template", "descriptions", "both"], default="both")
        if kind == "probe":
            e.add_argument("--test-fraction", type=float, default=0.3, metavar="F")
            e.add_argument("--seed", type=int, default=0)
        _json(e)
        e.set_defaults(func=cmd_eval, kind=kind)

    s = sub.add_parser("models", help="list the bundled models and the default")
    _json(s)
    s.set_defaults(func=cmd_models)

    s = sub.add_parser("gui", help="open the desktop app (optionally on a folder)")
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

    s = sub.add_parser(
        "search", help="find photos by words and/or example images",
        description="Words form the text query; +term / -term add / subtract a concept; 2:term or "
                    "-0.5:term weight it; \"quoted phrases\" stay together; a path to an image file is an "
                    "image term. Example: clipgallery search ~/Photos kids on the beach -people")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("query", nargs=argparse.REMAINDER, metavar="QUERY...", help="the query (see above)")
    _search_options(s, tag=True)
    s.set_defaults(func=cmd_search)

    s = sub.add_parser("similar", help="find photos that look like an image (indexed or any file)")
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

    s = sub.add_parser("tag", help="tag every photo zero-shot with a label set (emotions by default)",
                       description="Each photo gets its best label and every label scoring at least the "
                                   "threshold. LABELS is a built-in set (emotions, concepts), a JSON file "
                                   '({"name": ..., "labels": [...]}), a set applied before, or "taught" '
                                   "to re-apply the taught tags.")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--labels", default="emotions", metavar="emotions|FILE", help="label set (default: emotions)")
    s.add_argument("--threshold", type=_fraction, metavar="T",
                   help="also keep every label scoring at least T (0..1; default: the set's own)")
    s.add_argument("--strategy", choices=["templates", "descriptions", "both"], default="both",
                   help="text side: prompt templates, per-label descriptions, or both averaged (default)")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    _json(s)
    s.set_defaults(func=cmd_tag)

    s = sub.add_parser("teach", help="teach a tag from a few example photos, then tag the whole folder",
                       description="Trains a small classifier on the examples' vectors. Without --negatives, "
                                   "random photos of the folder serve as counter-examples.")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("label", metavar="LABEL")
    s.add_argument("--examples", type=Path, nargs="+", required=True, metavar="IMG",
                   help="photos of the tag: indexed photos of PATH or any image files")
    s.add_argument("--negatives", type=Path, nargs="+", default=[], metavar="IMG", help="photos that are not")
    s.add_argument("--threshold", type=_fraction, default=0.5, metavar="T", help="probability to tag (default 0.5)")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    _json(s)
    s.set_defaults(func=cmd_teach)

    s = sub.add_parser("labels", help="list the label sets and taught tags of a folder, with photo counts")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    _json(s)
    s.set_defaults(func=cmd_labels)

    s = sub.add_parser("cluster", help="group the photos automatically (k-means) and name the groups")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--k", type=_k_value, default=None, metavar="N|auto", help="number of groups (default: auto)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (same seed, same groups)")
    s.add_argument("--pca", type=_positive_int, metavar="D", help="reduce the vectors to D dimensions first")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    _json(s)
    s.set_defaults(func=cmd_cluster)

    s = sub.add_parser("duplicates", help="find groups of near-identical photos and suggest which to keep")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--threshold", type=_fraction, default=None, metavar="T",
                   help="cosine similarity that makes a near-duplicate (default 0.95)")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    _json(s)
    s.set_defaults(func=cmd_duplicates)

    s = sub.add_parser("export", help="copy (or link) groups, a tag or a search result into folders",
                       description="Writes DEST/<group>/<file> and a manifest (CSV and JSON). Originals are "
                                   "never changed and nothing in DEST is overwritten. Note: a hard link "
                                   "shares its bytes with the original, so editing it edits the original.")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("--dest", type=Path, required=True, metavar="DIR")
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument("--clusters", action="store_true", help="the groups of the last `clipgallery cluster`")
    what.add_argument("--tag", metavar="LABEL", help="the photos tagged LABEL")
    what.add_argument("--query", metavar="TEXT", help="the results of a search")
    s.add_argument("--label-set", metavar="NAME", help="with --tag: the label set LABEL belongs to")
    s.add_argument("-k", type=_positive_int, default=50, metavar="N", help="with --query: at most N photos")
    s.add_argument("--threshold", type=float, metavar="T", help="with --query: only results scoring at least T")
    s.add_argument("--mode", choices=["copy", "hardlink", "symlink"], default="copy")
    s.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    s.add_argument("--force", action="store_true", help="allow a destination inside the photo folder")
    s.add_argument("--model", metavar="SPEC", help="which indexed model (default: the main one)")
    _json(s)
    s.set_defaults(func=cmd_export)
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
    from .core.models import parse_spec

    lib = open_library(args, create=True)
    if args.regional is not None and args.regional != lib.regional:
        lib.set_regional(args.regional)
        print("Region vectors " + ("on: photos indexed before get them now" if args.regional
                                   else "off: the stored ones were dropped"), file=sys.stderr)
    spec = parse_spec(args.model).text
    loaded = []

    def load():  # only when some photo needs encoding: an up-to-date folder is checked without the model
        print(f"Loading model {spec}...", file=sys.stderr)
        embedder = Embedder.load(spec, args.device)
        loaded.append(embedder)
        print(f"Indexing {lib.root} with {embedder.spec} on {embedder.device} (library: {lib.dir})",
              file=sys.stderr)
        return embedder

    bar = ProgressBar()
    try:
        report = index_folder(lib, load, args.batch_size, args.workers, progress=bar, cancel=graceful_cancel(),
                              spec=spec)
    finally:
        bar.close()
    if loaded and not report.cancelled:  # the model is at hand: make the next search torch-free
        from .core.textfast import ensure_built

        mid = lib.model_id(spec)
        ensure_built(loaded[0], lambda: lib.vectors(mid)[1] if mid is not None else None, _say)
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
    for m, (mid, *_rest) in zip(models, lib.models()):
        m["regions"] = lib.region_count(mid)
    data = {"folder": str(lib.root), "library": str(lib.dir), "photos": lib.count(), "models": models,
            "regional": lib.regional, "failed": failed}
    text = [f"folder:  {lib.root}", f"library: {lib.dir}", f"photos:  {lib.count()}",
            f"regional vectors: {'on' if lib.regional else 'off'}"]
    text += [f"model:   {m['spec']} ({m['dim']}-d, {m['vectors']} vectors"
             + (f", {m['regions']} with regions)" if m["regions"] else ")") for m in models]
    text += [f"failed:  {f['path']}: {f['error']}" for f in failed]
    emit(args, data, "\n".join(text))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .core import evaluate as ev
    from .core.embed import Embedder

    ds = ev.load_dataset(args.dataset, args.labels)
    embedder = Embedder.load(args.model, args.device)
    print(f"Evaluating {args.kind} on {ds.root} ({len(ds.paths)} images, {len(ds.classes)} classes) "
          f"with {embedder.spec}", file=sys.stderr)
    if args.kind == "typographic":
        report = ev.typographic(ds, embedder)
    else:
        enc = ev.encode_dataset(ds, embedder, grids=args.kind == "retrieval")
        if args.kind == "zeroshot":
            report = ev.zeroshot(ds, enc, embedder, args.prompts)
        elif args.kind == "probe":
            report = ev.probe(ds, enc, embedder, args.test_fraction, args.seed)
        else:
            report = ev.retrieval(ds, enc)
    dest = args.report or Path.cwd() / f"eval-{args.kind}-{ds.root.name}.md"
    report["report"] = str(ev.write_report(report, dest).resolve())
    if args.plots:
        report["plots"] = [str(p) for p in _eval_plots(report, args.plots)]
    print(f"report: {report['report']}", file=sys.stderr)
    emit(args, report, ev.to_markdown(report))
    return 0


def _eval_plots(report: dict, folder: Path) -> list[Path]:
    from .core.charts import bar_chart, confusion_chart

    folder.mkdir(parents=True, exist_ok=True)
    kind, out = report["kind"], []
    if kind == "zeroshot":
        strategies = list(report["strategies"])
        out.append(bar_chart("Zero-shot accuracy by prompt strategy", strategies,
                             {m: [report["strategies"][s][m] for s in strategies] for m in ("top1", "top5")},
                             folder / "zeroshot-accuracy.png"))
        for s, r in report["strategies"].items():
            out.append(confusion_chart(f"Confusion matrix ({s})", r["confusion"], report["classes"],
                                       folder / f"zeroshot-confusion-{s}.png"))
    elif kind == "probe":
        out.append(bar_chart("Linear probe vs zero-shot", ["probe train", "probe test", "zero-shot test"],
                             {"accuracy": [report["train_accuracy"], report["test_accuracy"],
                                           report["zeroshot_test_top1"]]}, folder / "probe.png"))
    elif kind == "retrieval":
        rows = report["rows"]
        posts = list(dict.fromkeys(r["post"] for r in rows))
        poolings = list(dict.fromkeys(r["pooling"] for r in rows))
        out.append(bar_chart("Retrieval mAP", poolings,
                             {p: [next((r["mAP"] for r in rows if r["pooling"] == q and r["post"] == p), None)
                                  for q in poolings]
                              for p in posts}, folder / "retrieval-map.png"))
    else:
        out.append(bar_chart("Typographic attack", ["clean", "attacked"],
                             {"top-1": [report["before"]["top1"], report["after"]["top1"]],
                              "top-5": [report["before"]["top5"], report["after"]["top5"]]},
                             folder / "typographic.png"))
    return out


_SEARCH_VALUE_OPTIONS = ("-k", "--threshold", "--after", "--before", "--in", "--sort", "--model", "--tag")
_SEARCH_FLAGS = ("--exact", "--json")


def _search_options(s: argparse.ArgumentParser, tag: bool = False) -> None:
    """The options shared by search and similar (also parsed again from after the query words)."""
    s.add_argument("-k", type=_positive_int, default=50, metavar="N", help="at most N results (default 50)")
    s.add_argument("--threshold", type=float, metavar="T", help="only results scoring at least T (cosine, -1..1)")
    s.add_argument("--after", type=_date, metavar="DATE", help="only photos taken on or after DATE (YYYY-MM-DD)")
    s.add_argument("--before", type=_date, metavar="DATE", help="only photos taken before DATE (YYYY-MM-DD)")
    s.add_argument("--in", dest="within", metavar="SUBFOLDER", help="only photos in this subfolder of PATH")
    s.add_argument("--sort", choices=["score", "date"], default="score", help="best first, or newest first")
    s.add_argument("--exact", action="store_true", help="exact search even in a large library (slower)")
    s.add_argument("--model", metavar="SPEC", help="which indexed model to search with (default: the main one)")
    if tag:
        s.add_argument("--tag", metavar="LABEL", help="only photos tagged LABEL (see `clipgallery tag`)")
    _json(s)


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
    _search_options(opts, tag=True)
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


def _searcher(lib, args: argparse.Namespace):
    import contextlib

    from .core.errors import ModelLoadError
    from .core.models import parse_spec
    from .core.query import Searcher
    from .core.textfast import query_embedder

    wanted = args.model
    if wanted:
        with contextlib.suppress(ModelLoadError):  # then the name is looked up as typed
            wanted = parse_spec(wanted).text  # "ViT-B-32" finds "ViT-B-32:laion2b_s34b_b79k"
    spec = lib.indexed_model(wanted)
    # Text goes through the torch-free export when there is one; torch loads only for images
    # (or to build the export). A one-shot run never waits for an ANN build (exact is quicker
    # than building); it uses a saved index when the app or an earlier run made one.
    searcher = Searcher(lib, query_embedder(lib, spec, notify=_say), notify=_say, ann_build="never")
    return searcher, spec


def _search_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"k": args.k, "threshold": args.threshold, "folder": args.within, "after": args.after,
            "before": args.before, "sort": args.sort, "exact": True if args.exact else None}


def _emit_hits(args: argparse.Namespace, hits: list) -> None:
    from datetime import datetime

    data = [{"path": str(h.path), "score": round(h.score, 6),
             "date": datetime.fromtimestamp(h.date).astimezone().isoformat(timespec="seconds")
             if h.date is not None else None} for h in hits]
    if not hits and not args.json:
        print("no photos match", file=sys.stderr)
    emit(args, data, "\n".join(f"{h.score:.3f}  {h.path}" for h in hits))


def cmd_search(args: argparse.Namespace) -> int:
    from .core.query import parse_query

    text = _query_text(args)
    lib = open_library(args)
    query = parse_query(text, [lib.root])  # a bad query fails before the model loads
    searcher, spec = _searcher(lib, args)
    restrict = None
    if getattr(args, "tag", None):
        try:
            from .core.tagging import files_with_tag
        except ImportError as e:
            from .core.errors import QueryError

            raise QueryError(f"filtering by tag is not available in this installation ({e})") from e
        restrict = files_with_tag(lib, spec, args.tag)
    _emit_hits(args, searcher.search(query, restrict=restrict, **_search_kwargs(args)))
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    from .core.errors import ImageError, QueryError

    lib = open_library(args)
    image = args.image.expanduser()
    if not image.exists() and not image.is_absolute() and (lib.root / image).exists():
        image = lib.root / image  # a path given relative to the photo folder
    if not image.exists():
        raise ImageError("file not found", image)
    searcher, _ = _searcher(lib, args)
    if args.box is not None and not args.regional:
        raise QueryError("--box goes with --regional: a part of a photo is matched against parts of photos")
    if args.regional:
        kwargs = _search_kwargs(args)
        kwargs.pop("exact")  # regional matching is always exact
        _emit_hits(args, searcher.similar_regional(image, box=args.box, **kwargs))
    else:
        _emit_hits(args, searcher.similar(image, **_search_kwargs(args)))
    return 0


def _box(text: str) -> tuple[float, float, float, float]:
    from .core.regions import check_box

    try:
        return check_box(text.replace(" ", "").split(","))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _fraction(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= x <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {x}")
    return x


def _k_value(text: str) -> int | None:
    return None if text.strip().lower() == "auto" else _positive_int(text)


class PhaseBar:
    """Like ProgressBar, for jobs with several phases: one bar per phase, labelled with it."""

    def __init__(self):
        self.phase = None
        self.bar = None

    def __call__(self, p) -> None:
        from tqdm import tqdm

        if p.phase != self.phase:
            self.close()
            self.phase = p.phase
            if p.total > 1:
                self.bar = tqdm(total=p.total, desc=p.phase, file=sys.stderr, dynamic_ncols=True, leave=False)
        if self.bar is not None:
            self.bar.n = p.done
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _indexed_spec(lib, model: str | None) -> str:
    """The indexed model to use: --model (normalised like the search commands do) or the main one."""
    import contextlib

    from .core.errors import ModelLoadError
    from .core.models import parse_spec

    if model:
        with contextlib.suppress(ModelLoadError):
            model = parse_spec(model).text
    return lib.indexed_model(model)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _load_embedder(spec: str, lib=None):
    """For commands that encode text (and maybe images): text without torch when the export exists."""
    if lib is not None:
        from .core.textfast import query_embedder

        return query_embedder(lib, spec, notify=_say)
    from .core.embed import Embedder

    print(f"Loading model {spec}...", file=sys.stderr)
    return Embedder.load(spec, "auto")


def cmd_tag(args: argparse.Namespace) -> int:
    from .core import tagging
    from .core.errors import QueryError

    lib = open_library(args)
    spec = _indexed_spec(lib, args.model)
    if args.labels.strip().lower() == tagging.TAUGHT:
        probes = tagging.list_probes(lib, spec)
        if not probes:
            raise QueryError(f"no taught tags yet: teach one with `clipgallery teach {lib.root} LABEL "
                                     "--examples IMG...`")
        reports = [tagging.apply_probe(lib, spec, p.name) for p in probes]
        by_file: dict = {}
        for r in reports:
            for ph in r.photos:
                by_file.setdefault(str(ph.path), []).extend(ph.tags)
        data = [{"path": path, "tags": [{"label": t.label, "score": round(t.score, 4)}
                                        for t in sorted(tags, key=lambda t: -t.score)]}
                for path, tags in sorted(by_file.items())]
        emit(args, data, "\n".join(f"{r.probe.name}: {len(r.photos)} photos" for r in reports))
        return 0
    label_set = tagging.load_label_set(args.labels, lib, spec)
    embedder = _load_embedder(spec, lib)
    bar = PhaseBar()
    try:
        report = tagging.tag_library(lib, embedder, label_set, args.threshold, args.strategy, bar,
                                     graceful_cancel())
    finally:
        bar.close()
    if report.cancelled:
        print("clipgallery: cancelled; the tags were left as they were", file=sys.stderr)
        return 130
    text = [f"{label_set.name}: {len(report.photos)} photos tagged (threshold {report.threshold:.2f})"]
    text += [f"  {lab}: {n}" for lab, n in report.counts.items()]
    emit(args, report.to_json(), "\n".join(text))
    return 0


def cmd_teach(args: argparse.Namespace) -> int:
    from .core import tagging

    lib = open_library(args)
    spec = _indexed_spec(lib, args.model)
    report = tagging.teach(lib, spec, args.label, args.examples, args.negatives,
                           embedder=lambda: _load_embedder(spec, lib), threshold=args.threshold)
    p = report.probe
    text = [f"taught '{p.name}' from {p.positives} examples and {p.negatives} "
            f"{'random background photos' if p.background else 'counter-examples'}: {len(report.photos)} photos"]
    text += [f"  {ph.tags[0].score:.3f}  {ph.path}" for ph in report.photos]
    emit(args, report.to_json(), "\n".join(text))
    return 0


def cmd_labels(args: argparse.Namespace) -> int:
    from .core import tagging

    lib = open_library(args)
    spec = _indexed_spec(lib, args.model)
    sets = tagging.label_set_summaries(lib, spec)
    data = [{"name": s.name, "kind": s.kind, "counts": s.counts, "strategy": s.strategy,
             "threshold": s.threshold} for s in sets]
    text = []
    for s in sets:
        text.append(f"{s.name} ({s.kind}):")
        text += [f"  {lab}: {n}" for lab, n in s.counts.items()]
    if not sets:
        text = [f"no label sets applied yet: try `clipgallery tag {lib.root}`"]
    emit(args, data, "\n".join(text))
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from .core.grouping import group_library

    lib = open_library(args)
    spec = _indexed_spec(lib, args.model)
    bar = PhaseBar()
    try:  # the model is loaded only if the naming words were never encoded for this library
        result = group_library(lib, spec, args.k, args.seed, args.pca, embedder=lambda: _load_embedder(spec, lib),
                               progress=bar, cancel=graceful_cancel())
    finally:
        bar.close()
    if result.cancelled:
        print("clipgallery: cancelled; nothing was stored", file=sys.stderr)
        return 130
    how = f"chosen automatically (silhouette {result.silhouettes[result.k]:.3f})" if result.silhouettes else "given"
    text = [f"{len(result.groups)} groups (k={result.k}, {how}, seed {result.seed}):"]
    text += [f"  {g.cluster + 1:>2}. {g.name}: {len(g.file_ids)} photos, cover {g.cover_path}" for g in result.groups]
    emit(args, result.to_json(), "\n".join(text))
    return 0


def cmd_duplicates(args: argparse.Namespace) -> int:
    from .core.grouping import DEFAULT_DUPLICATE_THRESHOLD, find_duplicates

    lib = open_library(args)
    spec = _indexed_spec(lib, args.model)
    threshold = DEFAULT_DUPLICATE_THRESHOLD if args.threshold is None else args.threshold
    bar = PhaseBar()
    try:
        report = find_duplicates(lib, spec, threshold, progress=bar, cancel=graceful_cancel())
    finally:
        bar.close()
    if report.cancelled:
        print("clipgallery: cancelled", file=sys.stderr)
        return 130
    text = []
    for g in report.groups:
        text.append(f"keep {g.keep.path}")
        text += [f"  {s:.3f}  {m.path}" for m, s in zip(g.members[1:], g.similarity[1:])]
    text.append(f"{len(report.groups)} groups of near-duplicates (cosine >= {threshold})"
                + ("" if report.exact else "; large library: searched approximately"))
    emit(args, report.to_json(), "\n".join(text))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .core import export as ex

    lib = open_library(args)
    spec = _indexed_spec(lib, args.model)
    if args.clusters:
        selection = ex.select_groups(lib, spec)
    elif args.tag is not None:
        selection = ex.select_tag(lib, spec, args.tag, args.label_set)
    else:
        selection = ex.select_query(lib, _load_embedder(spec, lib), args.query, args.k, args.threshold)
    plan = ex.plan_export(selection, args.dest, lib.root, args.mode, args.force)
    for path in plan.missing:
        print(f"clipgallery: skipped (no longer exists): {path}", file=sys.stderr)
    if args.dry_run:
        result = ex.ExportResult(plan, skipped=[(p, "no longer exists") for p in plan.missing], dry_run=True)
        emit(args, result.to_json(), "dry run, nothing written. " + plan.describe())
        return 0
    bar = PhaseBar()
    try:
        result = ex.run_export(plan, bar, graceful_cancel())
    finally:
        bar.close()
    text = [f"{len(result.written)} photos exported to {plan.dest} ({plan.mode})"
            + (" before being cancelled" if result.cancelled else "")]
    text += [f"  skipped: {p}: {r}" for p, r in result.skipped]
    text.append(f"manifest: {result.manifest_csv}")
    emit(args, result.to_json(), "\n".join(text))
    return 130 if result.cancelled else 0


def cmd_models(args: argparse.Namespace) -> int:
    from .core.models import bundled_models, default_spec

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
    from .gui.app import run

    if args.panel and args.screenshot is None:
        raise SystemExit("clipgallery gui: error: --panel works with --screenshot")
    return run(args.path, args.library_dir, args.model, args.device, args.screenshot, args.query,
               args.benchmark, args.panel)


if __name__ == "__main__":
    sys.exit(main())
