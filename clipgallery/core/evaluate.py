"""Measure a model on your own photos: zero-shot, linear probe, retrieval with pooling variants, typography.

A dataset is a folder with one subfolder per class. Class names come from the folder names
(underscores and dashes read as spaces) unless a label file gives names and descriptions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .embed import Embedder
from .errors import ClipGalleryError, ImageError
from .images import decode
from .regions import l2, mac, match_scores, regional_vectors, rmac
from .scan import walk
from .tagging import DEFAULT_TEMPLATES

TEMPLATE = "a photo of a {}."
# The ensemble measured is the one the app tags with, so a report predicts what tagging will do.
ENSEMBLE = DEFAULT_TEMPLATES
STRATEGIES = ("template", "descriptions", "name_is_description", "ensemble")
PROMPT_CHOICES = {
    "template": ("template", "ensemble"),
    "descriptions": ("descriptions", "name_is_description"),
    "both": STRATEGIES,
}


class DatasetError(ClipGalleryError):
    """A dataset folder that cannot be evaluated, with the reason."""


@dataclass
class EvalClass:
    name: str
    folder: str
    descriptions: list[str] = field(default_factory=list)


@dataclass
class Dataset:
    root: Path
    classes: list[EvalClass]
    paths: list[Path]
    labels: np.ndarray  # class index per path

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]


def class_name(folder: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[_-]+", " ", folder)).strip()


def class_folders(root: Path, layout: str) -> list[Path]:
    """The class subfolders of a dataset (hidden ones left out); DatasetError when there are not two."""
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) < 2:
        raise DatasetError(f"{root} needs at least two class subfolders ({layout}); found {len(folders)}")
    return folders


def load_dataset(root: Path, labels_file: Path | None = None) -> Dataset:
    """Read a folder-per-class dataset; DatasetError for a missing folder, an empty class, one class."""
    root = Path(root).expanduser()
    folders = class_folders(root, "one folder per class")
    given = _read_label_file(labels_file) if labels_file else {}
    classes, paths, labels = [], [], []
    for i, folder in enumerate(folders):
        files = sorted(folder / f.relpath for f in walk(folder))
        if not files:
            raise DatasetError(f"class folder '{folder.name}' has no images")
        name, descriptions = class_name(folder.name), []
        match = given.get(_norm(folder.name)) or given.get(_norm(name))
        if match:
            name, descriptions = match
        classes.append(EvalClass(name, folder.name, descriptions))
        paths += files
        labels += [i] * len(files)
    return Dataset(root.resolve(), classes, paths, np.array(labels))


def _norm(text: str) -> str:
    return class_name(text).lower()


def _read_label_file(path: Path) -> dict[str, tuple[str, list[str]]]:
    """{"labels": {"name": ["description", ...]}} or {"labels": {"folder": {"name": ..., "descriptions": [...]}}}."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"label file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"label file {path} is not valid JSON: {e}") from None
    labels = data.get("labels") if isinstance(data, dict) else None
    if isinstance(labels, list):
        return {_norm(n): (n, []) for n in labels}
    if not isinstance(labels, dict):
        raise DatasetError(f"label file {path} needs a \"labels\" list or object")
    out = {}
    for key, value in labels.items():
        if isinstance(value, dict):
            out[_norm(key)] = (str(value.get("name", key)), [str(d) for d in value.get("descriptions", [])])
        elif isinstance(value, list):
            out[_norm(key)] = (key, [str(d) for d in value])
        else:
            out[_norm(key)] = (key, [str(value)])
    return out


# -- encoding ------------------------------------------------------------------------------------


@dataclass
class Encoded:
    vectors: np.ndarray  # [n, dim] unit vectors
    grids: np.ndarray | None  # [n, h, w, c] spatial features, when asked for
    keep: np.ndarray  # indices into the dataset of the images that decoded
    failed: list[tuple[Path, str]]


