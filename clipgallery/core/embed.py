"""The Embedder: images and texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from .models import LoadedModel, ModelSpec, load_model

_F = TypeVar("_F", bound=Callable[..., Any])


def _serial(method: _F) -> _F:
    """One encode at a time per model: indexing, search and tagging threads share one Embedder."""

    @functools.wraps(method)
    def wrapper(self: Embedder, *args: Any, **kwargs: Any) -> Any:
        with self._encode_lock:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Embedder:
    """One loaded CLIP model on one device. Thread-safe: encode calls take turns."""

    def __init__(self, loaded: LoadedModel):
        self._m = loaded
        self._encode_lock = threading.RLock()

    @classmethod
    def load(cls, spec: str | ModelSpec | None = None, device: str = "auto", download: Any = None,
             cancel: Any = None) -> Embedder:
        """download(DownloadProgress) hears about a first-run weights download; cancel stops it."""
        return cls(load_model(spec, device, download, cancel))

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

    @_serial
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

    @property
    def supports_regions(self) -> bool:
        """Whether encode_batch_with_grid can read this model's spatial features."""
        visual = self._m.model.visual
        return (all(hasattr(visual, a) for a in ("_embeds", "_pool", "grid_size", "transformer"))
                or (hasattr(visual, "attnpool") and hasattr(visual, "stem")))

    @_serial
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

    @_serial
    def encode_joint_grid(self, batch: Any) -> np.ndarray:
        """[n, 3, H, W] -> [n, h, w, dim] spatial features in the joint space, L2-normalised.

        A ViT's patch tokens are already there. For a ResNet each position of the last feature map
        goes through attention pooling's value and output projections (with its own positional
        embedding, resized to the grid) -- what the pooled vector is a weighted sum of. H and W may
        exceed image_size for a ResNet (a finer grid); a ViT needs its own size.
        """
        import torch
        import torch.nn.functional as F

        visual = self._m.model.visual
        if not (hasattr(visual, "attnpool") and hasattr(visual, "stem")):
            return _normalise_last(self.encode_batch_with_grid(batch)[1])  # the lock is re-entrant
        with torch.inference_mode():
            x = batch.to(self._m.device, dtype=self._m.dtype)
            f = visual.layer4(visual.layer3(visual.layer2(visual.layer1(visual.stem(x)))))
            n, c, h, w = f.shape
            pool = visual.attnpool
            pos = pool.positional_embedding[1:]
            side = int(round(pos.shape[0] ** 0.5))
            if (side, side) != (h, w):
                pos = F.interpolate(pos.T.reshape(1, c, side, side), size=(h, w), mode="bicubic",
                                    align_corners=False).reshape(c, h * w).T
            tokens = f.flatten(2).transpose(1, 2) + pos.to(f.dtype)
            out = pool.c_proj(pool.v_proj(tokens)).reshape(n, h, w, -1)
        return _normalise_last(out.float().cpu().numpy())

    def encode_batch_with_regions(self, batch: Any) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass -> (unit vectors [n, dim], region vectors [n, regions, c] float16).

        The global vectors equal encode_batch's; the regions are those of core.regions.
        """
        from .regions import regional_vectors

        vecs, grid = self.encode_batch_with_grid(batch)
        return vecs, regional_vectors(grid).astype(np.float16)

    def encode_image_regions(self, image: Any) -> np.ndarray:
        """One PIL image -> its region vectors [regions, c] float32 (a query, not stored)."""
        vecs, regions = self.encode_batch_with_regions(self.preprocess(image)[None])
        return regions[0].astype(np.float32)

    def tokenize(self, texts: Sequence[str]) -> Any:
        return self._m.tokenizer(list(texts))

    @_serial
    def encode_texts(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Texts -> [n, dim] unit vectors.

        Texts are encoded shortest first in batches that stop at their longest real token
        (see _encode_tokens), so a short query costs a fraction of a full 77-token pass.
        """
        import torch

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        tokens = self.tokenize(texts)
        lengths = _pool_index(self._m.model, tokens)
        order = np.argsort(lengths.numpy(), kind="stable") if lengths is not None else np.arange(len(texts))
        out = np.zeros((len(texts), self.dim), np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = torch.from_numpy(order[start:start + batch_size])
                feats = _encode_tokens(self._m.model, tokens[rows].to(self._m.device))
                out[rows.numpy()] = _normalise(feats)
        return out

    @_serial
    def encode_texts_full(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> unit vectors through open_clip's own full-length path (the reference)."""
        import torch

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with torch.inference_mode():
            feats = self._m.model.encode_text(self.tokenize(texts).to(self._m.device))
        return _normalise(feats)


def _pool_index(model: Any, tokens: Any) -> Any | None:
    """Per text, the position whose output open_clip pools; None when truncation is unsafe."""
    import torch

    if not _truncatable(model) or tokens.shape[1] != model.positional_embedding.shape[0]:
        return None
    if model.text_pool_type == "argmax":
        return tokens.argmax(dim=-1)
    return (tokens == model.text_eos_id).int().argmax(dim=-1).to(torch.long)


_TRUNCATABLE: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _truncatable(model: Any) -> bool:
    """Can this model's text encoding stop at the last pooled token? Checked once per model.

    CLIP's text tower is causal: position i attends only to positions <= i, and the pooled
    output is read at the end-of-text token. So positions after the last pooled one in a batch
    cannot change the result. That holds only for argmax/eos pooling with a causal mask in the
    plain CLIP class; anything else (a separate text module as in CustomTextCLIP, a
    bidirectional mask, first/last/mean pooling) takes open_clip's full path.
    """
    known = _TRUNCATABLE.get(model)
    if known is None:
        needed = ("token_embedding", "positional_embedding", "transformer", "ln_final", "text_projection")
        pool = getattr(model, "text_pool_type", None)
        mask = getattr(model, "attn_mask", None)
        known = (all(hasattr(model, a) for a in needed) and mask is not None and _is_causal(mask)
                 and (pool == "argmax" or (pool == "eos" and getattr(model, "text_eos_id", None) is not None)))
        _TRUNCATABLE[model] = known
    return known


def _is_causal(mask: Any) -> bool:
    m = mask.detach().float().cpu().numpy()
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        return False
    upper = np.triu(np.ones(m.shape, dtype=bool), k=1)
    return bool(np.isneginf(m[upper]).all() and np.isfinite(m[~upper]).all())


def _encode_tokens(model: Any, tokens: Any) -> Any:
    """open_clip CLIP.encode_text, run only up to the longest pooled position of the batch."""
    idx = _pool_index(model, tokens)
    if idx is None:
        return model.encode_text(tokens)
    import torch

    n = int(idx.max()) + 1
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens[:, :n]).to(cast_dtype)
    x = x + model.positional_embedding[:n].to(cast_dtype)
    if _lean_blocks(model.transformer):
        for block in model.transformer.resblocks:
            x = _lean_block(block, x)
    else:
        x = model.transformer(x, attn_mask=model.attn_mask[:n, :n])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), idx]
    proj = model.text_projection
    if proj is not None:
        x = proj(x) if isinstance(proj, torch.nn.Module) else x @ proj
    return x

