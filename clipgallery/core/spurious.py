"""Spurious features (CounterAnimal): zero-shot accuracy on each class's usual vs unusual backgrounds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .embed import Embedder
from .evaluate import (
    Dataset,
    DatasetError,
    EvalClass,
    class_folders,
    class_name,
    class_text_vectors,
    encode_dataset,
)
from .scan import walk

SPLITS = ("common", "counter")


def load_split_dataset(root: Path) -> tuple[Dataset, Dataset]:
    """DATASET/<class>/common and DATASET/<class>/counter -> (common, counter) datasets, same classes."""
    root = Path(root).expanduser()
    folders = class_folders(root, "each with common/ and counter/")
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


# -- the automatic mode: split each class by background, as the CounterAnimal paper did -------------

BACKGROUND_SHARE = 0.5  # the cells least like the class make up an image's background


def background_vectors(grids: np.ndarray, class_vector: np.ndarray, share: float = BACKGROUND_SHARE) -> np.ndarray:
    """Per image, the mean of its joint-space cells outside its most class-like region (the `share`
    of cells least similar to the class text vector), unit length: what the photo shows around
    the object."""
    n = len(grids)
    cells = grids.reshape(n, -1, grids.shape[-1])
    sims = cells @ class_vector
    keep = max(1, int(round(share * cells.shape[1])))
    idx = np.argsort(sims, axis=1)[:, :keep]
    bg = np.take_along_axis(cells, idx[..., None], axis=1).mean(axis=1)
    return bg / np.maximum(np.linalg.norm(bg, axis=1, keepdims=True), 1e-12)


def spurious_auto(root: Path, embedder: Embedder, clusters: int = 2, min_images: int = 3,
                  strategy: str = "template", seed: int = 0) -> dict[str, Any]:
    """One folder per class (no common/counter split): each class's images are clustered by
    background (k-means on background_vectors), and of the clusters with at least `min_images`
    images the one with the best zero-shot top-1 is that class's "common" group, the worst its
    "counter" group. Same report as spurious(), plus each class's groups and their paths."""
    from sklearn.cluster import KMeans

    from .errors import ImageError
    from .evaluate import load_dataset
    from .explain import joint_grids
    from .images import decode

    ds = load_dataset(root)
    text = class_text_vectors(embedder, ds.classes, strategy)
    assert text is not None
    classes: list[dict[str, Any]] = []
    hit_parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    failed: list[dict[str, str]] = []
    for k, c in enumerate(ds.classes):
        paths = [p for p, lab in zip(ds.paths, ds.labels) if lab == k]
        images, kept = [], []
        for p in paths:
            try:
                images.append(decode(p, min_side=embedder.image_size).image)
                kept.append(p)
            except ImageError as e:  # listed, not fatal
                failed.append({"path": str(p), "error": e.reason})
        if not images:
            raise DatasetError(f"no image of class '{c.folder}' could be read")
        vectors = embedder.encode_images(images)
        grids = joint_grids(embedder, images)
        right = (vectors @ text.T).argmax(axis=1) == k
        groups: list[dict[str, Any]] = []
        n_clusters = min(clusters, len(images) // max(1, min_images))
        if n_clusters >= 2:
            labels = KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(background_vectors(grids, text[k]))
            for g in range(n_clusters):
                members = np.flatnonzero(labels == g)
                if len(members) >= min_images:
                    groups.append({"images": int(len(members)), "top1": float(right[members].mean()),
                                   "paths": [str(kept[i]) for i in members], "_rows": members})
        if len(groups) < 2:
            classes.append({"class": c.name, "common": {"top1": float(right.mean()), "images": len(images)},
                            "counter": {"top1": None, "images": 0}, "drop": None,
                            "note": "too few images to split by background"})
            continue
        groups.sort(key=lambda grp: -grp["top1"])
        best, worst = groups[0], groups[-1]
        hit_parts["common"].append(right[best["_rows"]])
        hit_parts["counter"].append(right[worst["_rows"]])
        for group in groups:
            del group["_rows"]
        classes.append({"class": c.name, "common": {"top1": best["top1"], "images": best["images"],
                                                    "paths": best["paths"]},
                        "counter": {"top1": worst["top1"], "images": worst["images"], "paths": worst["paths"]},
                        "drop": best["top1"] - worst["top1"], "groups": groups})
    if not hit_parts["common"]:
        raise DatasetError("no class has enough images to split by background "
                           f"(at least {2 * min_images} per class)")
    overall = {s: np.concatenate(hit_parts[s]) for s in SPLITS}
    common = {"top1": float(overall["common"].mean()), "images": int(len(overall["common"]))}
    counter = {"top1": float(overall["counter"].mean()), "images": int(len(overall["counter"]))}
    return {"kind": "spurious", "mode": "auto", "dataset": str(ds.root), "model": embedder.spec,
            "strategy": strategy, "common": common, "counter": counter, "drop": common["top1"] - counter["top1"],
            "classes": classes, "failed": failed}
