"""How well the pixel check (core.pixels) tells copies from different drawings of the same kind.

Draws `--per-class` pictures of each of the 24 colour+shape classes (clipgallery.shapes, seeds
never used in training), writes four edited copies of each (half size; JPEG quality 60; cropped
3% on every side; cropped 5% on two sides + 70% size + quality 60) and, for every class, pairs
each drawing with every other drawing of the class (different pictures of the same colour and
shape: what CLIP alone calls duplicates). Prints the difference of each kind of pair, the
perceptual-hash distance beside it, and precision / recall at the shipped threshold.

    python bench/duplicate_pixels.py [--per-class 8]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def edits(image):
    from PIL import Image

    w, h = image.size
    yield "half size", image.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS), 85
    yield "JPEG q60", image, 60
    cx, cy = round(w * 0.03), round(h * 0.03)
    yield "crop 3% each side", image.crop((cx, cy, w - cx, h - cy)), 90
    cx, cy = round(w * 0.05), round(h * 0.05)
    small = image.crop((cx, 0, w, h - cy))
    yield "crop 5% two sides + 70% + q60", small.resize((round(small.width * 0.7), round(small.height * 0.7)),
                                                       Image.Resampling.LANCZOS), 60


def main() -> None:
    from clipgallery import shapes
    from clipgallery.core import pixels

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=8)
    args = parser.parse_args()
    rows: dict[str, list[tuple[float, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prints: dict[tuple[int, int], pixels.Fingerprint] = {}
        for ci, cls in enumerate(shapes.CLASSES):
            for i in range(args.per_class):
                seed = shapes.held_out_seed(7_700_000, ci, i)
                image = shapes.draw([cls], seed)
                path = root / f"{ci}-{i}.jpg"
                image.save(path, "JPEG", quality=70 + seed % 26)
                original = pixels.fingerprint_file(path)
                prints[(ci, i)] = original
                with __import__("PIL.Image").Image.open(path) as im:
                    stored = im.convert("RGB")
                for name, edited, quality in edits(stored):
                    copy = root / f"{ci}-{i}-{name}.jpg"
                    edited.save(copy, "JPEG", quality=quality)
                    fp = pixels.fingerprint_file(copy)
                    rows.setdefault(name, []).append((pixels.difference(original, fp),
                                                      pixels.hamming(original.phash, fp.phash)))
        negatives = []
        for ci in range(len(shapes.CLASSES)):
            for i, j in itertools.combinations(range(args.per_class), 2):
                a, b = prints[(ci, i)], prints[(ci, j)]
                negatives.append((pixels.difference(a, b), pixels.hamming(a.phash, b.phash)))
    load = os.getloadavg()[0]
    print(f"{len(shapes.CLASSES)} classes x {args.per_class} drawings; load average {load:.2f}")
    print(f"{'pair':<34} {'n':>5} {'rms min':>8} {'median':>7} {'max':>7}   {'phash min':>9} {'median':>6} {'max':>4}")
    for name, vals in [*rows.items(), ("different drawings, same class", negatives)]:
        d = np.array([v[0] for v in vals])
        h = np.array([v[1] for v in vals])
        print(f"{name:<34} {len(vals):>5} {d.min():>8.2f} {np.median(d):>7.2f} {d.max():>7.2f}   "
              f"{h.min():>9d} {np.median(h):>6.0f} {h.max():>4d}")
    pos = np.array([v[0] for vals in rows.values() for v in vals])
    neg = np.array([v[0] for v in negatives])
    t = pixels.MAX_RMS
    tp, fp = int((pos <= t).sum()), int((neg <= t).sum())
    precision = tp / max(tp + fp, 1)
    print(f"threshold {t}: recall {tp}/{len(pos)} = {tp / len(pos):.3f}, precision {tp}/{tp + fp} = {precision:.3f} "
          f"({fp} of {len(neg)} different pairs called duplicates)")


if __name__ == "__main__":
    main()