_LEAN: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _lean_blocks(transformer: Any) -> bool:
    """Are all blocks open_clip's plain ResidualAttentionBlock over torch's MultiheadAttention?

    Then _lean_block computes the same thing with fewer steps: a short query spends a tenth of its
    time in MultiheadAttention's checks and mask handling, which a causal scaled_dot_product_attention
    does without. Anything else (other block classes, key/value norms, extra biases, dropout) takes
    the module's own forward.
    """
    known = _LEAN.get(transformer)
    if known is None:
        import torch

        def plain(block: Any) -> bool:
            a = getattr(block, "attn", None)
            return (type(block).__name__ == "ResidualAttentionBlock" and type(block).__module__.startswith("open_clip")
                    and isinstance(a, torch.nn.MultiheadAttention) and a._qkv_same_embed_dim
                    and a.in_proj_bias is not None and a.bias_k is None and a.bias_v is None
                    and not a.add_zero_attn and (a.dropout == 0 or not a.training)
                    and not hasattr(block, "ln_1_kv") and all(hasattr(block, n) for n in ("ln_1", "ls_1", "ln_2",
                                                                                             "mlp", "ls_2")))

        blocks = getattr(transformer, "resblocks", None)
        known = bool(blocks) and all(plain(b) for b in blocks)
        _LEAN[transformer] = known
    return known


def _lean_block(block: Any, x: Any) -> Any:
    """One ResidualAttentionBlock with a causal mask, on [batch, length, width]."""
    import torch.nn.functional as F

    a = block.attn
    h = block.ln_1(x)
    b, length, width = h.shape
    heads = a.num_heads
    qkv = F.linear(h, a.in_proj_weight, a.in_proj_bias).view(b, length, 3, heads, width // heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, length, width)
    x = x + block.ls_1(F.linear(o, a.out_proj.weight, a.out_proj.bias))
    return x + block.ls_2(block.mlp(block.ln_2(x)))


def _normalise(feats: Any) -> np.ndarray:
    v = feats.float().cpu().numpy().astype(np.float32, copy=False)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


def _normalise_last(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float32, copy=False)
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
