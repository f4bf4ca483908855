"""Draw pictures of coloured shapes (circle, square, triangle, star) with known truth.

Used to train the bundled shapes-tiny model, by the tests and by the evaluation tools.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "star")
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")
CLASSES: list[tuple[str, str]] = [(c, s) for c in COLOURS for s in SHAPES]
BACKGROUNDS = ("white", "black", "grey", "tinted", "gradient", "noise")

# Seeds below this are reserved for the training set; write_folder always draws above it.
TRAIN_SEED_LIMIT = 1_000_000

_BASE_RGB = {
    "red": (215, 30, 30),
    "green": (35, 165, 50),
    "blue": (35, 65, 215),
    "yellow": (240, 215, 30),
    "purple": (135, 45, 175),
    "orange": (245, 135, 20),
}
_MIN_CONTRAST = 100.0  # RGB distance between a shape colour and any background colour
_SUPERSAMPLE = 2  # shapes are rasterised at 2x and reduced, for smooth edges


@dataclass(frozen=True)
class Drawing:
    """A drawn picture and what is in it."""

    image: Image.Image
    objects: tuple[tuple[str, str], ...]
    background: str


def class_name(colour: str, shape: str) -> str:
    """The plain name of a class: ``class_name("red", "circle") == "red circle"``."""
    return f"{colour} {shape}"


def random_objects(rng: np.random.Generator) -> list[tuple[str, str]]:
    """One object (70%) or two distinct (colour, shape) objects."""
    count = 1 if rng.random() < 0.7 else 2
    picks = rng.choice(len(CLASSES), size=count, replace=False)
    return [CLASSES[int(i)] for i in picks]


def draw(
    objects: Sequence[tuple[str, str]],
    seed: int,
    size: tuple[int, int] | None = None,
    background: str | None = None,
) -> Image.Image:
    """Draw the (colour, shape) objects on a varied background; deterministic for a seed."""
    return render(objects, seed, size, background).image


def render(
    objects: Sequence[tuple[str, str]],
    seed: int,
    size: tuple[int, int] | None = None,
    background: str | None = None,
) -> Drawing:
    """Like draw(), but also says which background kind was used."""
    for colour, shape in objects:
        if colour not in _BASE_RGB or shape not in SHAPES:
            raise ValueError(f"unknown object: {colour} {shape}")
    if background is not None and background not in BACKGROUNDS:
        raise ValueError(f"unknown background: {background}")
    rng = np.random.default_rng(seed)
    width, height = size if size is not None else _random_size(rng)
    colours = [_jitter(_BASE_RGB[c], rng) for c, _ in objects]
    kind = background or BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    canvas = _background(kind, colours, width, height, rng)
    for (_, shape), rgb, (cx, cy, radius) in zip(objects, colours, _layout(len(objects), width, height, rng)):
        _paint(canvas, shape, rgb, cx, cy, radius, rng)
    if rng.random() < 0.3:  # sensor-like noise over everything
        canvas += rng.normal(0.0, rng.uniform(1.0, 6.0), canvas.shape).astype(np.float32)
    image = Image.fromarray(np.clip(canvas + 0.5, 0, 255).astype(np.uint8), "RGB")
    return Drawing(image, tuple(objects), kind)


def compose(
    placed: Sequence[tuple[str, str, float, float, float]],
    seed: int,
    size: tuple[int, int] = (256, 256),
    background: str | None = None,
) -> Image.Image:
    """Draw objects where told: (colour, shape, x, y, radius), all three as fractions of the width.

    For scenes whose parts matter (regional similarity): a large object, a small one elsewhere.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    colours = [_jitter(_BASE_RGB[c], rng) for c, *_ in placed]
    kind = background or BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    canvas = _background(kind, colours, width, height, rng)
    for (_, shape, x, y, radius), rgb in zip(placed, colours):
        if shape not in SHAPES:
            raise ValueError(f"unknown shape: {shape}")
        _paint(canvas, shape, rgb, x * width, y * width, radius * width, rng)
    return Image.fromarray(np.clip(canvas + 0.5, 0, 255).astype(np.uint8), "RGB")


