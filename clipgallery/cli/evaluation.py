"""`eval`: measure a model on a folder-per-class dataset (reports and charts)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import emit, json_option


def register(subparsers: Any) -> None:
    ev = subparsers.add_parser("eval", help="measure a model on a folder-per-class dataset of your own photos")
    evsub = ev.add_subparsers(dest="eval_command", metavar="KIND", required=True)
    for kind, help_text in [
        ("zeroshot", "zero-shot top-1/top-5 for each prompt strategy, per class, confusion matrix"),
        ("probe", "a logistic-regression linear probe next to zero-shot on the same test split"),
        ("retrieval", "image-to-image mAP for global, max-pooled and regional max-pooled vectors"),
        ("typographic", "zero-shot accuracy after writing a wrong class name on every image"),
        ("spurious", "zero-shot accuracy on each class's usual (common/) vs unusual (counter/) backgrounds"),
    ]:
        e = evsub.add_parser(kind, help=help_text, description=help_text)
        if kind == "spurious":
            e.add_argument("dataset", type=Path, metavar="DATASET",
                           help="a folder with one subfolder per class, each holding common/ and counter/")
        else:
            e.add_argument("dataset", type=Path, metavar="DATASET", help="a folder with one subfolder per class")
            e.add_argument("--labels", type=Path, metavar="FILE", help="class names and descriptions (JSON)")
        e.add_argument("--model", metavar="SPEC")
        e.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
        e.add_argument("--report", type=Path, metavar="FILE",
                       help="Markdown report path (default: eval-KIND-DATASET.md in clipgallery's reports "
                            "folder, never in the dataset or the current folder; never overwritten)")
        e.add_argument("--plots", type=Path, metavar="DIR",
                       help="also write PNG charts into DIR (an existing chart is never overwritten)")
        if kind == "spurious":
            e.add_argument("--auto", action="store_true",
                           help="DATASET holds one folder per class: split each class by background "
                                "(k-means) and compare its best and worst background group")
            e.add_argument("--clusters", type=int, default=2, metavar="K", help="with --auto: background groups per class")
        if kind == "zeroshot":
            e.add_argument("--prompts", choices=["template", "descriptions", "both"], default="both")
        if kind == "probe":
            e.add_argument("--test-fraction", type=float, default=0.3, metavar="F")
            e.add_argument("--seed", type=int, default=0)
        json_option(e)
        e.set_defaults(func=cmd_eval, kind=kind)


def cmd_eval(args: argparse.Namespace) -> int:
    from ..core import evaluate as ev
    from ..core.embed import Embedder
    from ..core.errors import ClipGalleryError

    if args.plots is not None and args.plots.exists() and not args.plots.is_dir():
        raise ClipGalleryError(f"--plots takes a folder to write the charts into, and {args.plots} is a file")
    if args.kind == "spurious":
        from ..core.spurious import load_split_dataset, spurious, spurious_auto

        if args.auto:
            ds = ev.load_dataset(args.dataset)
            embedder = Embedder.load(args.model, args.device)
            print(f"Evaluating spurious (backgrounds found by clustering) on {ds.root} ({len(ds.paths)} images, "
                  f"{len(ds.classes)} classes) with {embedder.spec}", file=sys.stderr)
            report = spurious_auto(args.dataset, embedder, clusters=args.clusters)
        else:
            ds, counter = load_split_dataset(args.dataset)  # a bad layout fails before the model loads
            embedder = Embedder.load(args.model, args.device)
            print(f"Evaluating spurious on {ds.root} ({len(ds.paths)} common and {len(counter.paths)} counter "
                  f"images, {len(ds.classes)} classes) with {embedder.spec}", file=sys.stderr)
            report = spurious(args.dataset, embedder)
    else:
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
    dest = args.report or _reports_dir() / f"eval-{args.kind}-{ds.root.name}.md"
    report["report"] = str(ev.write_report(report, dest).resolve())
    if args.plots:
        report["plots"] = [str(p) for p in _eval_plots(report, args.plots)]
    print(f"report: {report['report']}", file=sys.stderr)
    emit(args, report, ev.to_markdown(report))
    return 0


def _reports_dir() -> Path:
    """Where eval reports go by default: a folder clipgallery owns (the current folder may be photos)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("clipgallery", appauthor=False)) / "reports"


def _eval_plots(report: dict, folder: Path) -> list[Path]:
    from ..core.charts import bar_chart, confusion_chart

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
    elif kind == "spurious":
        names = ["all classes"] + [c["class"] for c in report["classes"]]
        rows = [report] + report["classes"]
        out.append(bar_chart("Zero-shot top-1 on usual vs unusual backgrounds", names,
                             {"common": [r["common"]["top1"] for r in rows],
                              "counter": [r["counter"]["top1"] for r in rows]}, folder / "spurious.png"))
    else:
        out.append(bar_chart("Typographic attack", ["clean", "attacked"],
                             {"top-1": [report["before"]["top1"], report["after"]["top1"]],
                              "top-5": [report["before"]["top5"], report["after"]["top5"]]},
                             folder / "typographic.png"))
    return out
