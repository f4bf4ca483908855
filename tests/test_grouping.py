"""Automatic groups (k-means, automatic k, names, covers) and near-duplicates."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import hash_tree, photo
from PIL import Image
from sklearn.metrics import adjusted_rand_score

from clipgallery import shapes
from clipgallery.core import grouping
from clipgallery.core.errors import QueryError
from clipgallery.core.library import FileInfo, FileUpdate, Library


def blobs(n: int, k: int, dim: int = 64, spread: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around k random directions (cosine to their centre ~0.96)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim))
    truth = np.arange(n) % k
    x = centres[truth] / np.linalg.norm(centres[truth], axis=1, keepdims=True)
    x = x + rng.normal(size=(n, dim)) * spread / np.sqrt(dim)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), truth


def vector_library(tmp_path: Path, vectors: np.ndarray, spec: str = "synthetic") -> Library:
    """A real library whose files (never read here) carry the given vectors."""
    root = tmp_path / "photos"
    root.mkdir(exist_ok=True)
    lib = Library(root, tmp_path / "lib")
    with lib.transaction():
        mid = lib.model_id(spec, vectors.shape[1])
    lib.apply(mid, [FileUpdate(f"p{i:05d}.jpg", 1000 + i, i, f"h{i}", vec=v, width=640, height=480)
                    for i, v in enumerate(vectors)])
    return lib


@pytest.mark.parametrize("k", [3, 5, 9])
def test_automatic_k_finds_well_separated_groups(k):
    x, truth = blobs(40 * k, k, seed=k)
    chosen, scores = grouping.choose_k(x, seed=1)
    assert chosen == k
    assert list(scores) == list(grouping.auto_k_range(len(x)))  # 2 .. min(30, sqrt(n))
    labels, _ = grouping.kmeans(x, chosen, seed=1)
    assert adjusted_rand_score(truth, labels) == 1.0


def test_automatic_k_on_a_sample_of_a_large_set():
    x, truth = blobs(6000, 7, seed=3)
    chosen, _ = grouping.choose_k(x, seed=0, sample=1500)
    assert chosen == 7


def test_grouping_is_deterministic_and_stored(tmp_path):
    x, truth = blobs(300, 6, seed=4)
    lib = vector_library(tmp_path, x)
    vocab = grouping.Vocabulary([f"word{i}" for i in range(20)], blobs(20, 20, seed=9)[0])
    a = grouping.group_library(lib, "synthetic", seed=7, vocabulary=vocab)
    b = grouping.group_library(lib, "synthetic", seed=7, vocabulary=vocab)
    assert a.k == 6 and a.auto
    assert [(g.name, g.cover, g.file_ids) for g in a.groups] == [(g.name, g.cover, g.file_ids) for g in b.groups]
    assert a.run_id != b.run_id
    sizes = [len(g.file_ids) for g in a.groups]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == 300
    assert len({g.name for g in a.groups}) == 6  # distinct names
    ids = np.array(sorted(f for g in a.groups for f in g.file_ids))
    found = {f: g.cluster for g in a.groups for f in g.file_ids}
    assert adjusted_rand_score(truth, [found[i] for i in ids]) == 1.0
    for g in a.groups:  # the cover is the photo nearest the centre, listed first
        assert g.cover == g.file_ids[0] and g.scores == tuple(sorted(g.scores, reverse=True))

    stored = grouping.load_grouping(lib, "synthetic")
    assert stored.run_id == b.run_id and stored.k == 6 and stored.seed == 7 and stored.auto
    assert [(g.cluster, g.name, g.cover, g.file_ids) for g in stored.groups] == \
        [(g.cluster, g.name, g.cover, g.file_ids) for g in b.groups]
    assert stored.silhouettes == pytest.approx(b.silhouettes, abs=1e-4)
    assert lib.groups.member_count(b.run_id) == 300
    given = grouping.group_library(lib, "synthetic", k=3, seed=7, vocabulary=vocab)
    assert given.k == 3 and not given.auto and len(given.groups) == 3
    with pytest.raises(QueryError, match="cannot make 301 groups out of 300 photos"):
        grouping.group_library(lib, "synthetic", k=301)
    with_pca = grouping.group_library(lib, "synthetic", seed=7, pca=8, vocabulary=vocab, store=False)
    assert with_pca.k == 6 and with_pca.run_id is None


def test_names_are_distinct_and_prefer_specific_words():
    dim = 16
    eye = np.eye(dim, dtype=np.float32)
    generic = np.ones(dim, np.float32) / 4.0  # close to everything: a hub
    vocab = grouping.Vocabulary(["beach", "dog", "photo"], np.stack([eye[0], eye[1], generic]))
    # "photo" is the nearest word to both centres, but it says nothing that tells them apart.
    two = np.stack([eye[0] + 0.3, eye[1] + 0.3])
    assert np.argmax(two / np.linalg.norm(two, axis=1, keepdims=True) @ vocab.vectors.T, axis=1).tolist() == [2, 2]
    assert grouping.name_groups(two, vocab) == ["beach", "dog"]
    # A vaguer beach-like group does not take "beach" from the clear one; names stay distinct.
    three = np.stack([eye[0] + 0.2, 0.6 * eye[0] + 0.6 * eye[2] + 0.2, eye[1] + 0.2])
    assert grouping.name_groups(three, vocab) == ["beach", "photo", "dog"]
    one_word = grouping.Vocabulary(["thing"], eye[:1])
    assert grouping.name_groups(three, one_word) == ["thing", "thing (2)", "thing (3)"]


def test_partitioned_duplicate_search_matches_the_exact_one(monkeypatch):
    rng = np.random.default_rng(5)
    x, _ = blobs(3000, 12, dim=128, spread=0.9, seed=5)
    src = rng.choice(2900, 60, replace=False)
    noisy = x[src] + rng.normal(size=(60, 128)).astype(np.float32) * 0.01
    x[2900 + np.arange(60) % 100] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    exact, is_exact = grouping.duplicate_pairs(x, 0.95)
    assert is_exact
    planted = {(int(a), int(b)) for a, b in zip(src, 2900 + np.arange(60))}
    assert planted <= {tuple(p) for p in exact.tolist()}
    monkeypatch.setattr(grouping, "EXACT_UP_TO", 500)
    part, _ = grouping.duplicate_pairs(x, 0.95)
    assert np.array_equal(part, exact)
    comps = grouping.duplicate_components(len(x), exact)
    assert sorted(len(c) for c in comps) == [2] * len(comps)


def test_keeper_is_largest_then_biggest_file_then_oldest():
    def info(rel, w, h, size, mtime):
        return FileInfo(0, rel, Path("/p") / rel, size, mtime, w, h, None, "ok", None)

    files = [info("b/copy.jpg", 800, 600, 90_000, 5), info("a.jpg", 1600, 1200, 80_000, 9),
             info("c.jpg", 1600, 1200, 80_000, 3), info("longer/name.jpg", 1600, 1200, 95_000, 9)]
    order = sorted(files, key=grouping.keeper_key)
    assert [f.relpath for f in order] == ["longer/name.jpg", "c.jpg", "a.jpg", "b/copy.jpg"]
    same = [info("dir/x.jpg", 10, 10, 5, 1_000_000_000), info("x.jpg", 10, 10, 5, 1_000_000_000)]
    assert sorted(same, key=grouping.keeper_key)[0].relpath == "x.jpg"
    # Of the same size, a lossless original before a recompressed JPEG, even a larger one.
    copies = [info("drawing q60.jpg", 240, 200, 9_000, 5), info("drawing.png", 240, 200, 4_000, 9)]
    assert sorted(copies, key=grouping.keeper_key)[0].relpath == "drawing.png"


def test_shapes_grouping_recovers_the_four_shapes(tmp_path, make_library, embedders, shapes_library):
    # Automatic k on one colour: then shape is the only thing that tells the pictures apart, so
    # four groups of shapes is the one right answer (with six colours, colour groups, or
    # colour-and-shape groups, would be just as fair an answer to "what do they have in common").
    emb = embedders("shapes-tiny")
    root = tmp_path / "red"
    truth = shapes.write_folder(root, per_class=10, seed=9_400_000, classes=[("red", s) for s in shapes.SHAPES])
    lib, _ = make_library(root, "shapes-tiny")
    result = grouping.group_library(lib, "shapes-tiny", seed=0, embedder=emb)
    assert result.k == 4, result.silhouettes
    assert_groups_are_shapes(result, truth)
    # Asked for four groups of all six colours, the groups are still the shapes.
    lib, truth = shapes_library
    assert_groups_are_shapes(grouping.group_library(lib, "shapes-tiny", k=4, embedder=emb, store=False), truth)


def assert_groups_are_shapes(result: grouping.Grouping, truth: dict) -> None:
    found = {p: g.cluster for g in result.groups for p in g.paths}
    paths = sorted(found)
    assert adjusted_rand_score([truth[p][1] for p in paths], [found[p] for p in paths]) >= 0.8
    for g in result.groups:
        majority = Counter(truth[p][1] for p in g.paths).most_common(1)[0][0]
        assert majority in g.name, (g.name, majority)  # named after its shape
        assert truth[g.cover_path][1] == majority


def test_shapes_near_duplicates(tmp_path, make_library):
    root = tmp_path / "dups"
    truth = shapes.write_folder(root, per_class=1, seed=9_500_000)  # 24 different pictures
    original = sorted(truth)[5]
    with Image.open(original) as im:
        im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS).save(root / "copy-small.jpg", quality=85)
    lib, _ = make_library(root, "shapes-tiny")
    before = hash_tree(root)
    report = grouping.find_duplicates(lib, "shapes-tiny")
    assert report.exact
    assert [(g.keep.path, {m.path for m in g.members}) for g in report.groups] == \
        [(original, {original, root / "copy-small.jpg"})]
    assert report.groups[0].similarity[0] == 1.0 or abs(report.groups[0].similarity[0] - 1.0) < 1e-5
    assert hash_tree(root) == before


@pytest.mark.slow  # runs clipgallery in a subprocess
def test_cli_cluster_and_duplicates(tmp_path, make_library):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(9):
        photo(i).save(root / f"{i}.jpg")
    photo(0, (160, 120)).save(root / "small-copy-of-0.jpg")
    lib, _ = make_library(root)
    before = hash_tree(root)
    cli = [sys.executable, "-m", "clipgallery.cli", "--library-dir", str(lib.dir)]
    out = subprocess.run([*cli, "cluster", str(root), "--k", "3", "--seed", "2", "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    groups = json.loads(out.stdout)
    assert [g["cluster"] for g in groups] == [0, 1, 2]
    assert sorted(p for g in groups for p in g["paths"]) == sorted(str(p) for p in root.glob("*.jpg"))
    assert all(Path(g["cover"]).is_absolute() and g["cover"] in g["paths"] and g["name"] for g in groups)
    assert len({g["name"] for g in groups}) == 3
    auto = subprocess.run([*cli, "cluster", str(root), "--k", "auto", "--json"], capture_output=True, text=True)
    assert auto.returncode == 0 and len(json.loads(auto.stdout)) >= 2

    dup = subprocess.run([*cli, "duplicates", str(root), "--threshold", "0.999", "--json"],
                         capture_output=True, text=True)
    assert dup.returncode == 0, dup.stderr
    for g in json.loads(dup.stdout):
        assert g["keep"] == g["paths"][0] and all(Path(p).is_absolute() for p in g["paths"])

    too_many = subprocess.run([*cli, "cluster", str(root), "--k", "50"], capture_output=True, text=True)
    assert too_many.returncode == 1 and "cannot make 50 groups out of 10 photos" in too_many.stderr
    not_indexed = subprocess.run([sys.executable, "-m", "clipgallery.cli", "--library-dir", str(tmp_path / "x"),
                                  "duplicates", str(root), "--json"], capture_output=True, text=True)
    assert not_indexed.returncode == 1 and not_indexed.stdout == "" and "index" in not_indexed.stderr
    assert hash_tree(root) == before