def scene(big: tuple[str, str], small: tuple[str, str], seed: int, corner: tuple[int, int]) -> Image.Image:
    """A 256 px square scene: `big` fills one quadrant and reaches past it, `small` sits in the
    opposite quadrant, whose (column, row) is `corner`, each 0 or 1."""
    qx, qy = corner
    return compose([(*big, 0.25 + 0.5 * (1 - qx), 0.25 + 0.5 * (1 - qy), 0.27),
                    (*small, 0.25 + 0.5 * qx, 0.25 + 0.5 * qy, 0.16)], seed)


def jpeg_roundtrip(image: Image.Image, quality: int) -> Image.Image:
    """The image after saving it as a JPEG of the given quality and decoding it again."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def write_folder(
    dest: Path,
    per_class: int,
    seed: int,
    classes: Sequence[tuple[str, str]] | None = None,
    fmt: str = "jpg",
) -> dict[Path, tuple[str, str]]:
    """Write `per_class` single-object pictures of each class into dest; return path -> truth.

    File names look like ``red_circle_007.jpg``. JPEG quality varies between 70 and 95.
    The pictures never repeat the training set's seeds.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    truth: dict[Path, tuple[str, str]] = {}
    for colour, shape in classes if classes is not None else CLASSES:
        class_index = CLASSES.index((colour, shape))
        for i in range(per_class):
            image_seed = held_out_seed(seed, class_index, i)
            image = draw([(colour, shape)], image_seed)
            path = dest / f"{colour}_{shape}_{i:03d}.{fmt}"
            if fmt.lower() in ("jpg", "jpeg"):
                quality = 70 + image_seed % 26
                image.save(path, "JPEG", quality=quality)
            else:
                image.save(path)
            truth[path] = (colour, shape)
    return truth


def held_out_seed(*key: int) -> int:
    """A drawing seed derived from key, always outside the training seed range."""
    state = np.random.SeedSequence([abs(int(k)) for k in key]).generate_state(1)[0]
    return TRAIN_SEED_LIMIT + int(state)


def _random_size(rng: np.random.Generator) -> tuple[int, int]:
    short = int(rng.integers(64, 321))
    aspect = math.exp(rng.uniform(math.log(1.0), math.log(1.6)))
    long = int(round(short * aspect))
    return (long, short) if rng.random() < 0.5 else (short, long)


