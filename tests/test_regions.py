"""Regional vectors: stored at index time when the setting is on, and `similar --regional`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import photo

from clipgallery.cli import main as cli_main
from clipgallery.core import regions
from clipgallery.core.errors import QueryError
from clipgallery.core.indexer import index_folder
from clipgallery.core.library import Library
from clipgallery.core.search import Searcher
from clipgallery.shapes import CLASSES, scene

# -- pooling and matching ----------------------------------------------------------------------------


def test_rmac_regions_cover_the_grid_at_three_scales_with_overlap():
    boxes = regions.rmac_regions(7, 7)
    assert boxes[0] == (0, 7, 0, 7)
    assert {y1 - y0 for y0, y1, _, _ in boxes} == {7, 5, 4}
    assert len(boxes) == 1 + 4 + 9
    covered = np.zeros((7, 7), int)
    for y0, y1, x0, x1 in boxes[5:]:  # the finest level alone covers every cell
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= 1 and covered.max() > 1  # and neighbours overlap
    grid = np.random.default_rng(0).normal(size=(3, 7, 7, 16)).astype(np.float32)
    np.testing.assert_allclose(np.linalg.norm(regions.rmac(grid), axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(regions.mac(grid)[0] * np.linalg.norm(grid[0].max(axis=(0, 1))),
                               grid[0].max(axis=(0, 1)), rtol=1e-5)
    reg = regions.regional_vectors(grid)
    assert reg.shape == (3, 14, 16)
    np.testing.assert_allclose(reg[:, 0], regions.mac(grid), atol=1e-6)  # level 1 is the whole grid


def test_match_scores_is_the_mean_of_best_matches_in_chunks_and_float16():
    rng = np.random.default_rng(1)
    stored = regions.l2(rng.normal(size=(50, 6, 8))).astype(np.float16)
    query = regions.l2(rng.normal(size=(3, 8))).astype(np.float32)
    expected = np.array([(stored[i].astype(np.float32) @ query.T).max(axis=0).mean() for i in range(50)])
    np.testing.assert_allclose(regions.match_scores(query, stored, chunk=7), expected, atol=1e-6)
    # a photo holding the query's parts among other things scores 1
    planted = stored.copy()
    planted[17, [1, 4, 5]] = query.astype(np.float16)
    assert int(np.argmax(regions.match_scores(query, planted))) == 17
    with pytest.raises(ValueError):
        regions.match_scores(query[:, :5], stored)


@pytest.mark.parametrize("box, message", [
    ((0.5, 0.5, 0.5, 1.0), "empty"), ((0, 0, 1.2, 1), "between 0 and 1"), ((0, 0, 1), "four numbers"),
])
def test_bad_boxes_are_refused_with_a_reason(box, message):
    with pytest.raises(ValueError, match=message):
        regions.check_box(box)


@pytest.mark.parametrize("spec", ["tiny-random", "shapes-tiny"])  # a ViT and a ResNet
def test_the_pass_with_regions_gives_the_same_global_vectors(embedders, spec):
    """Indexing with regions on must not change what plain search sees."""
    import torch

    e = embedders(spec)
    batch = torch.stack([e.preprocess(photo(s)) for s in range(3)])
    vecs, regs = e.encode_batch_with_regions(batch)
    np.testing.assert_allclose(vecs, e.encode_batch(batch), atol=1e-5)
    assert regs.dtype == np.float16 and regs.shape[:2] == (3, 14 if spec == "tiny-random" else 5)


def test_vit_b32_grid_and_regions(tmp_path):
    """The real ViT-B-32 architecture (random weights): a 7x7 grid of projected patch tokens, 14 regions."""
    import open_clip
    import torch

    from clipgallery.core.embed import Embedder
    from clipgallery.core.models import LoadedModel, ModelSpec

    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    e = Embedder(LoadedModel(ModelSpec("ViT-B-32:random", "open_clip"), model.eval(), preprocess,
                             open_clip.get_tokenizer("ViT-B-32"), "cpu", torch.float32, 512, 224, 100.0))
    assert e.supports_regions
    batch = torch.stack([e.preprocess(photo(7))])
    vecs, grid = e.encode_batch_with_grid(batch)
    assert grid.shape == (1, 7, 7, 512)
    np.testing.assert_allclose(vecs, e.encode_batch(batch), atol=1e-5)
    assert e.encode_batch_with_regions(batch)[1].shape == (1, 14, 512)


# -- stored at index time --------------------------------------------------------------------------


def _folder(root: Path, n: int = 6) -> Path:
    root.mkdir()
    for i in range(n):
        photo(100 + i).save(root / f"p{i}.jpg", quality=90)
    return root


def test_regions_are_stored_when_on_and_added_to_photos_indexed_before(tmp_path, embedders):
    emb = embedders("tiny-random")
    root = _folder(tmp_path / "photos")
    lib = Library(root, tmp_path / "lib")
    first = index_folder(lib, emb)
    mid = lib.model_id(emb.spec)
    ids_before = lib.file_ids([f"p{i}.jpg" for i in range(6)])
    assert first.indexed == 6 and lib.region_count(mid) == 0

    lib.set_regional(True)
    second = index_folder(lib, emb)
    assert second.indexed == 6  # encoded again, for their regions
    assert lib.file_ids([f"p{i}.jpg" for i in range(6)]) == ids_before  # same rows: tags and groups stay
    rids, stored = lib.regions(mid)
    assert sorted(rids.tolist()) == sorted(ids_before.values())
    assert stored.dtype == np.float16 and stored.shape == (6, 14, emb.dim)  # 4x4 ViT grid: 14 regions
    np.testing.assert_allclose(np.linalg.norm(stored.astype(np.float32), axis=2), 1, atol=2e-3)

    # the stored regions are those of a direct encode of the same file
    from clipgallery.core.images import decode

    direct = emb.encode_image_regions(decode(root / "p3.jpg", min_side=emb.image_size).image)
    row = int(np.searchsorted(rids, ids_before["p3.jpg"]))
    np.testing.assert_allclose(stored[row].astype(np.float32), direct, atol=2e-3)

    assert index_folder(lib, emb).indexed == 0  # nothing left to do
    lib.close()


def test_copies_reuse_regions_and_new_content_replaces_them(tmp_path, embedders):
    emb = embedders("tiny-random")
    root = _folder(tmp_path / "photos", 3)
    lib = Library(root, tmp_path / "lib")
    lib.set_regional(True)
    index_folder(lib, emb)
    mid = lib.model_id(emb.spec)
    shutil.copy2(root / "p0.jpg", root / "copy.jpg")
    photo(999).save(root / "p1.jpg", quality=90)  # new content under an old name
    report = index_folder(lib, emb)
    assert report.reused == 1 and report.indexed == 1
    rids, stored = lib.regions(mid)
    ids = lib.file_ids(["p0.jpg", "copy.jpg", "p1.jpg"])
    row = {int(f): i for i, f in enumerate(rids)}
    np.testing.assert_array_equal(stored[row[ids["copy.jpg"]]], stored[row[ids["p0.jpg"]]])
    from clipgallery.core.images import decode

    fresh = emb.encode_image_regions(decode(root / "p1.jpg", min_side=emb.image_size).image)
    np.testing.assert_allclose(stored[row[ids["p1.jpg"]]].astype(np.float32), fresh, atol=2e-3)

    (root / "p2.jpg").unlink()
    index_folder(lib, emb)
    assert lib.region_count(mid) == 3  # the deleted photo's regions went with it
    lib.set_regional(False)
    assert lib.region_count(mid) == 0 and not lib.regional
    lib.close()


def test_regional_search_needs_regions_and_says_how_to_get_them(tmp_path, embedders):
    emb = embedders("tiny-random")
    root = _folder(tmp_path / "photos", 3)
    lib = Library(root, tmp_path / "lib")
    index_folder(lib, emb)
    with pytest.raises(QueryError, match="--regional"):
        Searcher(lib, emb).similar_regional(root / "p0.jpg")
    lib.close()


# -- finding shared objects (shapes-tiny) ----------------------------------------------------------


def _scene_folder(root: Path) -> dict[str, tuple[int, int, tuple[int, int]]]:
    """240 scenes of a large object and a small one in the opposite corner -> name: (big, small, corner)."""
    rng = np.random.default_rng(0)
    root.mkdir()
    truth = {}
    for i in range(240):
        big, small = (int(c) for c in rng.choice(len(CLASSES), 2, replace=False))
        corner = (int(rng.integers(2)), int(rng.integers(2)))
        name = f"scene_{i:03d}.png"
        scene(CLASSES[big], CLASSES[small], 1000 + i, corner).save(root / name)
        truth[name] = (big, small, corner)
    return truth


def _ap(ranked: list[str], relevant: set[str]) -> float:
    hits, total = 0, 0.0
    for rank, name in enumerate(ranked, 1):
        if name in relevant:
            hits += 1
            total += hits / rank
    return total / len(relevant)


@pytest.fixture(scope="module")
def scene_library(tmp_path_factory, embedders):
    root = tmp_path_factory.mktemp("scenes") / "photos"
    truth = _scene_folder(root)
    lib = Library(root, tmp_path_factory.mktemp("scenes-lib"))
    lib.set_regional(True)
    report = index_folder(lib, embedders("shapes-tiny"), batch_size=64)
    assert report.indexed == 240 and not report.failed
    yield lib, truth
    lib.close()


def test_a_boxed_object_is_found_in_other_scenes_better_than_by_the_whole_vector(scene_library, embedders,
                                                                                    tmp_path):
    """The user draws a box around the small object of a photo: photos that hold that object
    anywhere should come first, whatever large object fills the rest of their scene."""
    lib, truth = scene_library
    s = Searcher(lib, embedders("shapes-tiny"))
    regional, whole = [], []
    for name in sorted(truth)[:40]:
        big, small, (qx, qy) = truth[name]
        relevant = {n for n, (b, sm, _) in truth.items() if small in (b, sm) and n != name}
        box = (0.5 * qx, 0.5 * qy, 0.5 * qx + 0.5, 0.5 * qy + 0.5)
        hits = s.similar_regional(lib.root / name, k=len(truth), box=box)
        regional.append(_ap([h.path.name for h in hits if h.path.name != name], relevant))
        # the same box cut out as a file and searched by its global vector (what one could do without regions)
        crop = tmp_path / "crop.png"
        regions.crop_box(scene_from(lib, name), box).save(crop)
        hits = s.similar(crop, k=len(truth))
        whole.append(_ap([h.path.name for h in hits if h.path.name != name], relevant))
    assert np.mean(regional) > 0.75
    assert np.mean(regional) > np.mean(whole) + 0.15, (np.mean(regional), np.mean(whole))


def scene_from(lib, name):
    from PIL import Image

    return Image.open(lib.root / name).convert("RGB")


def test_regional_similarity_finds_photos_sharing_either_object(scene_library, embedders):
    """Whole-photo regional matching: photos that share an object (big or small) with the query rank
    higher than with the global vector, which mostly follows the large object and the backdrop."""
    lib, truth = scene_library
    s = Searcher(lib, embedders("shapes-tiny"))
    ids = lib.file_ids(truth)
    regional, whole = [], []
    for name in sorted(truth)[:60]:
        big, small, _ = truth[name]
        relevant = {n for n, (b, sm, _) in truth.items() if {b, sm} & {big, small} and n != name}
        hits = s.similar_regional(ids[name], k=len(truth))
        assert hits[0].path.name == name and hits[0].score == pytest.approx(1.0, abs=2e-3)
        regional.append(_ap([h.path.name for h in hits[1:]], relevant))
        hits = s.similar(ids[name], k=len(truth))
        whole.append(_ap([h.path.name for h in hits if h.path.name != name], relevant))
    assert np.mean(regional) > np.mean(whole) + 0.05, (np.mean(regional), np.mean(whole))


def test_an_image_outside_the_library_is_encoded_on_the_fly_and_not_added(scene_library, embedders, tmp_path):
    lib, truth = scene_library
    s = Searcher(lib, embedders("shapes-tiny"))
    outside = tmp_path / "outside.jpg"
    scene_from(lib, "scene_007.png").save(outside, quality=92)  # a recompressed copy, not indexed
    count = lib.count()
    hits = s.similar_regional(outside, k=3)
    assert hits[0].path.name == "scene_007.png" and hits[0].score > 0.97
    assert lib.count() == count


def test_regional_search_honours_filters(scene_library, embedders):
    lib, truth = scene_library
    s = Searcher(lib, embedders("shapes-tiny"))
    ids = lib.file_ids(truth)
    some = set(list(ids.values())[:30])
    hits = s.similar_regional(ids["scene_000.png"], k=500, restrict=some)
    assert {h.file_id for h in hits} == some
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(s.similar_regional(ids["scene_000.png"], k=5, threshold=0.999)) == 1


# -- the command line ------------------------------------------------------------------------------


def test_cli_index_regional_then_similar_regional_with_a_box(tmp_path, capsys):
    root = tmp_path / "photos"
    root.mkdir()
    scene(("red", "circle"), ("blue", "star"), 1, (1, 0)).save(root / "a.png")
    scene(("green", "square"), ("blue", "star"), 2, (0, 1)).save(root / "b.png")
    scene(("red", "circle"), ("yellow", "triangle"), 3, (1, 0)).save(root / "c.png")
    libdir = ["--library-dir", str(tmp_path / "lib")]
    assert cli_main([*libdir, "index", str(root), "--model", "shapes-tiny", "--regional", "--json"]) == 0
    capsys.readouterr()
    assert cli_main([*libdir, "info", str(root), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["regional"] is True and info["models"][0]["regions"] == 3

    assert cli_main([*libdir, "similar", str(root), str(root / "a.png"), "--regional", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert Path(hits[0]["path"]).name == "a.png" and len(hits) == 3
    # the box holds a's blue star (top right): b, which has one too, beats c, which shares a's red circle
    assert cli_main([*libdir, "similar", str(root), str(root / "a.png"), "--regional", "--box", "0.5,0,1,0.5",
                     "--json"]) == 0
    names = [Path(h["path"]).name for h in json.loads(capsys.readouterr().out)]
    assert names.index("b.png") < names.index("c.png")

    assert cli_main([*libdir, "similar", str(root), str(root / "a.png"), "--box", "0.5,0,1,0.5"]) != 0
    assert "--regional" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main([*libdir, "similar", str(root), str(root / "a.png"), "--regional", "--box", "1,0,0.5,0.5"])
    assert "empty" in capsys.readouterr().err

    assert cli_main([*libdir, "index", str(root), "--model", "shapes-tiny", "--no-regional", "--json"]) == 0
    capsys.readouterr()
    assert cli_main([*libdir, "similar", str(root), str(root / "a.png"), "--regional"]) != 0
    assert "--regional" in capsys.readouterr().err
