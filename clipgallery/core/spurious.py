"""Spurious features (CounterAnimal): zero-shot accuracy on each class's usual vs unusual backgrounds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .embed import Embedder
from .evaluate import Dataset, DatasetError, EvalClass, class_name, class_text_vectors, encode_dataset
from .scan import walk

SPLITS = ("common", "counter")


def load_split_dataset(root: Path) -> tuple[Dataset, Dataset]:
    """DATASET/<class>/common and DATASET/<class>/counter -> (common, counter) datasets, same classes."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) < 2:
        raise DatasetError(f"{root} needs at least two class subfolders, each with common/ and counter/; "
                           f"found {len(folders)}")
    classes = [EvalClass(class_name(f.name), f.name) for f in folders]
    parts: dict[str, tuple[list[Path], list[int]]] = {s: ([], []) for s in SPLITS}
    for i, folder in enumerate(folders):
        for split in SPLITS:
            sub = folder / split
            files = sorted(sub / f.relpath for f in walk(sub)) if sub.is_dir() else []
            if not files:
                raise DatasetError(f"class folder '{folder.name}' needs images in {split}/ "
                                   f"(its usual backgrounds in common/, unusual ones in counter/)")
            parts[split][0].extend(files)
            parts[split][1].extend([i] * len(files))
    made = [Dataset(root.resolve(), classes, paths, np.array(labels)) for paths, labels in parts.values()]
    return made[0], made[1]


def spurious(root: Path, embedder: Embedder, strategy: str = "template",
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Zero-shot top-1 over the dataset's classes on common and on counter backgrounds, and the drop,
    overall (over images) and per class."""
    common, counter = load_split_dataset(root)
    text = class_text_vectors(embedder, common.classes, strategy)
    assert text is not None  # template prompts need no descriptions
    hits: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    failed: list[dict[str, str]] = []
    for split, ds in zip(SPLITS, (common, counter)):
        enc = encode_dataset(ds, embedder, progress=progress)
        labels[split] = ds.labels[enc.keep]
        hits[split] = (enc.vectors @ text.T).argmax(axis=1) == labels[split]
        failed += [{"path": str(p), "error": e} for p, e in enc.failed]

    def top1(split: str, k: int | None = None) -> dict[str, Any]:
        chosen = hits[split] if k is None else hits[split][labels[split] == k]
        return {"top1": float(chosen.mean()) if len(chosen) else None, "images": int(len(chosen))}

    classes = []
    for k, c in enumerate(common.classes):
        a, b = top1("common", k), top1("counter", k)
        drop = a["top1"] - b["top1"] if a["top1"] is not None and b["top1"] is not None else None
        classes.append({"class": c.name, "common": a, "counter": b, "drop": drop})
    overall_common, overall_counter = top1("common"), top1("counter")
    return {"kind": "spurious", "dataset": str(common.root), "model": embedder.spec, "strategy": strategy,
            "common": overall_common, "counter": overall_counter,
            "drop": overall_common["top1"] - overall_counter["top1"], "classes": classes, "failed": failed}


def markdown_lines(report: dict[str, Any]) -> list[str]:
    """The body of the spurious report (evaluate.to_markdown writes the heading)."""
    def pct(x: float | None) -> str:
        return "–" if x is None else f"{x:.4f}"

    lines = ["| | images | top-1 |", "| --- | --- | --- |",
             f"| common backgrounds | {report['common']['images']} | {pct(report['common']['top1'])} |",
             f"| counter (unusual) backgrounds | {report['counter']['images']} | {pct(report['counter']['top1'])} |",
             "", f"Top-1 drop from common to counter backgrounds: {report['drop']:.4f}.", "",
             "## Per class", "", "| class | common top-1 | counter top-1 | drop |", "| --- | --- | --- | --- |"]
    lines += [f"| {c['class']} | {pct(c['common']['top1'])} | {pct(c['counter']['top1'])} | {pct(c['drop'])} |"
              for c in sorted(report["classes"], key=lambda c: -(c["drop"] or 0))]
    if report.get("failed"):
        lines += ["", f"{len(report['failed'])} image(s) could not be read (listed in the JSON)."]
    return lines
