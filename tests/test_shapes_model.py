"""The bundled models load with plain open_clip, and shapes-tiny knows its shapes and colours."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from clipgallery import shapes  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "clipgallery" / "resources" / "models"


def build(name: str):
    """Build a bundled model the way the registry does: seed, CLIP(**model_cfg), float32 weights."""
    entry = json.loads((MODELS / f"{name}.json").read_text())
    torch.manual_seed(entry["seed"])
    model = open_clip.model.CLIP(**entry["model_cfg"])
    if entry["weights"]:
        state = {
            k: v.float() if v.is_floating_point() else v
            for k, v in load_file(str(MODELS / entry["weights"])).items()
        }
        model.load_state_dict(state, strict=True)
    return model.eval(), entry


@pytest.fixture(scope="module")
def shapes_tiny():
    return build("shapes-tiny")


@pytest.fixture(scope="module")
def held_out(tmp_path_factory, shapes_tiny):
    """96 fresh pictures (4 per class), preprocessed like at inference; -> (pixels, truth)."""
    model, entry = shapes_tiny
    folder = tmp_path_factory.mktemp("held-out")
    truth = shapes.write_folder(folder, per_class=4, seed=31_337)
    preprocess = open_clip.image_transform(
        model.visual.image_size, is_train=False, mean=entry["mean"], std=entry["std"]
    )
    paths = sorted(truth)
    pixels = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths])
    return pixels, [truth[p] for p in paths]


def zero_shot(model, pixels, names: list[str], template: str) -> list[str]:
    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=model.context_length)
    with torch.no_grad():
        images = model.encode_image(pixels, normalize=True)
        texts = model.encode_text(tokenizer([template.format(n) for n in names]), normalize=True)
    return [names[i] for i in (images @ texts.T).argmax(1).tolist()]


def test_entry_describes_the_weights(shapes_tiny):
    model, entry = shapes_tiny
    weights = MODELS / entry["weights"]
    assert entry["name"] == "shapes-tiny" and len(entry["mean"]) == len(entry["std"]) == 3
    assert weights.stat().st_size <= 15 * 1024 * 1024
    assert set(load_file(str(weights))) == set(model.state_dict())
    assert model.vocab_size == 49408  # the standard open_clip tokenizer


def test_zero_shot_names_the_24_classes(shapes_tiny, held_out):
    model, _ = shapes_tiny
    pixels, truth = held_out
    names = [shapes.class_name(c, s) for c, s in shapes.CLASSES]
    predicted = zero_shot(model, pixels, names, "a photo of a {}")
    accuracy = sum(p == shapes.class_name(*t) for p, t in zip(predicted, truth)) / len(truth)
    assert accuracy >= 0.9, accuracy


def test_zero_shot_names_the_shape_alone(shapes_tiny, held_out):
    model, _ = shapes_tiny
    pixels, truth = held_out
    predicted = zero_shot(model, pixels, list(shapes.SHAPES), "a photo of a {}")
    accuracy = sum(p == s for p, (_, s) in zip(predicted, truth)) / len(truth)
    assert accuracy >= 0.9, accuracy


def test_tiny_random_builds_from_its_seed():
    first, entry = build("tiny-random")
    second, _ = build("tiny-random")
    assert entry["weights"] is None
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
    size = first.visual.image_size
    size = size[0] if isinstance(size, tuple) else size
    with torch.no_grad():
        vec = first.encode_image(torch.zeros(1, 3, size, size), normalize=True)
    assert vec.shape == (1, entry["model_cfg"]["embed_dim"])