def _jitter(rgb: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    # Small per-channel jitter and brightness change: the hue stays unambiguous.
    colour = np.asarray(rgb, np.float32) + rng.uniform(-18, 18, 3).astype(np.float32)
    return np.clip(colour * rng.uniform(0.9, 1.05), 0, 255)


def _background(
    kind: str, colours: list[np.ndarray], width: int, height: int, rng: np.random.Generator
) -> np.ndarray:
    for _ in range(100):
        anchors = _background_anchors(kind, rng)
        if all(_distance_to_segment(c, *anchors) >= _MIN_CONTRAST for c in colours):
            break
    start, end = anchors
    if kind == "gradient":
        angle = rng.uniform(0, 2 * math.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        t = xs / max(width - 1, 1) * math.cos(angle) + ys / max(height - 1, 1) * math.sin(angle)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        return start + t[..., None] * (end - start)
    canvas = np.empty((height, width, 3), np.float32)
    canvas[...] = start
    if kind == "noise":
        canvas += rng.normal(0.0, rng.uniform(8.0, 28.0), canvas.shape).astype(np.float32)
    return canvas


def _background_anchors(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The colours a background of this kind runs between (equal for plain ones)."""
    if kind == "white":
        colour = np.full(3, rng.uniform(228, 255)) + rng.uniform(-5, 5, 3)
    elif kind == "black":
        colour = np.full(3, rng.uniform(0, 30)) + rng.uniform(-4, 4, 3)
    elif kind == "grey":
        colour = np.full(3, rng.uniform(85, 175)) + rng.uniform(-3, 3, 3)
    elif kind == "gradient":
        first = np.full(3, rng.uniform(0, 255)) + rng.uniform(-15, 15, 3)
        second = np.full(3, rng.uniform(0, 255)) + rng.uniform(-15, 15, 3)
        return np.clip(first, 0, 255).astype(np.float32), np.clip(second, 0, 255).astype(np.float32)
    else:  # tinted and noise: a low-saturation colour
        colour = np.full(3, rng.uniform(40, 240)) + rng.uniform(-18, 18, 3)
    colour = np.clip(colour, 0, 255).astype(np.float32)
    return colour, colour


def _distance_to_segment(point: np.ndarray, start: np.ndarray, end: np.ndarray) -> float:
    span = end - start
    length = float(span @ span)
    t = 0.0 if length == 0 else float(np.clip((point - start) @ span / length, 0, 1))
    return float(np.linalg.norm(point - (start + t * span)))


def _layout(
    count: int, width: int, height: int, rng: np.random.Generator
) -> list[tuple[float, float, float]]:
    """Centres and radii inside the central square, so a center crop keeps every object."""
    side = min(width, height)
    x0, y0 = (width - side) / 2, (height - side) / 2
    margin = 0.03 * side
    low, high = (0.2, 0.8) if count == 1 else (0.2, 0.45)
    for attempt in range(200):
        placed: list[tuple[float, float, float]] = []
        for _ in range(count):
            radius = rng.uniform(low, high) * side / 2
            if attempt > 100:
                radius *= 0.7
            cx = rng.uniform(x0 + margin + radius, x0 + side - margin - radius)
            cy = rng.uniform(y0 + margin + radius, y0 + side - margin - radius)
            placed.append((cx, cy, radius))
        if all(
            math.dist(a[:2], b[:2]) > a[2] + b[2] + margin
            for i, a in enumerate(placed)
            for b in placed[i + 1 :]
        ):
            return placed
    raise RuntimeError("could not place the objects")  # unreachable for one or two objects


def _outline(shape: str, cx: float, cy: float, radius: float, angle: float) -> list[tuple]:
    if shape == "square":
        corners, radii = 4, [radius]
    elif shape == "triangle":
        corners, radii = 3, [radius]
    else:  # star: alternating outer and inner points
        corners, radii = 10, [radius, radius * 0.42]
    points = []
    for k in range(corners):
        r = radii[k % len(radii)]
        a = angle + 2 * math.pi * k / corners
        points.append((cx + r * math.sin(a), cy - r * math.cos(a)))
    return points


def _paint(
    canvas: np.ndarray,
    shape: str,
    rgb: np.ndarray,
    cx: float,
    cy: float,
    radius: float,
    rng: np.random.Generator,
) -> None:
    height, width = canvas.shape[:2]
    s = _SUPERSAMPLE
    angle = rng.uniform(0, 2 * math.pi)
    outline_width = int(max(1, radius * rng.uniform(0.04, 0.1)) * s) if rng.random() < 0.25 else 0
    fill = Image.new("L", (width * s, height * s), 0)
    pen = ImageDraw.Draw(fill)
    if shape == "circle":
        box = [(cx - radius) * s, (cy - radius) * s, (cx + radius) * s, (cy + radius) * s]
        pen.ellipse(box, fill=255)
    else:
        points = [(x * s, y * s) for x, y in _outline(shape, cx, cy, radius, angle)]
        pen.polygon(points, fill=255)
    mask = np.asarray(fill.resize((width, height), Image.BOX), np.float32)[..., None] / 255.0
    # A gentle light gradient across the shape, as in a photographed object.
    ys = np.linspace(-1, 1, height, dtype=np.float32)[:, None, None]
    light = 1.0 + rng.uniform(-0.06, 0.06) * ys
    layer = np.clip(rgb * light, 0, 255)
    canvas *= 1.0 - mask
    canvas += layer * mask
    if outline_width:
        edge = Image.new("L", (width * s, height * s), 0)
        pen = ImageDraw.Draw(edge)
        if shape == "circle":
            pen.ellipse(box, outline=255, width=outline_width)
        else:
            pen.polygon(points, outline=255, width=outline_width)
        edge_mask = np.asarray(edge.resize((width, height), Image.BOX), np.float32)[..., None]
        edge_mask /= 255.0
        canvas *= 1.0 - edge_mask
        canvas += (rgb * 0.6) * edge_mask
