"""Why a photo matches a query: a heatmap of where, and the vocabulary concepts that carry the match."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ImageError, QueryError

if TYPE_CHECKING:
    from PIL import Image

    from .embed import Embedder
    from .library import Library
    from .search import Searcher

CONCEPTS = "concepts"  # the built-in label set whose words explain a match
MIN_GRID = 7  # a ResNet gets an input large enough for at least this many cells per side


@dataclass(frozen=True)
class Concept:
    """A vocabulary word and its share of the photo-query similarity."""

    word: str
    weight: float


@dataclass
class Explanation:
    """score: cosine of photo and query; heatmap [rows, cols]: per-region similarity to the query,
    over the whole photo (row 0 at its top); concepts: best first."""

    score: float
    heatmap: np.ndarray
    concepts: list[Concept] = field(default_factory=list)
    image: Image.Image | None = None  # the photo the heatmap covers (for an overlay)

    def to_json(self, digits: int = 4) -> dict[str, Any]:
        return {"score": round(float(self.score), 6),
                "heatmap": [[round(float(x), digits) for x in row] for row in self.heatmap],
                "concepts": [{"word": c.word, "weight": round(c.weight, 6)} for c in self.concepts]}

    def peak(self) -> tuple[float, float]:
        """(x, y) of the heatmap's maximum, as fractions of the photo's width and height."""
        rows, cols = self.heatmap.shape
        r, c = np.unravel_index(int(np.argmax(self.heatmap)), self.heatmap.shape)
        return (c + 0.5) / cols, (r + 0.5) / rows


# -- the heatmap -------------------------------------------------------------------------------------

def heatmap(embedder: Embedder, image: Image.Image, query: np.ndarray) -> np.ndarray:
    """Cosine similarity of each spatial feature (in the joint space) with the query vector.

    The whole photo is squeezed to the model's square input, so the map covers all of it (a search
    vector sees only the centre crop). A ResNet, being convolutional, gets a larger input so that its
    grid has at least MIN_GRID cells per side.
    """
    grid = joint_grids(embedder, [image])[0]
    q = np.asarray(query, np.float32)
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    return (grid @ q).astype(np.float32)


def joint_grids(embedder: Embedder, images: Sequence[Image.Image]) -> np.ndarray:
    """[n, rows, cols, dim] unit spatial features of whole images in the joint space (see heatmap)."""
    import torch

    side = embedder.image_size
    if not _is_vit(embedder):
        cells = max(1, side // 32)
        side *= max(1, -(-MIN_GRID // cells))
    batch = np.stack([model_input(embedder, im.convert("RGB").resize((side, side), _bicubic())) for im in images])
    return embedder.encode_joint_grid(torch.from_numpy(batch))


def _is_vit(embedder: Embedder) -> bool:
    return not hasattr(embedder.model.visual, "attnpool")


def _bicubic() -> Any:
    from PIL import Image

    return Image.Resampling.BICUBIC


def model_input(embedder: Embedder, image: Image.Image) -> np.ndarray:
    """An RGB image already at the wanted size -> CHW float32, with the model's mean and std."""
    mean, std = np.asarray((0.48145466, 0.4578275, 0.40821073)), np.asarray((0.26862954, 0.26130258, 0.27577711))
    for t in getattr(embedder._m.preprocess, "transforms", ()):
        if type(t).__name__ == "Normalize":
            mean, std = np.asarray(t.mean, np.float32), np.asarray(t.std, np.float32)
    a = np.asarray(image, np.float32) / 255.0
    return ((a - mean) / std).transpose(2, 0, 1).astype(np.float32)


def overlay(image: Image.Image, heat: np.ndarray, alpha: float = 0.55) -> Image.Image:
    """The photo with the heatmap laid over it: transparent where it matches least, warm where most."""
    from PIL import Image as PILImage

    base = image.convert("RGB")
    h = np.asarray(heat, np.float32)
    span = float(h.max() - h.min())
    t = (h - h.min()) / span if span > 1e-9 else np.zeros_like(h)
    small = PILImage.fromarray((t * 255).astype(np.uint8), "L").resize(base.size, PILImage.Resampling.BILINEAR)
    t = np.asarray(small, np.float32)[..., None] / 255.0
    colour = _colour_map(t)
    a = alpha * (0.25 + 0.75 * t)
    mixed = np.asarray(base, np.float32) * (1 - a) + colour * a
    return PILImage.fromarray(np.clip(mixed + 0.5, 0, 255).astype(np.uint8), "RGB")


def save_overlay(result: Explanation, dest: Path) -> Path:
    """Write the photo with its heatmap as a PNG at dest; never overwrites a file."""
    if result.image is None:
        raise ImageError("this explanation has no photo to draw the heatmap on")
    dest = Path(dest).expanduser()
    if not dest.parent.is_dir():
        raise ImageError("the folder to write into does not exist", dest.parent)
    picture = overlay(result.image, result.heatmap)
    try:
        with dest.open("xb") as f:
            picture.save(f, format="PNG")
    except FileExistsError:
        raise ImageError("already exists; not overwriting it", dest) from None
    return dest


