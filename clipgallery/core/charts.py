"""Small PNG charts drawn with Pillow (grouped bars, a confusion matrix), for evaluation reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PALETTE = [(66, 133, 244), (234, 67, 53), (251, 188, 5), (52, 168, 83), (171, 71, 188), (0, 172, 193)]


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def bar_chart(title: str, categories: list[str], series: dict[str, list[float | None]], path: Path) -> Path:
    """Grouped bars of values in [0, 1]: one group per category, one bar per series (None: no bar)."""
    n_cat, n_ser = len(categories), max(1, len(series))
    bar_w, gap, left, top, height = 26, 24, 60, 50, 300
    width = left + n_cat * (n_ser * bar_w + gap) + 180
    im = Image.new("RGB", (max(width, 420), top + height + 90), "white")
    d = ImageDraw.Draw(im)
    d.text((left, 12), title, fill="black", font=_font(18))
    for tick in np.linspace(0, 1, 6):
        y = top + height - tick * height
        d.line((left - 4, y, im.width - 170, y), fill=(225, 225, 225))
        d.text((10, y - 7), f"{tick:.1f}", fill="black", font=_font(12))
    for ci, cat in enumerate(categories):
        x0 = left + ci * (n_ser * bar_w + gap)
        for si, values in enumerate(series.values()):
            if values[ci] is None:
                continue
            v = float(np.clip(float(values[ci] or 0.0), 0, 1))
            x = x0 + si * bar_w
            d.rectangle((x, top + height - v * height, x + bar_w - 3, top + height), fill=PALETTE[si % len(PALETTE)])
        d.text((x0, top + height + 8), cat[:16], fill="black", font=_font(12))
    for si, name in enumerate(series):
        y = top + si * 20
        d.rectangle((im.width - 160, y, im.width - 148, y + 12), fill=PALETTE[si % len(PALETTE)])
        d.text((im.width - 142, y - 1), name, fill="black", font=_font(12))
    return save_new(im, Path(path))


def confusion_chart(title: str, matrix: list[list[int]], labels: list[str], path: Path) -> Path:
    """A confusion matrix as a heat map: rows are true classes, columns predictions."""
    m = np.asarray(matrix, dtype=float)
    n = len(labels)
    cell = max(14, min(40, 640 // max(n, 1)))
    left, top = 150, 60
    im = Image.new("RGB", (left + n * cell + 20, top + n * cell + 150), "white")
    d = ImageDraw.Draw(im)
    d.text((10, 12), title, fill="black", font=_font(16))
    rows = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    for i in range(n):
        d.text((8, top + i * cell + cell / 2 - 6), labels[i][:20], fill="black", font=_font(11))
        for j in range(n):
            shade = int(255 * (1 - rows[i, j]))
            x, y = left + j * cell, top + i * cell
            d.rectangle((x, y, x + cell - 1, y + cell - 1), fill=(shade, shade, 255))
            if cell >= 24 and m[i, j]:
                d.text((x + 3, y + cell / 2 - 6), str(int(m[i, j])), fill="black" if shade > 120 else "white",
                       font=_font(10))
    label_strip = Image.new("RGB", (130, n * cell), "white")
    ld = ImageDraw.Draw(label_strip)
    for j in range(n):
        ld.text((4, j * cell + cell / 2 - 6), labels[j][:20], fill="black", font=_font(11))
    im.paste(label_strip.rotate(90, expand=True), (left, top + n * cell + 8))
    return save_new(im, Path(path))


def save_new(im: Image.Image, path: Path) -> Path:
    """Save as PNG at path, or at "name (2).png"... when it exists: a chart never overwrites a file."""
    candidate, n = path, 2
    while True:
        try:
            with open(candidate, "xb") as f:
                im.save(f, "PNG")
            return candidate
        except FileExistsError:
            candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
            n += 1
