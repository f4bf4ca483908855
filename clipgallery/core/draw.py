"""CLIPDraw: a drawing of coloured Bézier strokes optimised so that CLIP reads it as a text.

The strokes are rendered by a differentiable rasteriser in plain torch (each pixel's coverage is a
soft step of its distance to the curve), and the loss is the cosine between the text vector and the
vectors of randomly cropped and perspective-warped copies of the drawing, as in the CLIPDraw paper:
the augmentations keep the optimiser from writing adversarial pixel noise.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ClipGalleryError, ImageError, QueryError
from .progress import Progress, ProgressFn

if TYPE_CHECKING:
    from PIL import Image

    from .embed import Embedder

SAMPLES = 12  # points per curve for the distance computation
SOFTNESS = 0.6  # pixels: the width of a stroke's soft edge


class DrawCancelled(ClipGalleryError):
    """The drawing was stopped before its last step."""


@dataclass
class Strokes:
    """N cubic Bézier strokes on a unit canvas: points [N, 4, 2] in 0..1, widths [N] as a fraction of
    the canvas side, colours [N, 4] RGBA in 0..1 (numpy arrays, ready to render again at any size)."""

    points: np.ndarray
    widths: np.ndarray
    colours: np.ndarray


@dataclass
class DrawResult:
    image: Image.Image
    strokes: Strokes
    score: float  # cosine of the final drawing (no augmentation) with the text
    steps: int
    seconds: float


def render(points: Any, widths: Any, colours: Any, size: int) -> Any:
    """Differentiable: strokes (torch tensors as in Strokes) -> [3, size, size] image in 0..1 on white."""
    import torch

    t = torch.linspace(0, 1, SAMPLES, device=points.device)[:, None]
    basis = torch.cat([(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3], dim=1)  # [S, 4]
    curve = torch.einsum("sk,nkd->nsd", basis, points) * size  # [N, S, 2] in pixels
    a, b = curve[:, :-1], curve[:, 1:]  # segments [N, S-1, 2]
    coords = (torch.arange(size, device=points.device, dtype=points.dtype) + 0.5)
    grid = torch.stack(torch.meshgrid(coords, coords, indexing="xy"), dim=-1).reshape(-1, 2)  # [P, 2] (x, y)
    ab = b - a
    ap = grid[None, None] - a[:, :, None]  # [N, S-1, P, 2]
    along = ((ap * ab[:, :, None]).sum(-1) / (ab.pow(2).sum(-1)[:, :, None] + 1e-9)).clamp(0, 1)
    nearest = a[:, :, None] + along[..., None] * ab[:, :, None]
    dist = (grid[None, None] - nearest).pow(2).sum(-1).add(1e-9).sqrt().min(dim=1).values  # [N, P]
    half = widths[:, None].abs() * size / 2 + 0.5
    cover = torch.sigmoid((half - dist) / SOFTNESS) * colours[:, 3:4].clamp(0, 1)  # [N, P]
    image = torch.ones(3, size * size, device=points.device, dtype=points.dtype)
    rgb = colours[:, :3].clamp(0, 1)
    for i in range(len(points)):  # painted in order, later strokes over earlier ones
        image = image * (1 - cover[i]) + rgb[i][:, None] * cover[i]
    return image.reshape(3, size, size)


def _augment(image: Any, count: int, out: int, generator: Any) -> Any:
    """count random crops (60-100% of the side) with a random perspective-like warp, at out x out."""
    import torch
    import torch.nn.functional as F

    dev = image.device
    scale = torch.empty(count, 1, 1, device=dev).uniform_(0.6, 1.0, generator=generator)
    shift = (torch.rand(count, 1, 2, device=dev, generator=generator) * 2 - 1) * (1 - scale)
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]], device=dev)
    corners = corners[None] * scale + shift + (torch.rand(count, 4, 2, device=dev, generator=generator) - 0.5) * 0.25
    u = torch.linspace(0, 1, out, device=dev)
    v, w = torch.meshgrid(u, u, indexing="ij")  # rows (y), columns (x)
    w4 = torch.stack([(1 - v) * (1 - w), (1 - v) * w, v * (1 - w), v * w], dim=-1)  # [out, out, 4]
    grid = torch.einsum("hwk,nkd->nhwd", w4, corners)
    return F.grid_sample(image[None].expand(count, -1, -1, -1), grid, mode="bilinear", padding_mode="border",
                         align_corners=False)


def _normaliser(embedder: Embedder) -> tuple[np.ndarray, np.ndarray]:
    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    for t in getattr(embedder._m.preprocess, "transforms", ()):
        if type(t).__name__ == "Normalize":
            mean, std = tuple(t.mean), tuple(t.std)
    return np.asarray(mean, np.float32), np.asarray(std, np.float32)


def draw(embedder: Embedder, text: str, strokes: int = 16, steps: int = 200, canvas: int | None = None,
         augmentations: int = 8, seed: int = 0, out_size: int = 256, progress: ProgressFn | None = None,
         cancel: threading.Event | None = None) -> DrawResult:
    """Optimise `strokes` Bézier strokes for `steps` steps so that the drawing matches `text`."""
    import torch
    import torch.nn.functional as F

    if not text.strip():
        raise QueryError("say what to draw")
    if strokes < 1 or steps < 1:
        raise QueryError("a drawing needs at least one stroke and one step")
    start = time.perf_counter()
    side = embedder.image_size
    size = canvas or side
    dev = torch.device(embedder.device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    target = torch.from_numpy(embedder.encode_texts([text])[0]).to(dev)
    mean, std = (torch.from_numpy(a).to(dev)[:, None, None] for a in _normaliser(embedder))

    # Strokes start short and scattered, like the paper's random initialisation.
    centres = torch.rand(strokes, 1, 2, generator=gen)
    points = (centres + (torch.rand(strokes, 4, 2, generator=gen) - 0.5) * 0.3).to(dev).requires_grad_()
    widths = torch.full((strokes,), 0.04).to(dev).requires_grad_()
    colours = torch.cat([torch.rand(strokes, 3, generator=gen), torch.full((strokes, 1), 0.9)], 1).to(dev)
    colours.requires_grad_()
    opt = torch.optim.Adam([{"params": [points], "lr": 0.02}, {"params": [widths], "lr": 0.004},
                            {"params": [colours], "lr": 0.02}])
    model = embedder.model
    frozen = [(p, p.requires_grad) for p in model.parameters()]
    aug_gen = torch.Generator(device=dev).manual_seed(seed + 1)
    done = 0
    try:
        for p, _ in frozen:
            p.requires_grad_(False)
        for step in range(steps):
            if cancel is not None and cancel.is_set():
                raise DrawCancelled(f"drawing stopped after {step} of {steps} steps")
            image = render(points, widths, colours, size)
            views = (_augment(image, augmentations, side, aug_gen) - mean) / std
            feats = F.normalize(model.encode_image(views.to(embedder_dtype(embedder))).float(), dim=-1)
            loss = -(feats @ target).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                points.clamp_(-0.05, 1.05)
                widths.clamp_(0.01, 0.15)
                colours.clamp_(0, 1)
            done = step + 1
            if progress is not None:
                elapsed = time.perf_counter() - start
                rate = done / elapsed if elapsed > 0 else 0.0
                progress(Progress("drawing", done, steps, rate, (steps - done) / rate if rate else None))
    finally:
        for p, flag in frozen:
            p.requires_grad_(flag)
    final = Strokes(points.detach().cpu().numpy(), widths.detach().cpu().numpy(), colours.detach().cpu().numpy())
    picture = render_image(final, out_size)
    score = float(embedder.encode_images([picture])[0] @ target.cpu().numpy())
    return DrawResult(picture, final, score, done, time.perf_counter() - start)


def embedder_dtype(embedder: Embedder) -> Any:
    return next(embedder.model.parameters()).dtype


def render_image(strokes: Strokes, size: int) -> Image.Image:
    """The strokes drawn at any size (they are resolution-free), as an RGB PIL image."""
    import torch
    from PIL import Image as PILImage

    with torch.no_grad():
        img = render(torch.from_numpy(strokes.points).float(), torch.from_numpy(strokes.widths).float(),
                     torch.from_numpy(strokes.colours).float(), size)
    a = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    return PILImage.fromarray(a, "RGB")


def save_new(image: Image.Image, dest: Path) -> Path:
    """Write a PNG at dest; never overwrites a file."""
    dest = Path(dest).expanduser()
    if not dest.parent.is_dir():
        raise ImageError("the folder to write into does not exist", dest.parent)
    try:
        with dest.open("xb") as f:
            image.save(f, format="PNG")
    except FileExistsError:
        raise ImageError("already exists; not overwriting it", dest) from None
    return dest
