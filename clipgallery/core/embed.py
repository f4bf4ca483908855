"""The Embedder: images and texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .models import LoadedModel, ModelSpec, load_model


class Embedder:
    """One loaded CLIP model on one device. Thread-compatible: one encode call at a time."""

    def __init__(self, loaded: LoadedModel):
        self._m = loaded

    @classmethod
    def load(cls, spec: str | ModelSpec | None = None, device: str = "auto") -> Embedder:
        return cls(load_model(spec, device))

    @property
    def spec(self) -> str:
        return self._m.spec.text

    @property
    def dim(self) -> int:
        return self._m.dim

    @property
    def device(self) -> str:
        return self._m.device

    @property
    def image_size(self) -> int:
        return self._m.image_size

    @property
    def logit_scale(self) -> float:
        return self._m.logit_scale

    @property
    def model(self) -> Any:
        return self._m.model

    def preprocess(self, image: Any) -> Any:
        """PIL RGB image -> CHW float tensor, exactly the model's eval transform."""
        return self._m.preprocess(image)

    def encode_batch(self, batch: Any) -> np.ndarray:
        """A stacked [n, 3, H, W] tensor of preprocessed images -> [n, dim] unit vectors."""
        import torch

        with torch.inference_mode():
            x = batch.to(self._m.device, dtype=self._m.dtype, non_blocking=True)
            feats = self._m.model.encode_image(x)
        return _normalise(feats)

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        import torch

        if not images:
            return np.zeros((0, self.dim), np.float32)
        return self.encode_batch(torch.stack([self.preprocess(im) for im in images]))

    def encode_batch_with_grid(self, batch: Any) -> tuple[np.ndarray, np.ndarray]:
        """Like encode_batch, plus the spatial features of the same forward pass.

        Returns (unit vectors [n, dim], grid [n, h, w, c]). For a ViT the grid holds the patch
        tokens after the final norm and projection (in the joint embedding space, c = dim); for
        a ResNet it holds the last feature maps before attention pooling.
        """
        import torch

        visual = self._m.model.visual
        with torch.inference_mode():
            x = batch.to(self._m.device, dtype=self._m.dtype)
            if hasattr(visual, "_embeds") and hasattr(visual, "_pool") and hasattr(visual, "grid_size"):
                h = visual.transformer(visual._embeds(x))
                pooled, tokens = visual._pool(h)
                if visual.proj is not None:
                    pooled, tokens = pooled @ visual.proj, tokens @ visual.proj
                gh, gw = visual.grid_size
                grid = tokens[:, -gh * gw:].reshape(len(x), gh, gw, -1)
            elif hasattr(visual, "attnpool") and hasattr(visual, "stem"):
                f = visual.layer4(visual.layer3(visual.layer2(visual.layer1(visual.stem(x)))))
                pooled, grid = visual.attnpool(f), f.permute(0, 2, 3, 1)
            else:
                raise NotImplementedError(f"spatial features of {type(visual).__name__} are not supported")
        return _normalise(pooled), grid.float().cpu().numpy()

    def tokenize(self, texts: Sequence[str]) -> Any:
        return self._m.tokenizer(list(texts))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> [n, dim] unit vectors."""
        import torch

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with torch.inference_mode():
            tokens = self.tokenize(texts).to(self._m.device)
            feats = self._m.model.encode_text(tokens)
        return _normalise(feats)


def _normalise(feats: Any) -> np.ndarray:
    v = feats.float().cpu().numpy().astype(np.float32, copy=False)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norms, 1e-12)
