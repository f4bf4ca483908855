"""CLIPDraw: the rasteriser is differentiable and puts strokes where they are; a drawing for a colour and
shape is read back as that class by zero-shot under crops and rescales it was not optimised for."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from clipgallery.cli import main
from clipgallery.core import draw as D
from clipgallery.shapes import CLASSES


def test_a_stroke_is_drawn_where_its_curve_runs_and_gradients_reach_its_points():
    points = torch.tensor([[[0.1, 0.5], [0.4, 0.5], [0.6, 0.5], [0.9, 0.5]]], requires_grad=True)
    widths = torch.tensor([0.1], requires_grad=True)
    colours = torch.tensor([[1.0, 0.0, 0.0, 1.0]], requires_grad=True)
    img = D.render(points, widths, colours, 32)
    assert img.shape == (3, 32, 32)
    assert img[1, 16, 16] < 0.1 and img[0, 16, 16] > 0.9  # red on the line
    assert img[:, 2, 2].min() > 0.99 and img[:, 30, 16].min() > 0.99  # white away from it
    img[1, 10, 16].backward()  # more white above the line <- the line moves down, or thins
    assert points.grad is not None and points.grad.abs().sum() > 0 and widths.grad.abs().sum() > 0


def test_render_image_is_resolution_free():
    s = D.Strokes(np.array([[[0.2, 0.2], [0.4, 0.3], [0.6, 0.7], [0.8, 0.8]]], np.float32),
                  np.array([0.08], np.float32), np.array([[0.0, 0.0, 1.0, 1.0]], np.float32))
    small, big = D.render_image(s, 32), D.render_image(s, 128)
    assert big.size == (128, 128)
    a = np.asarray(small.resize((128, 128), Image.Resampling.BILINEAR), np.float32)
    assert np.abs(a - np.asarray(big, np.float32)).mean() < 12


def test_progress_and_cancel(embedders):
    emb = embedders("tiny-random")
    seen, cancel = [], threading.Event()

    def progress(p):
        seen.append(p.done)
        if p.done == 2:
            cancel.set()

    with pytest.raises(D.DrawCancelled, match="after 2 of 50"):
        D.draw(emb, "a cat", strokes=2, steps=50, augmentations=2, progress=progress, cancel=cancel)
    assert seen == [1, 2]


# Crops (fraction of the side kept, centred a little high) and sizes never used while drawing.
READ_BACK = [(f, s) for f in (1.0, 0.85, 0.7) for s in (40, 96, 160)]


@pytest.mark.slow
def test_a_drawing_of_a_colour_and_shape_is_read_back_as_that_class(embedders):
    emb = embedders("shapes-tiny")
    names = [f"{c} {s}" for c, s in CLASSES]
    text = emb.encode_texts([f"a photo of a {n}." for n in names])
    result = D.draw(emb, "red circle", strokes=6, steps=20, augmentations=6, out_size=128)
    w = result.image.width
    views = []
    for keep, side in READ_BACK:
        c = int(w * keep)
        x0 = (w - c) // 2
        views.append(result.image.crop((x0, x0 // 2, x0 + c, x0 // 2 + c)).resize((side, side)))
    predicted = [names[i] for i in (emb.encode_images(views) @ text.T).argmax(axis=1)]
    right = sum(p == "red circle" for p in predicted)
    print(f"read back as 'red circle' in {right} of {len(views)} crops/rescales: {predicted}")
    assert right >= 7, predicted
    assert result.steps == 20 and result.score > 0.3


def test_cli_draw_json_and_never_overwrites(tmp_path, capsys):
    out = tmp_path / "d.png"
    args = ["draw", "a red circle", "--out", str(out), "--model", "tiny-random", "--device", "cpu",
            "--strokes", "2", "--steps", "2", "--size", "64", "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["out"] == str(out.resolve()) and data["steps"] == 2 and "score" in data
    assert Image.open(out).size == (64, 64)
    assert main(args) == 1
    assert "not overwriting" in capsys.readouterr().err