def _colour_map(t: np.ndarray) -> np.ndarray:
    """0 -> deep blue, 0.5 -> yellow-green, 1 -> red (a compact 'turbo'-like ramp)."""
    stops = np.asarray([[48, 18, 160], [40, 150, 240], [120, 230, 90], [250, 200, 40], [220, 30, 20]], np.float32)
    pos = t[..., 0] * (len(stops) - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, len(stops) - 2)
    frac = (pos - lo)[..., None]
    return stops[lo] * (1 - frac) + stops[lo + 1] * frac


# -- the concepts ------------------------------------------------------------------------------------

def concept_vectors(embedder: Embedder, library: Library | None = None) -> tuple[list[str], np.ndarray]:
    """The concept vocabulary's words and their unit text vectors (cached in the library when given)."""
    from .label_sets import load_label_set
    from .text_vectors import label_embeddings

    label_set = load_label_set(CONCEPTS)
    return list(label_set.labels), label_embeddings(label_set, embedder, library=library)


def decompose(v: np.ndarray, atoms: np.ndarray, sparsity: float = 0.1, steps: int = 400) -> np.ndarray:
    """Non-negative sparse codes a >= 0 with v ~ a @ atoms: min 0.5|v - a@atoms|^2 + lam*sum(a).

    lam is `sparsity` times the largest correlation of v with an atom (above it every code is 0),
    solved by accelerated projected gradient (FISTA): a few hundred small matrix products.
    """
    v = np.asarray(v, np.float64)
    d = np.asarray(atoms, np.float64)
    lam = sparsity * max(float((d @ v).max()), 1e-9)
    lipschitz = float(np.linalg.norm(d, 2)) ** 2
    a = np.zeros(len(d))
    y, t = a.copy(), 1.0
    for _ in range(steps):
        grad = (y @ d - v) @ d.T + lam
        a_next = np.maximum(y - grad / lipschitz, 0.0)
        t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
        y = a_next + (t - 1) / t_next * (a_next - a)
        a, t = a_next, t_next
    return a


def concept_weights(photo: np.ndarray, query: np.ndarray, atoms: np.ndarray, sparsity: float = 0.1) -> np.ndarray:
    """Every concept's contribution (see concept_contributions), negative ones included."""
    p, q = np.asarray(photo, np.float64), np.asarray(query, np.float64)
    a, b = decompose(p, atoms, sparsity), decompose(q, atoms, sparsity)
    c = np.asarray(atoms, np.float64)
    return 0.5 * (a * (c @ q) + b * (c @ p))


def concept_contributions(photo: np.ndarray, query: np.ndarray, words: Sequence[str], atoms: np.ndarray,
                          top: int = 8, sparsity: float = 0.1) -> list[Concept]:
    """The concepts that carry photo . query, each with its contribution (they sum to about the score).

    Both vectors are decomposed over the concept vectors (mutual knowledge: what both sides can be
    said to contain). A concept's contribution is half of what its part of the photo adds to the
    similarity with the query plus half of what its part of the query adds with the photo:
    0.5 * (a_i c_i.q + b_i c_i.p). Summed, that is 0.5 * (p~.q + p.q~), which tends to p.q as the
    decompositions become exact. Only concepts that add to the similarity are listed.
    """
    weights = concept_weights(photo, query, atoms, sparsity)
    order = [int(i) for i in np.argsort(-weights) if weights[i] > 1e-6][:top]
    return [Concept(words[i], float(weights[i])) for i in order]


# -- one photo, one query ----------------------------------------------------------------------------

def explain_image(embedder: Embedder, image: Image.Image, photo_vector: np.ndarray, query: np.ndarray,
                  concepts: tuple[list[str], np.ndarray] | None = None, top: int = 8) -> Explanation:
    """The explanation of an image (and its search vector) for a query vector."""
    words, atoms = concepts if concepts is not None else concept_vectors(embedder)
    score = float(np.dot(photo_vector, query))
    return Explanation(score, heatmap(embedder, image, query),
                       concept_contributions(photo_vector, query, words, atoms, top), image)


def explain_photo(searcher: Searcher, photo: Path, query: str, top: int = 8) -> Explanation:
    """Why `photo` (indexed or any image file) matches `query` (the search query language)."""
    from .images import decode

    path = Path(photo).expanduser()
    if not path.exists() and not path.is_absolute() and (searcher.library.root / path).exists():
        path = searcher.library.root / path
    if not path.is_file():
        raise ImageError("file not found" if not path.exists() else "is a folder, not a file", path)
    if not query.strip():
        raise QueryError("say what to explain the photo for: a query of words or image paths")
    q = searcher.query_vector(query)
    vector = searcher.image_vector(path)
    image = decode(path, min_side=max(searcher.embedder.image_size, 224)).image
    return explain_image(searcher.embedder, image, vector, q,
                         concept_vectors(searcher.embedder, searcher.library), top)
