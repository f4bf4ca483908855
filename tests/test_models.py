"""Model specs, loading paths (bundled, local checkpoint, local folder), errors and device choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import photo

from clipgallery.core.embed import Embedder
from clipgallery.core.errors import ModelLoadError
from clipgallery.core.models import DEFAULT_MODEL, bundled_models, model_at_hand, parse_spec, pick_device


def test_parse_specs(tmp_path):
    assert parse_spec("tiny-random").kind == "bundled"
    s = parse_spec("ViT-B-32")
    assert (s.kind, s.text) == ("open_clip", "ViT-B-32:laion2b_s34b_b79k")
    assert parse_spec("ViT-L-14:openai").pretrained == "openai"
    assert parse_spec("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K").kind == "hf-hub"
    assert parse_spec(None).text == DEFAULT_MODEL
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"x")
    s = parse_spec(f"ViT-B-32:{weights}")
    assert (s.kind, s.path) == ("file", weights.resolve())
    with pytest.raises(ModelLoadError, match="which architecture"):
        parse_spec(str(weights))
    with pytest.raises(ModelLoadError, match="not found"):
        parse_spec(f"ViT-B-32:{tmp_path / 'missing.safetensors'}")
    with pytest.raises(ModelLoadError, match="open_clip_config.json"):
        parse_spec(str(tmp_path))


def test_environment_sets_default(monkeypatch):
    monkeypatch.setenv("CLIPGALLERY_MODEL", "tiny-random")
    assert parse_spec(None).text == "tiny-random"


def test_bundled_registry_lists_tiny_models():
    assert {"tiny-random", "shapes-tiny"} <= set(bundled_models())


@pytest.mark.parametrize("spec, words", [
    ("NoSuchNet-7", "unknown model 'NoSuchNet-7'"),
    ("ViT-B-32:no-such-tag", "unknown pretrained tag 'no-such-tag'"),
    ("ViT-B-32:laion2b_s34b_b79k", "internet"),  # offline here: the weights cannot be obtained
])
def test_load_errors_say_what_to_do(spec, words):
    with pytest.raises(ModelLoadError) as e:
        Embedder.load(spec, "cpu")
    assert words in str(e.value)


def test_a_model_is_at_hand_when_it_loads_without_a_download(tmp_path):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"not checked here: loading it says what is wrong")
    assert model_at_hand("tiny-random") and model_at_hand("shapes-tiny")
    assert model_at_hand(f"ViT-B-32:{weights}")  # a file of one's own
    assert not model_at_hand("ViT-B-32:laion2b_s34b_b79k")  # from the hub, not in the cache
    assert not model_at_hand("hf-hub:someone/model")
    assert not model_at_hand(f"ViT-B-32:{tmp_path / 'gone.pt'}")  # loading it says the file is missing


def test_device_choice():
    assert pick_device("auto") in ("cpu", "cuda", "mps")
    assert pick_device("cpu") == "cpu"
    with pytest.raises(ModelLoadError, match="unknown device"):
        pick_device("tpu")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="no CUDA GPU"):
            pick_device("cuda")


def test_tiny_random_is_deterministic_and_normalised():
    a = Embedder.load("tiny-random", "cpu")
    b = Embedder.load("tiny-random", "cpu")
    ims = [photo(i, (64, 64)) for i in range(3)]
    va, vb = a.encode_images(ims), b.encode_images(ims)
    np.testing.assert_array_equal(va, vb)
    np.testing.assert_allclose(np.linalg.norm(va, axis=1), 1, atol=1e-5)
    t = a.encode_texts(["a dog", "a cat"])
    assert t.shape == (2, a.dim) and t.dtype == np.float32


def _tiny_state():
    import torch

    emb = Embedder.load("tiny-random", "cpu")
    return emb, {k: v.detach().clone() for k, v in emb.model.state_dict().items()}, torch


def test_local_checkpoint_file_loads_safely(tmp_path):
    """ARCH:FILE with a torch checkpoint of a registered architecture gives the same vectors."""
    import open_clip

    emb, state, torch = _tiny_state()
    cfg_dir = tmp_path / "cfgs"
    cfg_dir.mkdir()
    (cfg_dir / "cg-tiny-test.json").write_text(json.dumps(bundled_models()["tiny-random"]["model_cfg"]))
    open_clip.add_model_config(cfg_dir)
    ckpt = tmp_path / "tiny.pt"
    torch.save({"state_dict": state}, ckpt)
    loaded = Embedder.load(f"cg-tiny-test:{ckpt}", "cpu")
    ims = [photo(5, (64, 64))]
    np.testing.assert_allclose(loaded.encode_images(ims), emb.encode_images(ims), atol=1e-6)
    assert loaded.spec == f"cg-tiny-test:{ckpt.resolve()}"


def test_local_model_folder_loads(tmp_path):
    """A folder in open_clip's hub layout (config + safetensors) loads without any network."""
    from safetensors.torch import save_file

    emb, state, _ = _tiny_state()
    folder = tmp_path / "my-model"
    folder.mkdir()
    entry = bundled_models()["tiny-random"]
    (folder / "open_clip_config.json").write_text(json.dumps({
        "model_cfg": entry["model_cfg"],
        "preprocess_cfg": {"mean": entry["mean"], "std": entry["std"]},
    }))
    save_file({k: v.contiguous() for k, v in state.items()}, folder / "open_clip_model.safetensors")
    loaded = Embedder.load(str(folder), "cpu")
    ims = [photo(6, (64, 64))]
    np.testing.assert_allclose(loaded.encode_images(ims), emb.encode_images(ims), atol=1e-6)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    import open_clip

    cfg_dir = tmp_path / "cfgs"
    cfg_dir.mkdir()
    (cfg_dir / "cg-tiny-bad.json").write_text(json.dumps(bundled_models()["tiny-random"]["model_cfg"]))
    open_clip.add_model_config(cfg_dir)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError, match="could not load weights"):
        Embedder.load(f"cg-tiny-bad:{bad}", "cpu")


def test_local_weights_load_without_random_init_and_equal_open_clips_own_loading(tmp_path):
    """The init-free path (uninitialised parameters, memory-mapped checkpoint, assigned) gives the
    very model open_clip's create_model_and_transforms gives, for .pt and .safetensors files."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    from clipgallery.core.models import _create_without_init, load_model, parse_spec

    cfg = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8,
                                           "head_width": 16},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}}
    torch.manual_seed(3)
    source = open_clip.model.CLIP(**cfg)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": {}}))
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        for old in folder.glob("open_clip_*model.*"):
            old.unlink()
        path = folder / name
        save_file(state, str(path)) if name.endswith(".safetensors") else torch.save(state, path)
        ms = parse_spec(str(folder))
        lean = _create_without_init(ms, f"local-dir:{ms.path}", None)
        assert lean is not None  # the init-free path really ran
        reference, _, _ = open_clip.create_model_and_transforms(f"local-dir:{ms.path}", weights_only=True)
        got, want = lean[0].state_dict(), reference.state_dict()
        assert got.keys() == want.keys()
        for k in want:
            assert torch.equal(got[k], want[k]), k
        loaded = load_model(ms, "cpu")
        tokens = open_clip.get_tokenizer("ViT-B-32")(["a red circle", "x"])
        with torch.inference_mode():
            torch.testing.assert_close(loaded.model.encode_text(tokens), reference.eval().encode_text(tokens))
            image = torch.rand(2, 3, 32, 32)
            torch.testing.assert_close(loaded.model.encode_image(image), reference.encode_image(image))
