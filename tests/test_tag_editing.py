"""Hand-made tags a person can fix from the command line: rename, delete, and a wrong zero-shot tag
taken off one photo that re-tagging does not bring back (issue 15)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import hash_tree, photo

from clipgallery.cli import main
from clipgallery.core import organize as org
from clipgallery.core import tagging


@pytest.fixture
def tagged(tmp_path, make_library):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(4):
        photo(i).save(root / f"{i}.jpg")
    lib, _ = make_library(root)
    ids = {f.relpath: f.id for f in lib.files()}
    org.add_tag(lib, "grandma", [ids["0.jpg"], ids["1.jpg"]])
    org.add_tag(lib, "Beach", [ids["1.jpg"], ids["2.jpg"]])
    return lib, ids


def cli(capsys, lib, *args) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in args] + ["--library-dir", str(lib.dir)])
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_renames_a_hand_made_tag_on_every_photo(tagged, capsys):
    lib, ids = tagged
    before = hash_tree(lib.root)
    code, out, err = cli(capsys, lib, "tag", lib.root, "--rename", "Grandma", "Granny", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["action"], data["label"], data["from"]) == ("rename", "Granny", "Grandma")
    assert sorted(Path(p["path"]).name for p in data["photos"]) == ["0.jpg", "1.jpg"]
    assert org.manual_labels(lib) == {"Beach": 2, "Granny": 2}
    assert tagging.files_with_tag(lib, "tiny-random", "granny") == {ids["0.jpg"], ids["1.jpg"]}
    # into an existing tag: the two become one, a photo carrying both keeps one
    code, out, err = cli(capsys, lib, "tag", lib.root, "--rename", "granny", "beach")
    assert code == 0, err
    assert out.strip() == "renamed 'granny' to 'beach' on 3 photos"
    assert org.manual_labels(lib) == {"Beach": 3}
    assert hash_tree(lib.root) == before


def test_cli_deletes_a_hand_made_tag_and_keeps_the_zero_shot_ones(tagged, capsys, embedders):
    lib, ids = tagged
    emb = embedders("tiny-random")
    emotions = dataclasses.replace(tagging.load_label_set("emotions"), none=())
    tagging.tag_library(lib, emb, emotions, threshold=0.0)
    zero_shot = {fid: [t for t in tags if t[0] == "emotions"] for fid, tags in tagging.tags_of(lib, emb.spec, list(ids.values())).items()}
    code, out, err = cli(capsys, lib, "tag", lib.root, "--delete", "BEACH", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["action"], data["label"]) == ("delete", "BEACH")
    assert {Path(p["path"]).name: p["tags"] for p in data["photos"]} == {"1.jpg": ["grandma"], "2.jpg": []}
    assert org.manual_labels(lib) == {"grandma": 2}
    after = tagging.tags_of(lib, emb.spec, list(ids.values()))
    assert {fid: [t for t in tags if t[0] == "emotions"] for fid, tags in after.items()} == zero_shot


def test_cli_removes_a_wrong_zero_shot_tag_for_good_and_hand_tags_survive_re_tagging(tagged, capsys, embedders):
    lib, ids = tagged
    emb = embedders("tiny-random")
    emotions = dataclasses.replace(tagging.load_label_set("emotions"), none=())
    tagging.tag_library(lib, emb, emotions, threshold=0.0)  # every label on every photo

    def labels(name: str) -> set[tuple[str, str]]:
        fid = ids[name]
        return {(s, t.label) for s, t in tagging.tags_of(lib, emb.spec, [fid]).get(fid, [])}

    assert ("emotions", "anger") in labels("0.jpg")
    code, out, err = cli(capsys, lib, "tag", lib.root, "--remove", "anger", lib.root / "0.jpg")
    assert code == 0, err
    tagging.tag_library(lib, emb, emotions, threshold=0.0)  # tagging again
    assert ("emotions", "anger") not in labels("0.jpg")  # stays off that photo
    assert ("emotions", "anger") in labels("1.jpg")  # and only that one
    assert ("hand-made", "grandma") in labels("0.jpg")  # the hand-made tag survived


@pytest.mark.parametrize("args, message", [
    (["--rename", "nobody", "x"], "no hand-made tag 'nobody'; hand-made tags: Beach, grandma"),
    (["--delete", "nobody"], "no hand-made tag 'nobody'"),
    (["--rename", "grandma", "  "], "the tag name is empty"),
    (["0.jpg", "--rename", "grandma", "x"], "photos go with --add LABEL or --remove LABEL"),
    (["--rename", "grandma", "x", "0.jpg"], "unrecognized arguments: 0.jpg"),
    (["--delete", "grandma", "--rename", "a", "b"], "not allowed with argument"),
])
def test_cli_bad_tag_edits_are_one_line_and_change_nothing(tagged, capsys, args, message):
    lib, _ = tagged
    before = org.manual_labels(lib)
    code, out, err = cli(capsys, lib, "tag", lib.root, *args)
    assert code != 0 and out == ""
    assert message in err.strip().splitlines()[-1], err
    assert "Traceback" not in err
    assert org.manual_labels(lib) == before
