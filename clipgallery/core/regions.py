"""Regional vectors: max-pooled regions of the vision tower's spatial features (R-MAC style).

A global CLIP vector describes a whole scene, so two photos of the same building from a
different street, or the same toy on a different table, can be far apart. Region vectors keep
the parts: the feature grid of one forward pass (ViT patch tokens or ResNet feature maps, see
Embedder.encode_batch_with_grid) is max-pooled over square regions at three scales with about
40% overlap (Tolias et al., "Particular object retrieval with integral max-pooling of CNN
activations", 2016), and each region is L2-normalised. A ViT-B/32 at 224 px has a 7x7 grid and
14 regions. They are stored in the library (float16) when regional vectors are enabled.

Matching (`match_scores`): every region of the query looks for its best match among a photo's
regions, and the photo's score is the mean of those best matches (an asymmetric Chamfer
similarity). A photo scores high when each part of the query appears somewhere in it, wherever
it sits and whatever surrounds it. A crop of the query (`crop_box`) narrows the parts to one
object.
"""

from __future__ import annotations

import numpy as np

LEVELS = 3
OVERLAP = 0.4


def rmac_regions(h: int, w: int, levels: int = LEVELS, overlap: float = OVERLAP) -> list[tuple[int, int, int, int]]:
    """Square regions at `levels` scales with about `overlap` between neighbours.

    Returns (y0, y1, x0, x1) grid boxes; level 1 is the largest square, later levels are smaller.
    """
    regions = []
    side_full = min(h, w)
    for level in range(1, levels + 1):
        side = side_full if level == 1 else max(1, int(round(2 * side_full / (level + 1))))
        for y0 in _starts(h, side, overlap):
            for x0 in _starts(w, side, overlap):
                regions.append((y0, y0 + side, x0, x0 + side))
    return list(dict.fromkeys(regions))


def _starts(length: int, side: int, overlap: float) -> list[int]:
    if side >= length:
        return [0]
    n = max(2, int(np.ceil((length - side) / max(side * (1 - overlap), 1))) + 1)
    return sorted({int(round(v)) for v in np.linspace(0, length - side, n)})


def l2(x: np.ndarray) -> np.ndarray:
    """Rows (the last axis) scaled to unit length; zero rows stay zero."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def mac(grids: np.ndarray) -> np.ndarray:
    """Integral max-pooling: [n, h, w, c] -> [n, c], the maximum of each channel over the grid."""
    return l2(grids.max(axis=(1, 2)))


def regional_vectors(grids: np.ndarray, levels: int = LEVELS) -> np.ndarray:
    """[n, h, w, c] -> [n, regions, c]: each region max-pooled and L2-normalised."""
    _, h, w, _ = grids.shape
    return np.stack([l2(grids[:, y0:y1, x0:x1].max(axis=(1, 2))) for y0, y1, x0, x1 in rmac_regions(h, w, levels)],
                    axis=1).astype(np.float32, copy=False)


def rmac(grids: np.ndarray, levels: int = LEVELS) -> np.ndarray:
    """Regional max-pooling: normalised region vectors summed, then normalised ([n, c])."""
    return l2(regional_vectors(grids, levels).sum(axis=1))


def match_scores(query: np.ndarray, regions: np.ndarray, chunk: int = 512) -> np.ndarray:
    """How well each photo contains the query's regions: [q, c] x [n, r, c] -> [n] in [-1, 1].

    For every photo, the mean over query regions of the best cosine similarity with any of the
    photo's regions. `regions` may be float16 (as stored): it is widened `chunk` photos at a time
    into one reused buffer (fresh allocations, not arithmetic, dominated the cost: page faults on
    every chunk), so the extra memory stays at a few MB whatever the library's size.
    """
    import torch

    q = torch.from_numpy(np.ascontiguousarray(query, dtype=np.float32))
    n, r, c = regions.shape
    if q.ndim != 2 or q.shape[1] != c:
        raise ValueError(f"query regions must be [q, {c}], not {list(q.shape)}")
    src = torch.from_numpy(np.ascontiguousarray(regions))
    out = torch.empty(n, dtype=torch.float32)
    buf = torch.empty(min(chunk, n) * r, c, dtype=torch.float32)
    qt = q.T.contiguous()
    with torch.inference_mode():
        for s in range(0, n, chunk):
            m = min(chunk, n - s)
            block = buf[: m * r]
            block.copy_(src[s:s + m].reshape(m * r, c))
            sims = torch.mm(block, qt).view(m, r, -1)  # [m, r, q]
            out[s:s + m] = sims.amax(dim=1).mean(dim=1)
    return out.numpy()


def crop_box(image, box: tuple[float, float, float, float]):
    """The part of a PIL image inside a box given as fractions (left, top, right, bottom) of its size."""
    left, top, right, bottom = check_box(box)
    w, h = image.size
    px = (int(round(left * w)), int(round(top * h)), int(round(right * w)), int(round(bottom * h)))
    if px[2] - px[0] < 1 or px[3] - px[1] < 1:
        raise ValueError("the box is smaller than one pixel of this image")
    return image.crop(px)


def check_box(box) -> tuple[float, float, float, float]:
    """A (left, top, right, bottom) box of fractions in [0, 1] with left < right and top < bottom."""
    try:
        left, top, right, bottom = (float(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError("a box is four numbers: left, top, right, bottom, as fractions of the photo's size") from None
    if not all(0.0 <= v <= 1.0 for v in (left, top, right, bottom)):
        raise ValueError("box coordinates are fractions of the photo's width and height, between 0 and 1")
    if left >= right or top >= bottom:
        raise ValueError("the box is empty: left must be less than right and top less than bottom")
    return left, top, right, bottom
