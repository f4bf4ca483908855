"""Zero-shot label sets (validation, prompts, storage) and few-shot taught tags."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import hash_tree, photo

from clipgallery import shapes
from clipgallery.core import tagging
from clipgallery.core.errors import QueryError

SHAPES_SET = {"name": "shapes", "labels": list(shapes.SHAPES)}


def write_json(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def photo_library(tmp_path, make_library):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(10):
        photo(i).save(root / f"{i}.jpg")
    lib, _ = make_library(root)
    return lib


@pytest.mark.parametrize("data, message", [
    ({"labels": ["a", "b"]}, 'missing "name"'),
    ({"name": "  ", "labels": ["a", "b"]}, 'missing "name"'),
    ({"name": "x", "labels": ["only"]}, "at least 2 labels"),
    ({"name": "x", "labels": []}, "at least 2 labels"),
    ({"name": "x", "labels": ["Cat", "dog", "cat "]}, "duplicate labels: cat"),
    ({"name": "x", "labels": "cat, dog"}, '"labels" must be a list'),
    ({"name": "x", "labels": ["cat", 3]}, "non-empty string"),
    ({"name": "x", "labels": {"cat": [1], "dog": []}}, 'descriptions of "cat"'),
    ({"name": "x", "labels": ["cat", "dog"], "templates": ["a photo"]}, "placeholder"),
    ({"name": "x", "labels": ["cat", "dog"], "threshold": 2}, "between 0 and 1"),
    ({"name": "Taught", "labels": ["cat", "dog"]}, "reserved"),
    (["cat", "dog"], "JSON object"),
])
def test_label_set_validation_gives_clear_errors(tmp_path, data, message):
    path = write_json(tmp_path / "set.json", data)
    with pytest.raises(QueryError, match=message) as e:
        tagging.load_label_set(path)
    assert str(path) in str(e.value)


def test_label_set_files_and_builtins(tmp_path):
    with pytest.raises(QueryError, match=r"not valid JSON \(line 1"):
        tagging.load_label_set(write_json(tmp_path / "bad.json", "{name: shapes"))
    with pytest.raises(QueryError, match="label set file not found"):
        tagging.load_label_set(tmp_path / "missing.json")
    with pytest.raises(QueryError, match="unknown label set 'moods': give a JSON file or one of: concepts, emotions"):
        tagging.load_label_set("moods")
    simple = tagging.load_label_set(write_json(tmp_path / "s.json", SHAPES_SET))
    assert simple.labels == shapes.SHAPES and simple.descriptions == {}
    described = tagging.load_label_set(write_json(tmp_path / "d.json", {
        "name": "d", "labels": {"circle": ["a round shape", "a disc"], "square": "a box"}}))
    assert described.descriptions == {"circle": ("a round shape", "a disc"), "square": ("a box",)}
    emotions = tagging.load_label_set("emotions")
    assert emotions.labels == ("amusement", "anger", "awe", "contentment", "disgust", "excitement", "fear",
                               "sadness")
    assert all(len(emotions.descriptions[lab]) >= 3 for lab in emotions.labels)
    assert "a photo that makes you feel {}." in emotions.templates
    concepts = tagging.load_label_set("concepts")
    assert len(concepts.labels) >= 300
    assert set(shapes.SHAPES) | set(shapes.COLOURS) <= set(concepts.labels)


def test_prompt_strategies():
    ls = tagging.parse_label_set({"name": "t", "labels": {"apple": ["a red fruit"], "pear": []},
                                  "templates": ["a photo of a {}.", "{}"]})
    assert tagging.label_prompts(ls, "templates") == [[["a photo of an apple.", "apple"]],
                                                      [["a photo of a pear.", "pear"]]]
    # A label without descriptions falls back to the templates.
    assert tagging.label_prompts(ls, "descriptions") == [[["a red fruit"]], [["a photo of a pear.", "pear"]]]
    assert tagging.label_prompts(ls, "both") == [[["a photo of an apple.", "apple"], ["a red fruit"]],
                                                 [["a photo of a pear.", "pear"]]]
    with pytest.raises(QueryError, match="unknown prompt strategy"):
        tagging.label_prompts(ls, "magic")


def test_label_embeddings_average_prompt_groups(embedders):
    emb = embedders("tiny-random")
    ls = tagging.parse_label_set({"name": "t", "labels": {"apple": ["a red fruit"], "pear": []},
                                  "templates": ["a photo of a {}.", "{}"]})
    both = tagging.label_embeddings(ls, emb, "both")
    t = emb.encode_texts(["a photo of an apple.", "apple", "a red fruit"])
    group_mean = t[:2].mean(0) / np.linalg.norm(t[:2].mean(0))
    expected = group_mean + t[2]
    np.testing.assert_allclose(both[0], expected / np.linalg.norm(expected), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(both, axis=1), 1.0, atol=1e-5)


def test_emotions_end_to_end_stored_in_sqlite(photo_library, embedders):
    lib, emb = photo_library, embedders("tiny-random")
    # A closed set (no "none of these"), so that threshold 0 gives every label of every photo.
    emotions = dataclasses.replace(tagging.load_label_set("emotions"), none=())
    report = tagging.tag_library(lib, emb, emotions, threshold=0.0)
    assert len(report.photos) == 10
    mid = lib.model_id(emb.spec)
    relpaths = {f.id: f.relpath for f in lib.files()}
    rows = [(relpaths[fid], lab, score) for fid, s, lab, score in lib.tags.tags_of(mid, list(relpaths))
            if s == "emotions"]
    assert len(rows) == 10 * 8  # threshold 0: every label of every photo
    per_photo: dict[str, float] = {}
    for rel, _, score in rows:
        per_photo[rel] = per_photo.get(rel, 0.0) + score
    assert all(abs(total - 1.0) < 1e-4 for total in per_photo.values())  # a softmax over the set
    for p in report.photos:
        stored = {lab: s for rel, lab, s in rows if lib.root / rel == p.path}
        assert p.tags[0].label == max(stored, key=stored.get)  # the top label is the best one

    # Re-tagging replaces the set's tags: with threshold 1 only each photo's top label remains.
    again = tagging.tag_library(lib, emb, emotions, threshold=1.0)
    rows = lib.tags.labels_of_set(mid, "emotions")
    assert len(rows) == 10 and len({f for f, _ in rows}) == 10
    assert sum(again.counts.values()) == 10
    counts = tagging.label_counts(lib, emb.spec)
    assert counts == {"emotions": again.counts} and list(counts["emotions"]) == list(emotions.labels)
    top = max(again.counts, key=again.counts.get)
    assert tagging.files_with_tag(lib, emb.spec, top.upper()) == {f for f, lab in rows if lab == top}
    absent = next((lab for lab, n in again.counts.items() if n == 0), None)
    if absent:
        assert tagging.files_with_tag(lib, emb.spec, absent) == set()  # known label, no photos
    with pytest.raises(QueryError, match="unknown tag 'dog'; known tags: amusement, anger, .* \\(emotions\\)"):
        tagging.files_with_tag(lib, emb.spec, "dog")
    with pytest.raises(QueryError, match="unknown label set 'shapes'"):
        tagging.files_with_tag(lib, emb.spec, "awe", label_set="shapes")
    # The applied set is remembered and can be re-applied by name, without its file.
    assert tagging.load_label_set("emotions", lib, emb.spec).labels == emotions.labels


def test_unknown_tag_before_any_tagging(photo_library, embedders):
    with pytest.raises(QueryError, match="no photos are tagged yet"):
        tagging.files_with_tag(photo_library, embedders("tiny-random").spec, "awe")


def test_shapes_label_set_tags_drawn_shapes(shapes_library, embedders, tmp_path):
    lib, truth = shapes_library
    emb = embedders("shapes-tiny")
    ls = tagging.load_label_set(write_json(tmp_path / "shapes.json", SHAPES_SET))
    report = tagging.tag_library(lib, emb, ls)
    right = [bool(p.tags) and p.tags[0].label == truth[p.path][1] for p in report.photos]  # no label: a miss
    assert len(right) == len(truth)
    assert np.mean(right) >= 0.9, f"zero-shot shape accuracy {np.mean(right):.3f}"
    circles = tagging.files_with_tag(lib, emb.spec, "circle", "shapes")
    by_id = {f.id: f.path for f in lib.files()}
    assert np.mean([truth[by_id[i]][1] == "circle" for i in circles]) >= 0.9


def test_few_shot_probe_finds_the_rest_of_a_shape(make_library, embedders, tmp_path):
    from clipgallery.core.indexer import index_folder

    root = tmp_path / "shapes"
    truth = shapes.write_folder(root, per_class=4, seed=9_200_000)
    lib, _ = make_library(root, "shapes-tiny")
    stars = sorted(p for p, (_, s) in truth.items() if s == "star")
    examples = stars[::5][:5]  # five stars of different colours
    report = tagging.teach(lib, "shapes-tiny", "pointy", examples)
    found = {p.path for p in report.photos}
    rest = set(stars) - set(examples)
    recall = len(found & rest) / len(rest)
    precision = len(found & set(stars)) / max(1, len(found))
    assert recall >= 0.8 and precision >= 0.8, (recall, precision)
    assert report.probe.background and report.probe.positives == 5
    # Listed among the label sets, and usable as a tag anywhere.
    assert tagging.label_counts(lib, "shapes-tiny")[tagging.TAUGHT] == {"pointy": len(found)}
    assert tagging.files_with_tag(lib, "shapes-tiny", "pointy") == {p.file_id for p in report.photos}

    # Photos indexed later get the taught tag when it is applied again.
    new = shapes.write_folder(root / "later", per_class=3, seed=9_300_000,
                              classes=[("red", "star"), ("blue", "circle")])
    index_folder(lib, embedders("shapes-tiny"))
    again = tagging.apply_probe(lib, "shapes-tiny", "pointy")
    new_found = {p.path for p in again.photos} & set(new)
    assert len(new_found) >= 2 and all(new[p][1] == "star" for p in new_found)


def test_teach_with_outside_examples_and_bad_input(photo_library, embedders, tmp_path):
    lib, emb = photo_library, embedders("tiny-random")
    outside = tmp_path / "elsewhere.png"
    photo(3, (200, 150)).save(outside)
    with pytest.raises(QueryError, match="not an indexed photo"):
        tagging.teach(lib, emb.spec, "mine", [outside])
    loads = []
    report = tagging.teach(lib, emb.spec, "mine", [outside, lib.root / "1.jpg"],
                           negatives=[lib.root / "2.jpg"], embedder=lambda: loads.append(1) or emb)
    assert loads == [1]  # the model is loaded only because one example is not indexed
    assert report.probe.positives == 2 and report.probe.negatives == 1 and not report.probe.background
    stored = tagging.list_probes(lib, emb.spec)
    assert [p.name for p in stored] == ["mine"]
    np.testing.assert_allclose(stored[0].coef, report.probe.coef, rtol=1e-6)
    with pytest.raises(QueryError, match="example photo not found"):
        tagging.teach(lib, emb.spec, "x", [tmp_path / "nope.jpg"])
    with pytest.raises(QueryError, match="both as examples and as negatives"):
        tagging.teach(lib, emb.spec, "x", [lib.root / "1.jpg"], [lib.root / "1.jpg"])
    with pytest.raises(QueryError, match="needs a name"):
        tagging.teach(lib, emb.spec, "  ", [lib.root / "1.jpg"])
    tagging.delete_probe(lib, emb.spec, "mine")
    assert tagging.list_probes(lib, emb.spec) == [] and tagging.label_counts(lib, emb.spec) == {}


@pytest.mark.slow  # runs clipgallery in a subprocess
def test_cli_tag_and_teach(photo_library, tmp_path):
    lib = photo_library
    before = hash_tree(lib.root)
    cli = [sys.executable, "-m", "clipgallery.cli", "--library-dir", str(lib.dir)]
    out = subprocess.run([*cli, "tag", str(lib.root), "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data) == 10 and all(Path(d["path"]).is_absolute() and Path(d["path"]).is_file() for d in data)
    # Every photo is listed, with the emotions that fit it (a random model's may fit none).
    assert all({t["label"] for t in d["tags"]} <= set(tagging.load_label_set("emotions").labels) for d in data)
    shapes_file = write_json(tmp_path / "shapes.json", {"name": "shapes", "labels": {
        "circle": ["a round shape"], "square": ["a box"]}})
    out = subprocess.run([*cli, "tag", str(lib.root), "--labels", str(shapes_file), "--strategy", "descriptions",
                          "--threshold", "0.2", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert all(t["score"] >= 0.2 or t is d["tags"][0] for d in json.loads(out.stdout) for t in d["tags"])

    taught = subprocess.run([*cli, "teach", str(lib.root), "sunny", "--examples", str(lib.root / "1.jpg"),
                             str(lib.root / "4.jpg"), "--json"], capture_output=True, text=True)
    assert taught.returncode == 0, taught.stderr
    t = json.loads(taught.stdout)
    assert t["label"] == "sunny" and t["positives"] == 2
    assert all(Path(m["path"]).is_absolute() for m in t["matches"])
    listed = json.loads(subprocess.run([*cli, "labels", str(lib.root), "--json"], capture_output=True,
                                       text=True, check=True).stdout)
    assert [s["name"] for s in listed] == ["emotions", "shapes", "taught"]
    assert listed[2]["counts"] == {"sunny": len(t["matches"])}
    reapplied = subprocess.run([*cli, "tag", str(lib.root), "--labels", "taught", "--json"], capture_output=True,
                               text=True)
    assert reapplied.returncode == 0, reapplied.stderr
    assert sorted(d["path"] for d in json.loads(reapplied.stdout)) == sorted(m["path"] for m in t["matches"])

    bad = write_json(tmp_path / "bad.json", {"name": "x", "labels": ["one"]})
    for args, message in [(["tag", str(lib.root), "--labels", str(bad)], "at least 2 labels"),
                          (["tag", str(lib.root), "--labels", "nosuchset"], "unknown label set 'nosuchset'"),
                          (["teach", str(lib.root), "x", "--examples", str(tmp_path / "no.jpg")], "not found")]:
        r = subprocess.run([*cli, *args, "--json"], capture_output=True, text=True)
        assert r.returncode == 1 and r.stdout == "" and message in r.stderr and "Traceback" not in r.stderr
    assert hash_tree(lib.root) == before


def test_a_label_is_given_only_where_it_fits(shapes_library, embedders, tmp_path):
    """Drawn shapes among real photos: the shapes get their label, the real photos none of a set of shapes."""
    import shutil

    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library

    faces = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "faces"
    if not faces.is_dir():
        pytest.skip("the shared real photos are not here")
    src, truth = shapes_library
    root = tmp_path / "mixed"
    shutil.copytree(src.root, root)
    real = []
    for f in sorted(faces.glob("*.jpg")):
        shutil.copy(f, root / f.name)
        real.append((root / f.name).resolve())
    lib = Library(root, tmp_path / "lib")
    emb = embedders("shapes-tiny")
    assert not index_folder(lib, emb, batch_size=32).failed
    report = tagging.tag_library(lib, emb, tagging.load_label_set(write_json(tmp_path / "shapes.json", SHAPES_SET)))
    tags = {p.path.resolve(): [t.label for t in p.tags] for p in report.photos}
    assert all(tags[p] == [] for p in real), {p.name: tags[p] for p in real}  # none of these
    shape_of = {root / p.name: c[1] for p, c in truth.items()}
    right = [tags[p.resolve()][:1] == [shape] for p, shape in shape_of.items()]
    assert np.mean(right) >= 0.9
    # A closed set ("none": []) still forces its best label on every photo, as asked.
    closed = tagging.tag_library(lib, emb, tagging.parse_label_set({**SHAPES_SET, "name": "closed", "none": []}))
    assert all(p.tags for p in closed.photos)
