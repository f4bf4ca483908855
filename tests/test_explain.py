"""Why this result: the heatmap finds the queried object, the concepts name it, the CLI writes both."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from clipgallery import shapes
from clipgallery.cli import main
from clipgallery.core import explain as ex
from clipgallery.core.errors import ImageError

CORNERS = [(0, 0), (1, 0), (0, 1), (1, 1)]


def _quadrant(result: ex.Explanation) -> tuple[int, int]:
    x, y = result.peak()
    return int(x >= 0.5), int(y >= 0.5)


@pytest.fixture(scope="module")
def shapes_model(embedders):
    emb = embedders("shapes-tiny")
    return emb, ex.concept_vectors(emb)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 5])
def test_heatmap_peaks_on_the_queried_object_and_concepts_name_it(shapes_model, seed):
    emb, concepts = shapes_model
    for corner in CORNERS:  # the small red circle in `corner`, the big blue square opposite
        img = shapes.scene(("blue", "square"), ("red", "circle"), seed, corner)
        photo = emb.encode_images([img])[0]
        for query, quadrant, names in [("red circle", corner, {"red", "circle"}),
                                       ("blue square", (1 - corner[0], 1 - corner[1]), {"blue", "square"})]:
            q = emb.encode_texts([query])[0]
            result = ex.explain_image(emb, img, photo, q, concepts)
            assert _quadrant(result) == quadrant, (query, corner, result.heatmap.round(2))
            assert result.heatmap.shape[0] >= ex.MIN_GRID
            assert result.score == pytest.approx(float(photo @ q), abs=1e-6)
            top = [c.word for c in result.concepts[:2]]
            assert set(top) & names, (query, top)
            weights = [c.weight for c in result.concepts]
            assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)


def test_decompose_recovers_a_sparse_non_negative_mix():
    rng = np.random.default_rng(0)
    atoms = rng.normal(size=(40, 16))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    v = 0.7 * atoms[3] + 0.3 * atoms[17]
    a = ex.decompose(v, atoms, sparsity=0.01, steps=2000)
    assert (a >= 0).all()
    assert set(np.argsort(-a)[:2]) == {3, 17}
    assert a[3] > a[17] > 0.1


def test_contributions_sum_to_about_the_score_when_the_vectors_are_in_the_span():
    rng = np.random.default_rng(1)
    atoms = rng.normal(size=(30, 12))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    p = atoms[[1, 2, 5]].sum(0)
    q = atoms[[2, 5, 9]].sum(0)
    p, q = p / np.linalg.norm(p), q / np.linalg.norm(q)
    words = [f"w{i}" for i in range(30)]
    assert ex.concept_weights(p, q, atoms, sparsity=0.001).sum() == pytest.approx(float(p @ q), abs=0.01)
    concepts = ex.concept_contributions(p, q, words, atoms, top=30, sparsity=0.001)
    assert {c.word for c in concepts[:2]} <= {"w2", "w5"}


def test_overlay_keeps_the_photo_size_and_is_warm_where_the_map_peaks():
    img = Image.new("RGB", (120, 80), (128, 128, 128))
    heat = np.zeros((4, 4), np.float32)
    heat[0, 3] = 1.0  # top right
    out = ex.overlay(img, heat)
    assert out.size == img.size
    a = np.asarray(out, np.float32)
    assert a[5, 115, 0] > a[5, 115, 2] + 60  # red over the peak
    assert a[75, 5, 2] > a[75, 5, 0]  # cool far from it


@pytest.mark.slow
def test_cli_explain_json_and_heatmap_png(tmp_path, capsys, make_library):
    folder = tmp_path / "photos"
    folder.mkdir()
    shapes.scene(("blue", "square"), ("red", "circle"), 3, (1, 0)).save(folder / "scene.png")
    lib, _ = make_library(folder, "shapes-tiny")
    lib_dir = lib.dir
    lib.close()
    before = sorted(p.name for p in folder.iterdir())
    out = tmp_path / "why.png"
    args = ["explain", str(folder), "scene.png", "red", "circle", "--heatmap", str(out), "--json",
            "--library-dir", str(lib_dir)]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"score", "heatmap", "concepts"}
    heat = np.asarray(data["heatmap"])
    r, c = np.unravel_index(heat.argmax(), heat.shape)
    assert c >= heat.shape[1] / 2 and r < heat.shape[0] / 2  # the circle is top right
    assert data["concepts"] and {"word", "weight"} <= set(data["concepts"][0])
    assert Image.open(out).size == (256, 256)
    assert sorted(p.name for p in folder.iterdir()) == before  # the photo folder is never written to
    # never overwrites; a missing photo is one sentence, not a traceback
    assert main(args) == 1
    assert "not overwriting" in capsys.readouterr().err
    args2 = [a if a != "scene.png" else "nope.png" for a in args if a not in ("--heatmap", str(out))]
    assert main(args2) == 1
    assert "file not found" in capsys.readouterr().err


def test_save_overlay_refuses_a_missing_folder(tmp_path):
    result = ex.Explanation(0.1, np.zeros((2, 2), np.float32), [], Image.new("RGB", (8, 8)))
    with pytest.raises(ImageError):
        ex.save_overlay(result, tmp_path / "no" / "x.png")
