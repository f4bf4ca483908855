"""eval spurious: top-1 on usual vs unusual backgrounds, checked against a direct computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipgallery.cli import main
from clipgallery.core.evaluate import DatasetError
from clipgallery.core.spurious import load_split_dataset, spurious
from clipgallery.shapes import render_varied

CLASSES = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("yellow", "star")]
PER_SPLIT = 6


@pytest.fixture(scope="module")
def backgrounds_dataset(tmp_path_factory) -> Path:
    """Each class drawn on plain backgrounds (common/) and on busy ones (counter/)."""
    root = tmp_path_factory.mktemp("spurious")
    for k, (colour, shape) in enumerate(CLASSES):
        for split, kinds in (("common", ["plain"]), ("counter", ["checks", "stripes", "lines"])):
            folder = root / f"{colour}_{shape}" / split
            folder.mkdir(parents=True)
            for i in range(PER_SPLIT):
                seed = 7_000_000 + 100 * k + 10 * (split == "counter") + i
                render_varied([(colour, shape)], seed, (96, 96), kinds[i % len(kinds)]).image.save(
                    folder / f"{i}.png")
    return root


def direct_top1(root: Path, split: str, embedder) -> tuple[float, dict[str, float]]:
    """Zero-shot top-1 computed here from scratch: each image against 'a photo of a {class}.'."""
    names = [f"{c} {s}" for c, s in CLASSES]
    text = embedder.encode_texts([f"a photo of a {n}." for n in names])
    right, per = [], {}
    for k, name in enumerate(names):
        files = sorted((root / name.replace(" ", "_") / split).iterdir())
        vecs = embedder.encode_images([Image.open(f).convert("RGB") for f in files])
        ok = (vecs @ text.T).argmax(axis=1) == k
        right += list(ok)
        per[name] = float(np.mean(ok))
    return float(np.mean(right)), per


@pytest.mark.slow
def test_the_reported_drop_matches_a_direct_computation(backgrounds_dataset, embedders):
    emb = embedders("shapes-tiny")
    report = spurious(backgrounds_dataset, emb)
    common, common_per = direct_top1(backgrounds_dataset, "common", emb)
    counter, counter_per = direct_top1(backgrounds_dataset, "counter", emb)
    assert report["common"] == {"top1": pytest.approx(common), "images": PER_SPLIT * len(CLASSES)}
    assert report["counter"]["top1"] == pytest.approx(counter)
    assert report["drop"] == pytest.approx(common - counter)
    by_class = {c["class"]: c for c in report["classes"]}
    for name in common_per:
        assert by_class[name]["common"]["top1"] == pytest.approx(common_per[name])
        assert by_class[name]["counter"]["top1"] == pytest.approx(counter_per[name])
        assert by_class[name]["drop"] == pytest.approx(common_per[name] - counter_per[name])
    assert common > 0.5  # the model knows these classes at all: the figures measure something


def test_cli_eval_spurious_json_report_and_chart(backgrounds_dataset, tmp_path, capsys):
    report_path = tmp_path / "r.md"
    assert main(["eval", "spurious", str(backgrounds_dataset), "--model", "shapes-tiny", "--device", "cpu",
                 "--json", "--plots", str(tmp_path / "plots"), "--report", str(report_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"common", "counter", "drop", "classes", "report", "plots"}
    assert data["drop"] == pytest.approx(data["common"]["top1"] - data["counter"]["top1"])
    assert len(data["classes"]) == len(CLASSES)
    text = report_path.read_text()
    assert "counter (unusual) backgrounds" in text and f"{data['drop']:.4f}" in text
    assert Image.open(data["plots"][0]).size[0] > 400


def test_a_class_without_counter_images_is_one_clear_error(tmp_path, capsys):
    for name in ("a", "b"):
        (tmp_path / "ds" / name / "common").mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(tmp_path / "ds" / name / "common" / "x.png")
    with pytest.raises(DatasetError, match="counter/"):
        load_split_dataset(tmp_path / "ds")
    assert main(["eval", "spurious", str(tmp_path / "ds"), "--model", "tiny-random"]) == 1
    err = capsys.readouterr().err
    assert "counter/" in err and "Traceback" not in err


@pytest.mark.slow
def test_auto_mode_reports_each_class_best_and_worst_background_group(tmp_path, embedders):
    from clipgallery.core.spurious import spurious_auto

    emb = embedders("shapes-tiny")
    root = tmp_path / "auto"
    for k, (colour, shape) in enumerate(CLASSES[:3]):
        folder = root / f"{colour}_{shape}"
        folder.mkdir(parents=True)
        for i in range(12):
            kind = "plain" if i % 2 else "checks"
            render_varied([(colour, shape)], 7_100_000 + 100 * k + i, (96, 96), kind).image.save(
                folder / f"{kind}-{i}.png")
    report = spurious_auto(root, emb, clusters=2)
    names = sorted(f"{c} {s}" for c, s in CLASSES[:3])  # the folder order
    text = emb.encode_texts([f"a photo of a {n}." for n in names])
    common_hits, counter_hits = [], []
    for k, c in enumerate(report["classes"]):
        assert c["class"] == names[k] and len(c["groups"]) == 2
        both = c["common"]["paths"] + c["counter"]["paths"]
        assert sorted(both) == sorted(str(p) for p in (root / names[k].replace(" ", "_")).iterdir())
        # How well the groups follow the background kind is a property of the model, not checked here:
        # shapes-tiny was trained to ignore backgrounds, and its groups are 58-75% pure (README).
        hits = {part: (emb.encode_images([Image.open(p).convert("RGB") for p in c[part]["paths"]]) @ text.T)
                .argmax(axis=1) == k for part in ("common", "counter")}
        assert c["common"]["top1"] == pytest.approx(hits["common"].mean())
        assert c["counter"]["top1"] == pytest.approx(hits["counter"].mean())
        assert c["drop"] == pytest.approx(c["common"]["top1"] - c["counter"]["top1"]) and c["drop"] >= 0
        common_hits += list(hits["common"])
        counter_hits += list(hits["counter"])
    assert report["drop"] == pytest.approx(np.mean(common_hits) - np.mean(counter_hits))
