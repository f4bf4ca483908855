"""shapes-tiny on the held-out drawing style (shapes_heldout), which training never sees.

The pictures are drawn here, at test time, written to disk and read back through the app's own
code: the Embedder's preprocessing, zero-shot tagging with a label set, automatic grouping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import adjusted_rand_score

from clipgallery import shapes, shapes_heldout

MODEL = "shapes-tiny"


# -- the drawing style itself ------------------------------------------------------------------------


def test_held_out_style_shares_no_background_family_with_training():
    assert not set(shapes_heldout.BACKGROUNDS) & (set(shapes.BACKGROUNDS) | set(shapes.VARIED_BACKGROUNDS))


def test_held_out_drawings_are_deterministic_and_refuse_unknown_names():
    a = np.asarray(shapes_heldout.draw([("red", "star")], seed=3))
    assert np.array_equal(a, np.asarray(shapes_heldout.draw([("red", "star")], seed=3)))
    b = np.asarray(shapes_heldout.draw([("red", "star")], seed=4))
    assert a.shape != b.shape or not np.array_equal(a, b)
    with pytest.raises(ValueError):
        shapes_heldout.draw([("pink", "star")], seed=0)
    with pytest.raises(ValueError):
        shapes_heldout.draw([("red", "star")], seed=0, background="stripes")


def _share(image: Image.Image, colour: str) -> float:
    hsv = np.asarray(image.convert("HSV")).astype(int)
    h, s, v = hsv[..., 0] * 360 / 255, hsv[..., 1], hsv[..., 2]
    spans = {"red": [(0, 14), (340, 361)], "orange": [(18, 40)], "yellow": [(42, 68)], "green": [(95, 160)],
             "blue": [(205, 245)], "purple": [(265, 320)]}[colour]
    return float(np.mean((s > 120) & (v > 80) & np.any([(h >= a) & (h < b) for a, b in spans], axis=0)))


@pytest.mark.parametrize("background", shapes_heldout.BACKGROUNDS)
def test_every_background_shows_the_object_in_its_colour_inside_the_centre_square(background):
    for k, (colour, shape) in enumerate(shapes.CLASSES[::5]):
        image = shapes_heldout.draw([(colour, shape)], seed=50 + k, background=background)
        w, h = image.size
        side = min(w, h)
        crop = image.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
        inside = _share(crop, colour) * side * side
        assert inside > 0.03 * side * side, (background, colour, shape)
        assert inside >= 0.98 * _share(image, colour) * w * h  # the center crop keeps the object


def test_write_folder_names_files_after_the_truth(tmp_path):
    truth = shapes_heldout.write_folder(tmp_path, per_class=2, seed=5, classes=[("blue", "triangle")])
    assert sorted(p.name for p in truth) == ["blue_triangle_000.jpg", "blue_triangle_001.jpg"]
    assert set(truth.values()) == {("blue", "triangle")}


# -- what shapes-tiny must do on it (issue 14's targets) --------------------------------------------


@pytest.fixture(scope="module")
def held_out_folder(tmp_path_factory):
    """Eight pictures of each of the 24 classes in the held-out style, as JPEG files."""
    root = tmp_path_factory.mktemp("held-out-style")
    truth = shapes_heldout.write_folder(root, per_class=8, seed=8_100_000)
    return root, {Path(p).resolve(): cls for p, cls in truth.items()}


@pytest.mark.slow
def test_zero_shot_names_the_24_classes_of_the_held_out_style(held_out_folder, embedders):
    emb = embedders(MODEL)
    _, truth = held_out_folder
    paths = sorted(truth)
    images = emb.encode_images([Image.open(p).convert("RGB") for p in paths])
    names = [shapes.class_name(c, s) for c, s in shapes.CLASSES]
    texts = emb.encode_texts([f"a photo of a {n}" for n in names])
    ranked = np.argsort(-(images @ texts.T), axis=1, kind="stable")
    right = np.array([shapes.CLASSES.index(truth[p]) for p in paths])
    top1 = float(np.mean(ranked[:, 0] == right))
    top5 = float(np.mean([r in row[:5] for r, row in zip(right, ranked)]))
    assert top1 >= 0.95 and top5 >= 0.99, (top1, top5)


@pytest.mark.slow
def test_tagging_with_the_four_shapes_on_the_held_out_style(held_out_folder, make_library, embedders, tmp_path):
    from clipgallery.core import tagging

    root, truth = held_out_folder
    lib, report = make_library(root, MODEL, batch_size=64)
    assert not report.failed
    label_set = tagging.parse_label_set({"name": "shapes", "labels": list(shapes.SHAPES)})
    tagged = tagging.tag_library(lib, embedders(MODEL), label_set)
    # A drawing left without any label ("none of these" won) counts as a miss.
    right = [bool(p.tags) and p.tags[0].label == truth[p.path.resolve()][1] for p in tagged.photos]
    assert len(right) == len(truth)
    assert np.mean(right) >= 0.95, np.mean(right)


@pytest.mark.slow
@pytest.mark.parametrize("classes", [
    [("blue", s) for s in shapes.SHAPES],  # only the shape tells them apart
    [("red", "circle"), ("green", "star"), ("yellow", "square"), ("purple", "triangle")],
], ids=["one-colour", "mixed"])
def test_automatic_groups_find_four_held_out_classes(classes, make_library, embedders, tmp_path):
    from clipgallery.core import grouping

    root = tmp_path / "four"
    truth = {Path(p).resolve(): c for p, c in shapes_heldout.write_folder(root, 12, 8_200_000, classes).items()}
    lib, _ = make_library(root, MODEL, batch_size=64)
    result = grouping.group_library(lib, MODEL, seed=0, store=False)
    found = {p.resolve(): g.cluster for g in result.groups for p in g.paths}
    paths = sorted(found)
    ari = adjusted_rand_score([classes.index(truth[p]) for p in paths], [found[p] for p in paths])
    assert result.k == 4 and ari >= 0.9, (result.k, ari, result.silhouettes)