def encode_dataset(ds: Dataset, embedder: Embedder, grids: bool = False, batch_size: int = 32,
                   transform: Callable[[Any, int], Any] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> Encoded:
    """Encode every image (optionally transformed first); unreadable ones are listed, not fatal."""
    import torch

    vecs, grid_parts, keep, failed, batch, idx = [], [], [], [], [], []

    def flush():
        if not batch:
            return
        x = torch.stack(batch)
        if grids:
            v, g = embedder.encode_batch_with_grid(x)
            grid_parts.append(g)
        else:
            v = embedder.encode_batch(x)
        vecs.append(v)
        keep.extend(idx)
        batch.clear()
        idx.clear()

    for i, path in enumerate(ds.paths):
        try:
            image = decode(path, min_side=embedder.image_size).image
        except ImageError as e:
            failed.append((path, e.reason))
            continue
        if transform is not None:
            image = transform(image, i)
        batch.append(embedder.preprocess(image))
        idx.append(i)
        if len(batch) >= batch_size:
            flush()
            if progress:
                progress(i + 1, len(ds.paths))
    flush()
    if not keep:
        raise DatasetError(f"no image in {ds.root} could be read")
    return Encoded(np.concatenate(vecs), np.concatenate(grid_parts) if grids else None,
                   np.array(keep), failed)


def class_text_vectors(embedder: Embedder, classes: list[EvalClass], strategy: str) -> np.ndarray | None:
    """One unit vector per class for a prompt strategy; None when the strategy needs missing descriptions."""
    if strategy in ("descriptions", "name_is_description") and not all(c.descriptions for c in classes):
        return None
    out = []
    for c in classes:
        if strategy == "template":
            prompts = [TEMPLATE.format(c.name)]
        elif strategy == "ensemble":
            prompts = [t.format(c.name) for t in ENSEMBLE]
        elif strategy == "descriptions":
            prompts = c.descriptions
        else:
            prompts = [f"{c.name} is {_lower_first(d)}" for d in c.descriptions]
        v = embedder.encode_texts(prompts).mean(axis=0)
        out.append(v / max(np.linalg.norm(v), 1e-12))
    return np.stack(out).astype(np.float32)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text


# -- zero-shot -----------------------------------------------------------------------------------


def classify_scores(vectors: np.ndarray, labels: np.ndarray, text: np.ndarray, names: list[str]) -> dict[str, Any]:
    scores = vectors @ text.T
    order = np.argsort(-scores, axis=1)
    top1 = order[:, 0] == labels
    top5 = (order[:, : min(5, len(names))] == labels[:, None]).any(axis=1)
    c = len(names)
    confusion = np.zeros((c, c), dtype=int)
    np.add.at(confusion, (labels, order[:, 0]), 1)
    per_class = {names[k]: float(top1[labels == k].mean()) if (labels == k).any() else None for k in range(c)}
    return {"top1": float(top1.mean()), "top5": float(top5.mean()), "per_class": per_class,
            "confusion": confusion.tolist(), "predictions": order[:, 0].tolist()}


def zeroshot(ds: Dataset, enc: Encoded, embedder: Embedder, prompts: str = "both") -> dict[str, Any]:
    labels = ds.labels[enc.keep]
    results, skipped = {}, []
    for strategy in PROMPT_CHOICES[prompts]:
        text = class_text_vectors(embedder, ds.classes, strategy)
        if text is None:
            skipped.append(strategy)
            continue
        r = classify_scores(enc.vectors, labels, text, ds.names)
        r.pop("predictions")
        results[strategy] = r
    if not results:
        raise DatasetError("the prompt strategies asked for need class descriptions: give a label file "
                           "with descriptions (--labels FILE), or use --prompts template")
    return {"kind": "zeroshot", "dataset": str(ds.root), "model": embedder.spec, "classes": ds.names,
            "images": int(len(labels)), "strategies": results, "skipped": skipped,
            "failed": [{"path": str(p), "error": e} for p, e in enc.failed]}


# -- linear probe --------------------------------------------------------------------------------


def split(labels: np.ndarray, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split: every class keeps at least one image on each side when it has two."""
    if not 0 < test_fraction < 1:
        raise DatasetError(f"--test-fraction must be between 0 and 1, not {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        if len(idx) < 2:
            raise DatasetError("every class needs at least two images for a train/test split")
        n_test = min(len(idx) - 1, max(1, round(len(idx) * test_fraction)))
        test += idx[:n_test].tolist()
        train += idx[n_test:].tolist()
    return np.array(sorted(train)), np.array(sorted(test))


def probe(ds: Dataset, enc: Encoded, embedder: Embedder, test_fraction: float = 0.3, seed: int = 0) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    labels = ds.labels[enc.keep]
    tr, te = split(labels, test_fraction, seed)
    clf = LogisticRegression(max_iter=2000, C=10.0, class_weight="balanced")
    clf.fit(enc.vectors[tr], labels[tr])
    train_acc = float((clf.predict(enc.vectors[tr]) == labels[tr]).mean())
    test_acc = float((clf.predict(enc.vectors[te]) == labels[te]).mean())
    zs = classify_scores(enc.vectors[te], labels[te], class_text_vectors(embedder, ds.classes, "template"), ds.names)
    return {"kind": "probe", "dataset": str(ds.root), "model": embedder.spec, "classes": ds.names,
            "train_images": int(len(tr)), "test_images": int(len(te)), "test_fraction": test_fraction,
            "seed": seed, "train_accuracy": train_acc, "test_accuracy": test_acc,
            "zeroshot_test_top1": zs["top1"], "zeroshot_test_top5": zs["top5"]}


# -- retrieval -----------------------------------------------------------------------------------


def average_precision(vectors: np.ndarray, labels: np.ndarray, ks=(1, 5, 10)) -> dict[str, float]:
    """Each image queries all others; same class = relevant. mAP and precision@k."""
    return ranking_precision(vectors @ vectors.T, labels, ks)


def ranking_precision(sims: np.ndarray, labels: np.ndarray, ks=(1, 5, 10)) -> dict[str, float]:
    """mAP and precision@k of a full [n, n] similarity matrix (row = query); the diagonal is skipped."""
    sims = np.array(sims, dtype=np.float64)
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1)[:, :-1]
    rel = labels[order] == labels[:, None]
    hits = np.cumsum(rel, axis=1)
    ranks = np.arange(1, rel.shape[1] + 1)
    n_rel = rel.sum(axis=1)
    ap = np.where(n_rel > 0, (hits / ranks * rel).sum(axis=1) / np.maximum(n_rel, 1), 0.0)
    out = {"mAP": float(ap[n_rel > 0].mean())}
    for k in ks:
        if k < rel.shape[1]:
            out[f"P@{k}"] = float(rel[:, :k].mean())
    return out


def _pca(x: np.ndarray, dims: int, whiten: bool) -> tuple[np.ndarray, int]:
    from sklearn.decomposition import PCA

    d = min(dims, x.shape[0] - 1, x.shape[1])
    return l2(PCA(n_components=d, whiten=whiten, random_state=0).fit_transform(x)), d


def retrieval(ds: Dataset, enc: Encoded, pca_dims: int = 100) -> dict[str, Any]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    labels = ds.labels[enc.keep]
    base = {"global": enc.vectors}
    if enc.grids is not None:
        base["mac"] = mac(enc.grids)
        base["rmac"] = rmac(enc.grids)
    rows, used_dims = [], None
    for name, vecs in base.items():
        rows.append({"pooling": name, "post": "none", **average_precision(vecs, labels)})
        for whiten in (False, True):
            reduced, used_dims = _pca(vecs, pca_dims, whiten)
            rows.append({"pooling": name, "post": f"pca{used_dims}" + ("+whiten" if whiten else ""),
                         **average_precision(reduced, labels)})
    if enc.grids is not None:  # what `similar --regional` does: each query region finds its best match
        reg = regional_vectors(enc.grids)
        sims = np.stack([match_scores(reg[i], reg) for i in range(len(reg))])
        rows.append({"pooling": "regions-matched", "post": "none", **ranking_precision(sims, labels)})
    k = len(ds.classes)
    assign = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(enc.vectors)
    purity = sum(np.bincount(labels[assign == c]).max() for c in np.unique(assign)) / len(labels)
    return {"kind": "retrieval", "dataset": str(ds.root), "classes": ds.names, "images": int(len(labels)),
            "pca_dims": used_dims, "rows": rows,
            "kmeans": {"k": k, "purity": float(purity),
                       "nmi": float(normalized_mutual_info_score(labels, assign))}}


# -- typographic attack --------------------------------------------------------------------------


def write_text(image: Any, text: str) -> Any:
    """Write `text` in large dark letters on a light label across the lower middle of the image."""
    from PIL import ImageDraw, ImageFont

    im = image.copy()
    w, h = im.size
    size = max(8, int(min(w, h) * 0.14))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        font = ImageFont.load_default()
    draw = ImageDraw.Draw(im)
    box = draw.textbbox((0, 0), text, font=font)
    tw, th = box[2] - box[0], box[3] - box[1]
    x, y = max(0, (w - tw) // 2), int(h * 0.62)
    draw.rectangle((x - 4, y - 4, x + tw + 4, y + th + 8), fill=(255, 255, 255))
    draw.text((x - box[0], y - box[1]), text, fill=(0, 0, 0), font=font)
    return im


def typographic(ds: Dataset, embedder: Embedder, seed: int = 0, strategy: str = "template") -> dict[str, Any]:
    """Zero-shot accuracy before and after writing a wrong class name onto every image."""
    rng = np.random.default_rng(seed)
    k = len(ds.classes)
    wrong = (ds.labels + rng.integers(1, k, size=len(ds.labels))) % k
    text = class_text_vectors(embedder, ds.classes, strategy)
    clean = encode_dataset(ds, embedder)
    attacked = encode_dataset(ds, embedder, transform=lambda im, i: write_text(im, ds.classes[wrong[i]].name))
    labels = ds.labels[clean.keep]
    before = classify_scores(clean.vectors, labels, text, ds.names)
    after = classify_scores(attacked.vectors, labels, text, ds.names)
    fooled = float((np.array(after["predictions"]) == wrong[clean.keep]).mean())
    return {"kind": "typographic", "dataset": str(ds.root), "model": embedder.spec, "classes": ds.names,
            "images": int(len(labels)), "strategy": strategy,
            "before": {"top1": before["top1"], "top5": before["top5"]},
            "after": {"top1": after["top1"], "top5": after["top5"]},
            "drop_top1": before["top1"] - after["top1"], "predicted_written_label": fooled}


# -- reports -------------------------------------------------------------------------------------


def to_markdown(report: dict[str, Any]) -> str:
    kind = report["kind"]
    head = [f"# clipgallery evaluation: {kind}", "", f"- dataset: `{report['dataset']}`"]
    if "model" in report:
        head.append(f"- model: `{report['model']}`")
    head.append(f"- classes: {len(report['classes'])}")
    lines = head + [""]
    if kind == "zeroshot":
        lines += [f"- images: {report['images']}", "", "| strategy | top-1 | top-5 |", "| --- | --- | --- |"]
        lines += [f"| {s} | {r['top1']:.4f} | {r['top5']:.4f} |" for s, r in report["strategies"].items()]
        if report["skipped"]:
            lines += ["", f"Skipped (no class descriptions given): {', '.join(report['skipped'])}."]
        for s, r in report["strategies"].items():
            lines += ["", f"## Per-class top-1 ({s})", "", "| class | top-1 |", "| --- | --- |"]
            lines += [f"| {c} | {a:.4f} |" for c, a in r["per_class"].items()]
            lines += ["", f"## Confusion matrix ({s}; rows: true class, columns: predicted)", ""]
            lines += ["| | " + " | ".join(report["classes"]) + " |", "|---" * (len(report["classes"]) + 1) + "|"]
            lines += [f"| {c} | " + " | ".join(map(str, row)) + " |" for c, row in zip(report["classes"], r["confusion"])]
    elif kind == "probe":
        lines += ["| measure | value |", "| --- | --- |",
                  f"| train images | {report['train_images']} |", f"| test images | {report['test_images']} |",
                  f"| probe train accuracy | {report['train_accuracy']:.4f} |",
                  f"| probe test accuracy | {report['test_accuracy']:.4f} |",
                  f"| zero-shot top-1 on the test split | {report['zeroshot_test_top1']:.4f} |",
                  f"| zero-shot top-5 on the test split | {report['zeroshot_test_top5']:.4f} |"]
    elif kind == "retrieval":
        ks = [k for k in report["rows"][0] if k.startswith("P@")]
        lines += [f"- images: {report['images']}", "", "| pooling | post-processing | mAP | " + " | ".join(ks) + " |",
                  "|---" * (3 + len(ks)) + "|"]
        lines += [f"| {r['pooling']} | {r['post']} | {r['mAP']:.4f} | " + " | ".join(f"{r[k]:.4f}" for k in ks) + " |"
                  for r in report["rows"]]
        km = report["kmeans"]
        lines += ["", f"k-means on the global vectors (k = {km['k']}): purity {km['purity']:.4f}, "
                      f"NMI {km['nmi']:.4f}."]
    elif kind == "spurious":
        from .spurious import markdown_lines

        lines += markdown_lines(report)
    elif kind == "typographic":
        lines += ["| | top-1 | top-5 |", "| --- | --- | --- |",
                  f"| clean | {report['before']['top1']:.4f} | {report['before']['top5']:.4f} |",
                  f"| wrong class name written on the image | {report['after']['top1']:.4f} | "
                  f"{report['after']['top5']:.4f} |", "",
                  f"Top-1 drop: {report['drop_top1']:.4f}. Share of images classified as the written "
                  f"(wrong) label: {report['predicted_written_label']:.4f}."]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], path: Path) -> Path:
    """Write the Markdown report without overwriting an existing file (a suffix is added)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = path, 2
    while True:
        try:
            with open(candidate, "x", encoding="utf-8") as f:
                f.write(to_markdown(report))
            return candidate
        except FileExistsError:
            candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
            n += 1


def parse_markdown_table(text: str) -> list[list[str]]:
    """The first Markdown table of a report as rows of cells (header included)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            if not set(line.strip()) <= set("|-: "):  # skip the |---| separator row
                rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows
