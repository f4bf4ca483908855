"""A second, independent way to draw the shapes, which shapes-tiny never sees in training.

The held-out style shares only the names with shapes.py: its own palette, its own geometry
(signed distances, not PIL polygons), other background families (paper, wood, bricks, tiles,
mosaics, spotlights, table tops) and other compositions (cards, drop shadows, glossy highlights).
Tests and docs/shapes-tiny.md measure the model on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from .shapes import CLASSES, SHAPES, held_out_seed

BACKGROUNDS = ("paper", "graph", "wood", "bricks", "tiles", "mosaic", "spotlight", "tabletop", "card")

# A few colours per name, as a person picks them from a colour chooser (CSS names in comments).
PALETTE = {
    "red": [(220, 20, 60), (178, 34, 34), (230, 40, 40), (200, 16, 46)],  # crimson, firebrick
    "green": [(34, 139, 34), (50, 180, 70), (0, 128, 0), (60, 179, 113)],  # forestgreen, green
    "blue": [(65, 105, 225), (30, 60, 200), (0, 90, 220), (20, 40, 160)],  # royalblue
    "yellow": [(255, 215, 0), (250, 230, 40), (245, 200, 20), (255, 235, 70)],  # gold
    "purple": [(128, 0, 128), (148, 60, 200), (110, 40, 160), (153, 50, 204)],  # purple, darkorchid
    "orange": [(255, 140, 0), (255, 120, 30), (240, 130, 20), (255, 160, 40)],  # darkorange
}


def draw(objects: Sequence[tuple[str, str]], seed: int, size: tuple[int, int] | None = None,
         background: str | None = None) -> Image.Image:
    """The objects drawn in the held-out style; deterministic for a seed."""
    for colour, shape in objects:
        if colour not in PALETTE or shape not in SHAPES:
            raise ValueError(f"unknown object: {colour} {shape}")
    if background is not None and background not in BACKGROUNDS:
        raise ValueError(f"unknown background: {background}")
    rng = np.random.default_rng([seed, 31])
    if size is None:
        short = int(rng.integers(90, 300))
        long = int(short * rng.uniform(1.0, 1.8))
        size = (long, short) if rng.random() < 0.5 else (short, long)
    width, height = size
    kind = background or BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    canvas = _background(kind, xx, yy, rng)
    side = min(width, height)
    x0, y0 = (width - side) / 2, (height - side) / 2
    if kind == "card":  # a pale card with a shadow, the objects on it
        cw, ch = side * rng.uniform(0.78, 0.92), side * rng.uniform(0.78, 0.92)
        ccx, ccy = x0 + side / 2, y0 + side / 2
        card = _rounded_box(xx - ccx, yy - ccy, cw / 2, ch / 2, side * 0.04)
        _blend(canvas, _coverage(card - side * 0.02, side * 0.04), np.zeros(3), 0.35)
        paper = np.array([246, 243, 232], np.float32) + rng.uniform(-8, 8, 3)
        _blend(canvas, _coverage(card, 1.0), paper, 1.0)
        side, x0, y0 = min(cw, ch), ccx - min(cw, ch) / 2, ccy - min(cw, ch) / 2
    for (colour, shape), (cx, cy, r) in zip(objects, _place(len(objects), side, x0, y0, rng)):
        _draw_object(canvas, xx, yy, shape, colour, cx, cy, r, rng)
    canvas += rng.normal(0, rng.uniform(0.5, 4.0), canvas.shape).astype(np.float32)
    return Image.fromarray(np.clip(canvas + 0.5, 0, 255).astype(np.uint8), "RGB")


def write_folder(dest: Path, per_class: int, seed: int, classes: Sequence[tuple[str, str]] | None = None,
                 fmt: str = "jpg") -> dict[Path, tuple[str, str]]:
    """Like shapes.write_folder, in the held-out style: `per_class` single-object pictures per class."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    truth: dict[Path, tuple[str, str]] = {}
    for colour, shape in classes if classes is not None else CLASSES:
        k = CLASSES.index((colour, shape))
        for i in range(per_class):
            image_seed = held_out_seed(seed, k, i, 4242)
            path = dest / f"{colour}_{shape}_{i:03d}.{fmt}"
            image = draw([(colour, shape)], image_seed)
            if fmt.lower() in ("jpg", "jpeg"):
                image.save(path, "JPEG", quality=60 + image_seed % 36)
            else:
                image.save(path)
            truth[path] = (colour, shape)
    return truth


# -- backgrounds -------------------------------------------------------------------------------------


def _tone(rng: np.random.Generator, low: float, high: float, tint: float = 14.0) -> np.ndarray:
    return np.clip(np.full(3, rng.uniform(low, high)) + rng.uniform(-tint, tint, 3), 0, 255).astype(np.float32)


def _background(kind: str, xx: np.ndarray, yy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = xx.shape
    side = min(w, h)
    out = np.empty((h, w, 3), np.float32)
    if kind == "paper":  # ruled notebook paper with a margin line
        out[...] = _tone(rng, 225, 250, 6)
        gap = side * rng.uniform(0.05, 0.1)
        ruled = np.abs(((yy + rng.uniform(0, gap)) % gap) - gap / 2) > gap / 2 - max(1.0, side / 250)
        out[ruled] = out[ruled] * 0.85 + np.array([120, 150, 200], np.float32) * 0.15
    elif kind == "graph":
        out[...] = _tone(rng, 215, 250, 8)
        gap = side * rng.uniform(0.04, 0.09)
        grid = (xx % gap < max(1.0, side / 300)) | (yy % gap < max(1.0, side / 300))
        out[grid] *= 0.8
    elif kind == "wood":  # grain: rings bent by slow waves, in browns too dark or pale to read as orange
        base, dark = _tone(rng, 150, 200, 4) * np.array([1.0, 0.85, 0.68]), rng.uniform(0.6, 0.8)
        a = rng.uniform(0, math.pi)
        u = xx * math.cos(a) + yy * math.sin(a)
        v = -xx * math.sin(a) + yy * math.cos(a)
        grain = np.sin((v + 6 * np.sin(u / side * rng.uniform(3, 9))) / side * rng.uniform(25, 60)) * 0.5 + 0.5
        out[...] = base * (dark + (1 - dark) * grain[..., None])
        out[...] = out.mean(-1, keepdims=True) * 0.45 + out * 0.55  # keep it far from orange
    elif kind == "bricks":
        mortar, brick = _tone(rng, 190, 225, 5), _tone(rng, 60, 120, 6)
        bh = side * rng.uniform(0.07, 0.14)
        row = np.floor(yy / bh)
        bx = (xx + (row % 2) * bh) % (2 * bh)
        joint = ((yy % bh) < bh * 0.12) | (bx < bh * 0.12)
        out[...] = brick
        out += rng.normal(0, 6, (h, w, 1)).astype(np.float32)
        out[joint] = mortar
    elif kind == "tiles":  # hexagon-ish floor tiles: rotated lattices of light and dark
        light, dark = _tone(rng, 170, 240), _tone(rng, 30, 110)
        cell = side * rng.uniform(0.08, 0.2)
        a = rng.uniform(0, math.pi / 3)
        u = (xx * math.cos(a) + yy * math.sin(a)) / cell
        v = (-xx * math.sin(a) + yy * math.cos(a)) / cell
        pattern = (np.floor(u) + np.floor(v + 0.5 * np.floor(u))) % 3
        out[...] = light
        out[pattern == 1] = dark
        out[pattern == 2] = (light + dark) / 2
    elif kind == "mosaic":  # Voronoi cells of greys, with dark leading between them
        n = int(rng.integers(6, 30))
        sx, sy = rng.uniform(0, w, n), rng.uniform(0, h, n)
        d = np.stack([np.hypot(xx - a, yy - b) for a, b in zip(sx, sy)])
        order = np.sort(d, axis=0)
        nearest = np.argmin(d, axis=0)
        tones = np.stack([_tone(rng, 50, 230, 10) for _ in range(n)])
        out[...] = tones[nearest]
        out[(order[1] - order[0]) < max(1.0, side / 120)] = 25
    elif kind == "spotlight":  # a dark room with a soft circle of light
        dark, light = _tone(rng, 10, 60, 6), _tone(rng, 150, 245, 6)
        cx, cy = w / 2 + rng.uniform(-0.2, 0.2) * side, h / 2 + rng.uniform(-0.2, 0.2) * side
        t = np.clip(1 - np.hypot(xx - cx, yy - cy) / (side * rng.uniform(0.45, 0.9)), 0, 1) ** 1.5
        out[...] = dark + t[..., None] * (light - dark)
    elif kind == "tabletop":  # a wall above a table edge
        wall, table = _tone(rng, 150, 240), _tone(rng, 40, 140)
        edge = h * rng.uniform(0.3, 0.7)
        out[...] = wall
        out[yy > edge] = table
        out *= (1 - 0.25 * (yy / h))[..., None]
    else:  # card: a dark cloth
        out[...] = _tone(rng, 20, 90, 10)
        out += rng.normal(0, 5, (h, w, 1)).astype(np.float32)
    return out


# -- objects -----------------------------------------------------------------------------------------


def _place(count: int, side: float, x0: float, y0: float, rng: np.random.Generator):
    for _ in range(500):
        placed = []
        for _ in range(count):
            r = side / 2 * (rng.uniform(0.3, 0.75) if count == 1 else rng.uniform(0.2, 0.4))
            placed.append((x0 + rng.uniform(r + 0.05 * side, side - r - 0.05 * side),
                           y0 + rng.uniform(r + 0.05 * side, side - r - 0.05 * side), r))
        if all(math.dist(a[:2], b[:2]) > a[2] + b[2] for i, a in enumerate(placed) for b in placed[i + 1:]):
            return placed
    raise RuntimeError("could not place the objects")


def _distance(shape: str, x: np.ndarray, y: np.ndarray, r: float, angle: float, rng: np.random.Generator):
    """Signed distance (pixels, negative inside) to the shape centred at the origin."""
    c, s = math.cos(angle), math.sin(angle)
    x, y = x * c - y * s, x * s + y * c
    if shape == "circle":
        return np.hypot(x, y) - r
    if shape == "square":
        half = r / math.sqrt(2)
        return _rounded_box(x, y, half, half, half * rng.uniform(0.0, 0.15))
    if shape == "triangle":
        return _polygon_distance(x, y, [(r * math.sin(a), -r * math.cos(a)) for a in (0, 2 * math.pi / 3, 4 * math.pi / 3)])
    inner = rng.uniform(0.4, 0.5)
    return _polygon_distance(x, y, [(rr * math.sin(k * math.pi / 5), -rr * math.cos(k * math.pi / 5))
                                    for k, rr in enumerate([r, r * inner] * 5)])


def _rounded_box(x, y, hx, hy, corner):
    qx, qy = np.abs(x) - hx + corner, np.abs(y) - hy + corner
    return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - corner


def _polygon_distance(x, y, points):
    best = np.full(x.shape, np.inf, np.float32)
    inside = np.zeros(x.shape, bool)
    for (ax, ay), (bx, by) in zip(points, points[1:] + points[:1]):
        ex, ey = bx - ax, by - ay
        t = np.clip(((x - ax) * ex + (y - ay) * ey) / (ex * ex + ey * ey), 0, 1)
        best = np.minimum(best, np.hypot(x - ax - t * ex, y - ay - t * ey))
        crosses = ((ay > y) != (by > y)) & (x < (bx - ax) * (y - ay) / (by - ay + 1e-12) + ax)
        inside ^= crosses
    return np.where(inside, -best, best)


def _coverage(distance, softness):
    return np.clip(0.5 - distance / max(softness, 1e-3), 0, 1)


def _blend(canvas, alpha, colour, strength):
    a = (alpha * strength)[..., None]
    canvas *= 1 - a
    canvas += a * colour


def _draw_object(canvas, xx, yy, shape, colour, cx, cy, r, rng):
    palette = PALETTE[colour]
    rgb = np.array(palette[int(rng.integers(len(palette)))], np.float32) + rng.uniform(-10, 10, 3)
    angle = rng.uniform(0, 2 * math.pi)
    look = rng.random()
    if look < 0.5:  # a soft drop shadow first
        dx, dy = r * rng.uniform(-0.15, 0.15), r * rng.uniform(0.05, 0.2)
        shadow = _distance(shape, xx - cx - dx, yy - cy - dy, r, angle, np.random.default_rng(1))
        _blend(canvas, _coverage(shadow, r * 0.25), np.zeros(3), 0.4)
    d = _distance(shape, xx - cx, yy - cy, r, angle, np.random.default_rng(1))
    body = _coverage(d, 1.0)
    if look < 0.25:  # glossy: lighter towards the top left
        shade = 1 + 0.25 * np.clip(-((xx - cx) + (yy - cy)) / (2 * r), -1, 1)
        layer = np.clip(rgb * shade[..., None], 0, 255)
        a = body[..., None]
        canvas *= 1 - a
        canvas += a * layer
    else:
        _blend(canvas, body, np.clip(rgb, 0, 255), 1.0)
    if look > 0.8:  # a dark rim, as with a marker pen
        _blend(canvas, _coverage(np.abs(d) - r * 0.04, 1.0), np.clip(rgb * 0.5, 0, 255), 1.0)
