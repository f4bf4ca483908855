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


def _check_request(objects: Sequence[tuple[str, str]], background: str | None, backgrounds: Sequence[str]) -> None:
    for colour, shape in objects:
        if colour not in _BASE_RGB or shape not in SHAPES:
            raise ValueError(f"unknown object: {colour} {shape}")
    if background is not None and background not in backgrounds:
        raise ValueError(f"unknown background: {background}")


def render(
    objects: Sequence[tuple[str, str]],
    seed: int,
    size: tuple[int, int] | None = None,
    background: str | None = None,
) -> Drawing:
    """Like draw(), but also says which background kind was used."""
    _check_request(objects, background, BACKGROUNDS)
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


# -- the training renderer: a wide distribution of drawings ----------------------------------------
# render_varied() draws what shapes-tiny is trained on: many background families, canvases from
# tiny to wide, one to three objects filled or outlined, blur, noise and JPEG. The held-out style
# the model is judged on lives in shapes_heldout.py and shares no drawing code with this.

VARIED_BACKGROUNDS = (
    "plain", "gradient", "stripes", "checks", "dots", "noise", "speckle", "blobs", "texture", "lines",
)
# How a caption may name a background family (absent: no caption names it).
BACKGROUND_NAMES = {
    "plain": "plain", "gradient": "gradient", "stripes": "striped", "checks": "checkered",
    "dots": "dotted", "noise": "noisy", "speckle": "speckled", "blobs": "blurry", "texture": "textured",
    "white": "white", "black": "black", "grey": "grey",  # kinds of the classic render()
}
# Hue (degrees) and how far it may move while the colour keeps its name.
_HUE = {"red": (358, 7), "orange": (28, 5), "yellow": (52, 5), "green": (125, 18), "blue": (224, 10),
        "purple": (282, 12)}


def named_colour(colour: str, rng: np.random.Generator) -> np.ndarray:
    """A random RGB colour that a person would still call `colour` (hue, saturation, brightness jitter)."""
    import colorsys

    hue, spread = _HUE[colour]
    h = ((hue + rng.uniform(-spread, spread)) % 360) / 360
    s = rng.uniform(0.72, 1.0)
    v = rng.uniform(0.86, 1.0) if colour in ("yellow", "orange") else rng.uniform(0.62, 0.98)
    if colour == "purple":
        s, v = rng.uniform(0.6, 0.9), rng.uniform(0.55, 0.85)
    return np.asarray(colorsys.hsv_to_rgb(h, s, v), np.float32) * 255


def random_varied_objects(rng: np.random.Generator) -> list[tuple[str, str]]:
    """One (60%), two (28%) or three (12%) distinct (colour, shape) objects."""
    r = rng.random()
    count = 1 if r < 0.6 else 2 if r < 0.88 else 3
    picks = rng.choice(len(CLASSES), size=count, replace=False)
    return [CLASSES[int(i)] for i in picks]


def render_varied(
    objects: Sequence[tuple[str, str]],
    seed: int,
    size: tuple[int, int] | None = None,
    background: str | None = None,
) -> Drawing:
    """Draw the objects in the wide training style; deterministic for a seed."""
    _check_request(objects, background, VARIED_BACKGROUNDS)
    rng = np.random.default_rng([seed, 7])
    width, height = size if size is not None else _varied_size(rng)
    colours = [named_colour(c, rng) for c, _ in objects]
    kind = background or VARIED_BACKGROUNDS[int(rng.integers(len(VARIED_BACKGROUNDS)))]
    canvas = _varied_background(kind, colours, width, height, rng)
    for (_, shape), rgb, (cx, cy, radius) in zip(objects, colours, _varied_layout(len(objects), width, height, rng)):
        _paint_varied(canvas, shape, rgb, cx, cy, radius, rng)
    if rng.random() < 0.3:
        canvas += rng.normal(0.0, rng.uniform(2.0, 12.0), canvas.shape).astype(np.float32)
    if rng.random() < 0.4:  # exposure and contrast, mild enough that every colour keeps its name
        mean = canvas.mean()
        canvas = (canvas - mean) * rng.uniform(0.8, 1.15) + mean * rng.uniform(0.85, 1.12)
    image = Image.fromarray(np.clip(canvas + 0.5, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.25:
        from PIL import ImageFilter

        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.025 * min(width, height) + 0.5)))
    return Drawing(image, tuple(objects), kind)


