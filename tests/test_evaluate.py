"""Evaluation tools on drawn folder-per-class datasets: zero-shot, probe, retrieval, typography, reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clipgallery.cli import main as cli_main
from clipgallery.core import evaluate as ev
from clipgallery.shapes import CLASSES, draw, held_out_seed, scene

MODEL = "shapes-tiny"


def write_class_folders(root: Path, per_class: int, seed: int, classes=CLASSES) -> Path:
    for k, (colour, shape) in enumerate(classes):
        folder = root / f"{colour}_{shape}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw([(colour, shape)], held_out_seed(seed, k, i)).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def shapes_dataset(tmp_path_factory):
    return write_class_folders(tmp_path_factory.mktemp("ds"), per_class=4, seed=7_000_001)


@pytest.fixture(scope="module")
def small_shapes_dataset(tmp_path_factory):
    """Four classes, each a small shape in a corner of a varied scene: a random backdrop and a large
    object of another class filling the opposite corner (shapes.scene)."""
    root = tmp_path_factory.mktemp("small")
    rng = np.random.default_rng(5)
    targets = [("blue", "star"), ("red", "circle"), ("green", "square"), ("yellow", "triangle")]
    others = [c for c in CLASSES if c not in targets]
    for k, target in enumerate(targets):
        folder = root / "_".join(target)
        folder.mkdir()
        for i in range(10):
            big = others[int(rng.integers(len(others)))]
            corner = (int(rng.integers(2)), int(rng.integers(2)))
            scene(big, target, 500 + 40 * k + i, corner).save(folder / f"{i}.png")
    return root


def test_dataset_names_and_label_file(tmp_path):
    root = write_class_folders(tmp_path / "d", 1, 1, classes=CLASSES[:2])
    (root / "red_circle").rename(root / "big-red_circle")
    ds = ev.load_dataset(root)
    assert ds.names == ["big red circle", "red square"]
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"name": "x", "labels": {
        "big-red_circle": {"name": "crimson disc", "descriptions": ["A round red shape"]},
        "red square": ["a red shape with four equal sides"]}}))
    ds = ev.load_dataset(root, labels)
    assert ds.names == ["crimson disc", "red square"]
    assert ds.classes[1].descriptions == ["a red shape with four equal sides"]


@pytest.mark.parametrize("setup, words", [
    ("missing", "dataset folder not found"),
    ("single", "at least two class subfolders"),
    ("empty_class", "class folder 'empty' has no images"),
])
def test_bad_datasets_get_clear_messages(tmp_path, setup, words, capsys):
    root = tmp_path / "d"
    if setup != "missing":
        write_class_folders(root, 1, 2, classes=CLASSES[:1 if setup == "single" else 2])
    if setup == "empty_class":
        (root / "empty").mkdir()
    with pytest.raises(ev.DatasetError, match=words):
        ev.load_dataset(root)
    assert cli_main(["eval", "zeroshot", str(root), "--model", "tiny-random"]) == 1
    assert words in capsys.readouterr().err


def test_zeroshot_reaches_90_percent_with_template(shapes_dataset, embedders, tmp_path):
    ds = ev.load_dataset(shapes_dataset)
    enc = ev.encode_dataset(ds, embedders(MODEL))
    report = ev.zeroshot(ds, enc, embedders(MODEL), "template")
    assert len(ds.classes) == 24
    assert report["strategies"]["template"]["top1"] >= 0.9
    conf = np.array(report["strategies"]["template"]["confusion"])
    assert conf.shape == (24, 24) and conf.sum() == len(ds.paths)
    assert report["strategies"]["ensemble"]["top5"] >= report["strategies"]["ensemble"]["top1"]


def test_description_strategies_need_descriptions(shapes_dataset, embedders, tmp_path):
    ds = ev.load_dataset(shapes_dataset)
    enc = ev.encode_dataset(ds, embedders(MODEL))
    with pytest.raises(ev.DatasetError, match="need class descriptions"):
        ev.zeroshot(ds, enc, embedders(MODEL), "descriptions")
    for c in ds.classes:
        colour, shape = c.name.split()
        c.descriptions = [f"a {shape} painted {colour}", f"something {colour} shaped like a {shape}"]
    report = ev.zeroshot(ds, enc, embedders(MODEL), "both")
    assert set(report["strategies"]) == set(ev.STRATEGIES)


def test_probe_reported_beside_zeroshot(shapes_dataset, embedders):
    ds = ev.load_dataset(shapes_dataset)
    enc = ev.encode_dataset(ds, embedders(MODEL))
    report = ev.probe(ds, enc, embedders(MODEL), test_fraction=0.25)
    assert report["test_images"] == 24 and report["train_images"] == 72
    assert 0 <= report["test_accuracy"] <= 1 and report["train_accuracy"] >= report["test_accuracy"] - 0.2
    assert report["zeroshot_test_top1"] >= 0.8
    text = ev.to_markdown(report)
    assert "probe test accuracy" in text and "zero-shot top-1 on the test split" in text


def test_average_precision_is_right_on_a_known_case():
    vecs = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    perfect = ev.average_precision(vecs, np.array([0, 0, 1, 1]), ks=(1,))
    assert perfect == {"mAP": 1.0, "P@1": 1.0}
    worst = ev.average_precision(vecs, np.array([0, 1, 0, 1]), ks=(1,))
    # each query finds its one relevant image at rank 3, 2, 3, 2: mAP = (1/3 + 1/2 + 1/3 + 1/2) / 4
    assert worst["P@1"] == 0.0 and worst["mAP"] == pytest.approx(5 / 12)


def test_retrieval_report_compares_global_and_regional(small_shapes_dataset, embedders, tmp_path):
    ds = ev.load_dataset(small_shapes_dataset)
    enc = ev.encode_dataset(ds, embedders(MODEL), grids=True)
    report = ev.retrieval(ds, enc)
    by = {(r["pooling"], r["post"]): r for r in report["rows"]}
    assert {("global", "none"), ("mac", "none"), ("rmac", "none"), ("regions-matched", "none")} <= set(by)
    assert any(p.endswith("+whiten") for _, p in by)
    for r in report["rows"]:
        assert 0 < r["mAP"] <= 1
    # The model sees these shapes: both the global vector and regional matching are far above
    # chance (about 0.25 for four classes of ten).
    assert by[("global", "none")]["mAP"] > 0.6 and by[("regions-matched", "none")]["mAP"] > 0.6
    assert 0 < report["kmeans"]["purity"] <= 1 and 0 <= report["kmeans"]["nmi"] <= 1
    print("\nretrieval of small shapes in varied scenes:")
    for r in report["rows"]:
        print(f"  {r['pooling']:16s} {r['post']:14s} mAP {r['mAP']:.3f}")
    path = ev.write_report(report, tmp_path / "r.md")
    table = ev.parse_markdown_table(path.read_text())
    assert table[0][:3] == ["pooling", "post-processing", "mAP"]
    assert {(row[0], row[1]) for row in table[1:]} == set(by)
    assert float(table[1][2]) == pytest.approx(report["rows"][0]["mAP"], abs=1e-4)


def test_typographic_before_and_after(tmp_path, embedders):
    root = write_class_folders(tmp_path / "t", 3, 3, classes=[c for c in CLASSES if c[0] == "red"])
    report = ev.typographic(ev.load_dataset(root), embedders(MODEL))
    assert report["before"]["top1"] >= 0.75
    assert 0 <= report["after"]["top1"] <= 1
    assert report["drop_top1"] == pytest.approx(report["before"]["top1"] - report["after"]["top1"])


def test_cli_writes_reports_and_plots_that_parse_back(shapes_dataset, tmp_path, capsys):
    report_path = tmp_path / "out" / "zs.md"
    code = cli_main(["eval", "zeroshot", str(shapes_dataset), "--model", MODEL, "--prompts", "template",
                     "--report", str(report_path), "--plots", str(tmp_path / "plots"), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["report"] == str(report_path.resolve())
    table = ev.parse_markdown_table(report_path.read_text())
    assert table[0] == ["strategy", "top-1", "top-5"]
    assert float(table[1][1]) == pytest.approx(data["strategies"]["template"]["top1"], abs=1e-4)
    from PIL import Image

    assert len(data["plots"]) == 3  # the accuracy bars and one confusion matrix per strategy
    for p in data["plots"]:
        assert Image.open(p).size[0] > 100
    # a second run never overwrites the first report
    assert cli_main(["eval", "probe", str(shapes_dataset), "--model", MODEL, "--report", str(report_path)]) == 0
    assert report_path.exists() and (report_path.parent / "zs (2).md").exists()


@pytest.mark.parametrize("kind, chart", [("retrieval", "retrieval-map.png"), ("typographic", "typographic.png")])
def test_cli_retrieval_and_typographic_plots(small_shapes_dataset, tmp_path, capsys, kind, chart):
    code = cli_main(["eval", kind, str(small_shapes_dataset), "--model", MODEL, "--report", str(tmp_path / "r.md"),
                     "--plots", str(tmp_path / "plots"), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    from PIL import Image

    assert [Path(p).name for p in data["plots"]] == [chart]
    assert Image.open(data["plots"][0]).size[0] > 100
