"""Fast text encoding: stopping at the last end-of-text token gives the full-length result, exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

TEXTS = [
    "",
    "a",
    "red circle",
    "kids on the beach at sunset",
    "a photo of a small purple triangle next to a big orange star on a grey background",
    "ünïcödé — 東京の夜景 🌃",
    "word " * 120,  # longer than the context: the tokenizer cuts it, end-of-text at the last position
]


def _embedder(model, tokenizer, spec: str):
    from clipgallery.core.embed import Embedder
    from clipgallery.core.models import LoadedModel, ModelSpec

    model = model.eval()
    with torch.inference_mode():
        dim = int(model.encode_text(tokenizer(["a"])).shape[-1])
    return Embedder(LoadedModel(ModelSpec(spec, "open_clip"), model, None, tokenizer, "cpu", torch.float32,
                                dim, 32, 100.0))


@pytest.fixture(scope="module")
def vit_b32():
    """The real ViT-B-32 architecture with random weights (no download)."""
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    return _embedder(model, open_clip.get_tokenizer("ViT-B-32"), "ViT-B-32:random")


def _tiny_clip(**text_cfg):
    import open_clip

    torch.manual_seed(1)
    cfg = {"embed_dim": 32,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2,
                        **text_cfg}}
    model = open_clip.model.CLIP(**cfg)
    # Random init leaves some parameters tiny; spread them so that every position matters.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return _embedder(model, open_clip.get_tokenizer("ViT-B-32"), "tiny-variant")


def _text_lengths_seen(embedder, texts) -> list[int]:
    """Sequence lengths that went through the text transformer while encoding texts."""
    seen = []
    transformer = getattr(embedder.model, "transformer", None) or embedder.model.text.transformer

    batch_first = getattr(transformer, "batch_first", True)

    def hook(module, args):  # the first block's first norm runs on every path, lean or not
        x = args[0]
        seen.append(x.shape[1] if batch_first else x.shape[0])

    handle = transformer.resblocks[0].ln_1.register_forward_pre_hook(hook)
    try:
        embedder.encode_texts(texts)
    finally:
        handle.remove()
    return seen


def _assert_same_as_full(embedder) -> None:
    fast = embedder.encode_texts(TEXTS)
    full = embedder.encode_texts_full(TEXTS)
    assert fast.shape == full.shape == (len(TEXTS), embedder.dim)
    assert np.abs(fast - full).max() < 1e-5
    # One at a time too: each text then runs only as long as itself.
    for text, ref in zip(TEXTS, full):
        assert np.abs(embedder.encode_texts([text])[0] - ref).max() < 1e-5
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("spec", ["tiny-random", "shapes-tiny"])
def test_bundled_models_truncated_equals_full(embedders, spec):
    e = embedders(spec)
    _assert_same_as_full(e)
    short = _text_lengths_seen(e, ["red circle"])
    assert short and max(short) <= 5  # start, two words, end: not 77 positions


def test_vit_b32_truncated_equals_full(vit_b32):
    from clipgallery.core.embed import _lean_blocks

    assert _lean_blocks(vit_b32.model.transformer)  # the lean block path is the one checked here
    _assert_same_as_full(vit_b32)
    assert _text_lengths_seen(vit_b32, ["kids on the beach at sunset"]) == [8]


def test_batches_stop_at_their_longest_text(vit_b32):
    tokens = vit_b32.tokenize(["a", "kids on the beach at sunset"])
    longest = int(tokens.argmax(dim=-1).max()) + 1
    assert _text_lengths_seen(vit_b32, ["a", "kids on the beach at sunset"]) == [longest]
    # The long text pools at the last position, so a batch holding it runs at full length.
    assert _text_lengths_seen(vit_b32, ["a", "word " * 120]) == [77]


def test_eos_pooling_is_truncated_too():
    e = _tiny_clip(pool_type="eos", eos_id=49407)
    _assert_same_as_full(e)
    assert max(_text_lengths_seen(e, ["red circle"])) <= 5


@pytest.mark.parametrize("text_cfg", [{"pool_type": "last"}, {"no_causal_mask": True}, {"pool_type": "first"}])
def test_models_where_truncation_would_be_wrong_take_the_full_path(text_cfg):
    e = _tiny_clip(**text_cfg)
    _assert_same_as_full(e)
    assert _text_lengths_seen(e, ["red circle"]) == [77]


def test_custom_text_clip_takes_the_full_path():
    import open_clip

    torch.manual_seed(2)
    model = open_clip.model.CustomTextCLIP(
        embed_dim=32,
        vision_cfg={"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        text_cfg={"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    )
    e = _embedder(model, open_clip.get_tokenizer("ViT-B-32"), "custom-text")
    _assert_same_as_full(e)
    assert _text_lengths_seen(e, ["red circle"]) == [77]