def _varied_size(rng: np.random.Generator) -> tuple[int, int]:
    # Short sides from tiny to large and any aspect ratio; the center crop sees only the central
    # square, so drawing above ~250 px would add cost, not variety (the resize to 64 px blurs it).
    short = int(round(math.exp(rng.uniform(math.log(20), math.log(250)))))
    long = int(round(short * math.exp(rng.uniform(0, math.log(3.0)))))
    return (long, short) if rng.random() < 0.5 else (short, long)


def _neutral_pair(colours: list[np.ndarray], rng: np.random.Generator, two: bool) -> tuple[np.ndarray, np.ndarray]:
    """Two low-saturation colours far from every object colour (and everything between them)."""
    for attempt in range(60):
        first = np.full(3, rng.uniform(0, 255)) + rng.uniform(-28, 28, 3)
        if two:
            second = np.full(3, rng.uniform(0, 255)) + rng.uniform(-28, 28, 3)
        else:
            second = first
        first, second = (np.clip(c, 0, 255).astype(np.float32) for c in (first, second))
        need = _MIN_CONTRAST if attempt < 40 else 0.7 * _MIN_CONTRAST
        if all(_distance_to_segment(c, first, second) >= need for c in colours):
            return first, second
    return first, first


def _varied_background(
    kind: str, colours: list[np.ndarray], width: int, height: int, rng: np.random.Generator
) -> np.ndarray:
    c0, c1 = _neutral_pair(colours, rng, two=kind != "plain")
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    u = xs * math.cos(angle) + ys * math.sin(angle)
    v = -xs * math.sin(angle) + ys * math.cos(angle)
    side = min(width, height)
    period = math.exp(rng.uniform(math.log(2.5), math.log(max(3.0, side / 2))))
    if kind == "plain":
        t = np.zeros_like(xs)
    elif kind == "gradient":
        t = (u - u.min()) / max(float(u.max() - u.min()), 1e-6)
    elif kind == "stripes":
        t = ((u / period) % 1.0 < rng.uniform(0.2, 0.8)).astype(np.float32)
    elif kind == "checks":
        t = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    elif kind == "dots":
        fu, fv = (u / period) % 1.0 - 0.5, (v / period) % 1.0 - 0.5
        t = (np.hypot(fu, fv) < rng.uniform(0.12, 0.42)).astype(np.float32)
    elif kind == "noise":
        t = np.clip(rng.normal(0.5, rng.uniform(0.1, 0.4), xs.shape), 0, 1).astype(np.float32)
    elif kind == "speckle":
        t = (rng.random(xs.shape) < rng.uniform(0.02, 0.3)).astype(np.float32)
    elif kind == "blobs":
        t = _smooth_field(width, height, int(rng.integers(2, 7)), rng)
    elif kind == "texture":
        t = sum(_smooth_field(width, height, n, rng) * w for n, w in ((4, 0.5), (12, 0.3), (40, 0.2)))
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    else:  # lines: scattered straight strokes in the second colour
        t = np.zeros_like(xs)
        img = Image.fromarray(np.zeros((height, width), np.uint8))
        pen = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(3, 15))):
            pen.line([tuple(rng.uniform(0, 1, 2) * (width, height)), tuple(rng.uniform(0, 1, 2) * (width, height))],
                     fill=255, width=int(rng.integers(1, max(2, side // 30) + 1)))
        t = np.asarray(img, np.float32) / 255
    canvas = c0 + t[..., None] * (c1 - c0)
    if rng.random() < 0.3 and kind != "noise":
        canvas += rng.normal(0.0, rng.uniform(2.0, 15.0), canvas.shape).astype(np.float32)
    return canvas.astype(np.float32)


def _smooth_field(width: int, height: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Random values on a coarse grid, enlarged smoothly: blurred, photo-like blobs in [0, 1]."""
    coarse = Image.fromarray((rng.random((cells + 1, cells + 1)) * 255).astype(np.uint8))
    return np.asarray(coarse.resize((width, height), Image.BICUBIC), np.float32) / 255


def _varied_layout(count: int, width: int, height: int, rng: np.random.Generator) -> list[tuple[float, float, float]]:
    """Centres and radii inside the central square (the center crop keeps every object)."""
    side = min(width, height)
    x0, y0 = (width - side) / 2, (height - side) / 2
    margin = 0.02 * side
    low, high = {1: (0.12, 0.95), 2: (0.14, 0.48), 3: (0.12, 0.36)}[count]
    for attempt in range(300):
        placed: list[tuple[float, float, float]] = []
        for _ in range(count):
            radius = math.exp(rng.uniform(math.log(low), math.log(high))) * side / 2
            if attempt > 150:
                radius *= 0.6
            radius = max(radius, 4.0)
            lo_x, hi_x = x0 + margin + radius, x0 + side - margin - radius
            lo_y, hi_y = y0 + margin + radius, y0 + side - margin - radius
            cx = rng.uniform(lo_x, hi_x) if hi_x > lo_x else x0 + side / 2
            cy = rng.uniform(lo_y, hi_y) if hi_y > lo_y else y0 + side / 2
            placed.append((cx, cy, radius))
        if all(
            math.dist(a[:2], b[:2]) > a[2] + b[2] + margin
            for i, a in enumerate(placed)
            for b in placed[i + 1 :]
        ):
            return placed
    return placed  # tiny canvases only: the objects may touch


def _varied_outline(shape: str, cx: float, cy: float, radius: float, rng: np.random.Generator) -> list[tuple]:
    angle = rng.uniform(0, 2 * math.pi)
    if shape == "square":
        angles, radii = [angle + k * math.pi / 2 for k in range(4)], [radius] * 4
    elif shape == "triangle":  # not always equilateral
        angles = [angle, angle + 2 * math.pi / 3 + rng.uniform(-0.2, 0.2),
                  angle + 4 * math.pi / 3 + rng.uniform(-0.2, 0.2)]
        radii = [radius] * 3
    else:
        inner = rng.uniform(0.36, 0.55)
        angles = [angle + k * math.pi / 5 for k in range(10)]
        radii = [radius if k % 2 == 0 else radius * inner for k in range(10)]
    return [(cx + r * math.sin(a), cy - r * math.cos(a)) for a, r in zip(angles, radii)]


def _paint_varied(
    canvas: np.ndarray, shape: str, rgb: np.ndarray, cx: float, cy: float, radius: float, rng: np.random.Generator
) -> None:
    height, width = canvas.shape[:2]
    s = _SUPERSAMPLE
    style = rng.random()  # filled 65%, outlined only 17%, filled with a contrasting edge 18%
    line = max(1, int(round(radius * rng.uniform(0.08, 0.22) * s)))
    layers = []
    if style >= 0.17 or style < 0.0:
        layers.append(("fill", rgb * (1.0 + rng.uniform(-0.08, 0.08) * _ramp(height, width, rng))[..., None]
                       if rng.random() < 0.5 else rgb))
    if style < 0.17:
        layers = [("edge", rgb)]
    elif style > 0.82:
        layers.append(("edge", np.clip(rgb * rng.uniform(0.55, 0.8), 0, 255)))
    points = None if shape == "circle" else [(x * s, y * s) for x, y in _varied_outline(shape, cx, cy, radius, rng)]
    box = [(cx - radius) * s, (cy - radius) * s, (cx + radius) * s, (cy + radius) * s]
    for what, colour in layers:
        mask_image = Image.new("L", (width * s, height * s), 0)
        pen = ImageDraw.Draw(mask_image)
        kwargs = {"fill": 255} if what == "fill" else {"outline": 255, "width": line}
        if points is None:
            pen.ellipse(box, **kwargs)
        else:
            pen.polygon(points, **kwargs) if what == "fill" else pen.line(points + points[:2], fill=255, width=line,
                                                                           joint="curve")
        mask = np.asarray(mask_image.resize((width, height), Image.BOX), np.float32)[..., None] / 255.0
        canvas *= 1.0 - mask
        canvas += np.clip(colour, 0, 255) * mask


def _ramp(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A linear ramp from -1 to 1 in a random direction: light falling across an object."""
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[-1:1:complex(0, height), -1:1:complex(0, width)].astype(np.float32)
    return (xs * math.cos(angle) + ys * math.sin(angle)) / math.sqrt(2)
