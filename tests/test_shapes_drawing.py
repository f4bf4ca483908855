"""The shape drawer: deterministic pictures whose colours and file names tell the truth."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from clipgallery import shapes


def test_classes_cover_every_colour_and_shape():
    assert len(shapes.CLASSES) == 24
    assert len(set(shapes.CLASSES)) == 24
    assert shapes.class_name("red", "circle") == "red circle"


def test_same_seed_same_picture_other_seed_other_picture():
    objects = [("red", "circle"), ("blue", "star")]
    a = np.asarray(shapes.draw(objects, seed=5))
    b = np.asarray(shapes.draw(objects, seed=5))
    c = np.asarray(shapes.draw(objects, seed=6))
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_draw_honours_size_and_background():
    image = shapes.draw([("green", "square")], seed=1, size=(200, 120), background="white")
    assert image.mode == "RGB" and image.size == (200, 120)
    corner = np.asarray(image)[:3, :3].reshape(-1, 3).astype(int)
    assert corner.min() > 200  # white, apart from a little noise


def test_random_sizes_stay_in_range():
    for seed in range(20):
        w, h = shapes.draw([("red", "circle")], seed).size
        assert 64 <= min(w, h) <= 400 and max(w, h) <= 700


def test_random_objects_are_one_or_two_distinct():
    rng = np.random.default_rng(0)
    counts = set()
    for _ in range(50):
        objs = shapes.random_objects(rng)
        counts.add(len(objs))
        assert len(set(objs)) == len(objs)
        assert all(o in shapes.CLASSES for o in objs)
    assert counts == {1, 2}


def test_unknown_names_are_refused():
    with pytest.raises(ValueError):
        shapes.draw([("pink", "circle")], seed=0)
    with pytest.raises(ValueError):
        shapes.draw([("red", "hexagon")], seed=0)


def test_write_folder_names_files_after_the_truth(tmp_path):
    classes = [("red", "circle"), ("orange", "star")]
    truth = shapes.write_folder(tmp_path, per_class=3, seed=1, classes=classes)
    assert sorted(p.name for p in truth) == sorted(
        f"{c}_{s}_{i:03d}.jpg" for c, s in classes for i in range(3)
    )
    for path, (colour, shape) in truth.items():
        assert path.parent == tmp_path and path.name.startswith(f"{colour}_{shape}_")
        with Image.open(path) as im:
            assert im.format == "JPEG"
    again = shapes.write_folder(tmp_path / "again", per_class=3, seed=1, classes=classes)
    assert [p.read_bytes() for p in sorted(truth)] == [p.read_bytes() for p in sorted(again)]


def test_write_folder_png(tmp_path):
    truth = shapes.write_folder(tmp_path, per_class=1, seed=2, classes=[("blue", "square")], fmt="png")
    (path,) = truth
    assert path.name == "blue_square_000.png"
    assert Image.open(path).format == "PNG"


def test_write_folder_never_reuses_training_seeds():
    assert all(
        shapes.held_out_seed(s, k, i) >= shapes.TRAIN_SEED_LIMIT
        for s in (0, 1, 9_000_000)
        for k in range(24)
        for i in range(5)
    )


def _hue_pixels(image: Image.Image) -> dict[str, float]:
    """Share of the picture whose hue and saturation read as each of the six colours."""
    hsv = np.asarray(image.convert("HSV")).astype(int)
    h, s, v = hsv[..., 0] * 360 / 255, hsv[..., 1], hsv[..., 2]
    vivid = (s > 140) & (v > 90)
    ranges = {
        "red": [(0, 14), (346, 361)],
        "orange": [(18, 40)],
        "yellow": [(42, 68)],
        "green": [(100, 150)],
        "blue": [(210, 245)],
        "purple": [(255, 325)],
    }
    return {
        name: float(np.mean(vivid & np.any([(h >= a) & (h < b) for a, b in spans], axis=0)))
        for name, spans in ranges.items()
    }


@pytest.mark.parametrize("colour", shapes.COLOURS)
def test_the_drawn_colour_is_in_the_pixels(colour):
    for seed in range(6):
        image = shapes.draw([(colour, "square")], seed=100 + seed)
        share = _hue_pixels(image)
        assert share[colour] > 0.02, (seed, share)
        others = max(v for k, v in share.items() if k != colour)
        assert share[colour] > 3 * others, (seed, share)


def test_shapes_stay_in_the_centre_square():
    # open_clip's eval transform center-crops the short side: the object must survive it.
    for seed in range(12):
        image = shapes.draw([("red", "circle")], seed=seed, background="white")
        w, h = image.size
        side = min(w, h)
        box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
        inside = _hue_pixels(image.crop(box))["red"] * side * side
        total = _hue_pixels(image)["red"] * w * h
        assert inside >= 0.98 * total


# -- the wide training renderer ---------------------------------------------------------------------


def test_varied_drawings_are_deterministic_and_refuse_unknown_names():
    objects = [("red", "circle"), ("blue", "star"), ("green", "square")]
    a = shapes.render_varied(objects, seed=11)
    assert np.array_equal(np.asarray(a.image), np.asarray(shapes.render_varied(objects, seed=11).image))
    assert a.objects == tuple(objects) and a.background in shapes.VARIED_BACKGROUNDS
    with pytest.raises(ValueError):
        shapes.render_varied([("pink", "circle")], seed=0)
    with pytest.raises(ValueError):
        shapes.render_varied([("red", "circle")], seed=0, background="bricks")


def test_varied_sizes_run_from_tiny_to_wide():
    sizes = [shapes.render_varied([("red", "circle")], seed).image.size for seed in range(60)]
    shorts = [min(s) for s in sizes]
    ratios = [max(s) / min(s) for s in sizes]
    assert min(shorts) < 40 and max(shorts) > 150
    assert max(ratios) > 2.2 and min(ratios) < 1.2
    assert any(w > h for w, h in sizes) and any(h > w for w, h in sizes)


def test_varied_objects_count_one_to_three():
    rng = np.random.default_rng(1)
    counts = {len(shapes.random_varied_objects(rng)) for _ in range(100)}
    assert counts == {1, 2, 3}


@pytest.mark.parametrize("background", shapes.VARIED_BACKGROUNDS)
def test_varied_colours_keep_their_names_on_every_background(background):
    for k, colour in enumerate(shapes.COLOURS):
        image = shapes.render_varied([(colour, "square")], seed=200 + k, size=(160, 120), background=background).image
        share = _hue_pixels(image)
        others = max(v for name, v in share.items() if name != colour)
        assert share[colour] > 0.003 and share[colour] > 2 * others, (background, colour, share)


def test_named_colour_stays_in_its_hue_band():
    rng = np.random.default_rng(0)
    for colour in shapes.COLOURS:
        for _ in range(50):
            rgb = shapes.named_colour(colour, rng)
            patch = Image.fromarray(np.full((4, 4, 3), rgb, np.uint8), "RGB")
            share = _hue_pixels(patch)
            assert share[colour] == 1.0 or max(share.values()) == 0.0, (colour, rgb)
            assert max(share.values()) == share[colour]
