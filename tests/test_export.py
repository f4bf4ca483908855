"""Export: DEST/<group>/<file> with a manifest; never overwrites, never leaves DEST, never touches originals."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import hash_tree, photo

from clipgallery.core.export import (
    ExportError,
    Selected,
    export,
    plan_export,
    run_export,
    safe_file_name,
    safe_name,
)

HOSTILE = ["../../etc", "CON", "a/b", "", "x" * 300, "con.txt", "..", " trailing dot. ", "tab\there\x07",
           "a\\b", "LPT1", "nul.tar.gz", "ünïcödé 名前 " * 20]
WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


@pytest.fixture
def photos(tmp_path):
    """A photo folder where several files share a name in different subfolders."""
    root = tmp_path / "photos"
    for i, rel in enumerate(["a/img.jpg", "b/img.jpg", "c/IMG.jpg", "d.jpg", "e/d.jpg", "f/g/img.jpg"]):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        photo(i).save(root / rel, "JPEG")
    return root


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def assert_portable_component(name: str) -> None:
    assert name and name not in (".", "..")
    assert "/" not in name and "\\" not in name
    assert not any(ord(c) < 32 for c in name)
    assert not name.endswith((".", " ")) and not name.startswith(" ")
    assert len(name.encode("utf-8")) <= 255
    assert name.split(".")[0].upper() not in WINDOWS_RESERVED


def test_safe_names_are_one_harmless_path_component():
    for raw in HOSTILE:
        for name in (safe_name(raw), safe_file_name(raw + ".jpg")):
            assert_portable_component(name)
    assert safe_name("../../etc") == "_.._etc"
    assert safe_name("CON") == "CON_" and safe_name("nul.tar.gz") == "nul_.tar.gz"
    assert safe_name("a/b") == "a_b"
    assert safe_name("") == "unnamed" and safe_name("..") == "unnamed"
    assert safe_name("beach") == "beach" and safe_name("Ünïcode name") == "Ünïcode name"
    assert len(safe_name("x" * 300).encode()) <= 120
    long = safe_file_name("é" * 300 + ".jpeg")
    assert long.endswith(".jpeg") and len(long.encode()) <= 200  # a multi-byte name is cut on a character


def test_collisions_and_hostile_group_names_stay_inside_dest(photos, tmp_path):
    before = hash_tree(photos)
    outside_before = {p for p in tmp_path.rglob("*") if "dest" not in p.parts}
    sources = sorted(p for p in photos.rglob("*.jpg"))
    selection = [Selected(src, group, 0.5) for group in HOSTILE for src in sources]
    dest = tmp_path / "dest"
    result = export(selection, dest, photos)

    planned = result.plan.files
    assert len(result.written) == len(planned) == len(selection)  # every photo of every group
    real_dest = dest.resolve()
    for f in result.written:
        assert f.dest.exists() and real_dest in f.dest.resolve().parents  # nothing outside DEST
        assert f.dest.read_bytes() == f.source.read_bytes()
        assert f.dest.stat().st_mtime_ns == f.source.stat().st_mtime_ns  # copy2 semantics: times kept
        assert f.dest.parent.parent == dest  # exactly DEST/<group>/<file>
        assert_portable_component(f.dest.parent.name)
        assert_portable_component(f.dest.name)
    # One folder per distinct group, all names distinct even case-insensitively.
    folders = {f.dest.parent for f in result.written}
    assert len(folders) == len(HOSTILE)
    assert len({p.name.casefold() for p in folders}) == len(folders)
    # Same-named files from different subfolders all arrived, none replaced another.
    dests = [f.dest for f in result.written]
    assert len(set(dests)) == len(dests)
    assert len({p.name.casefold() for p in dests if p.parent == dests[0].parent}) == len(sources)
    assert {p for p in tmp_path.rglob("*") if "dest" not in p.parts} == outside_before
    assert hash_tree(photos) == before

    rows = list(csv.DictReader(result.manifest_csv.open(encoding="utf-8")))
    assert [(r["source"], r["group"], r["dest"]) for r in rows] == \
        [(str(f.source), f.group, str(f.dest)) for f in result.written]
    doc = json.loads(result.manifest_json.read_text(encoding="utf-8"))
    assert [(d["source"], d["dest"], d["score"]) for d in doc["files"]] == \
        [(str(f.source), str(f.dest), 0.5) for f in result.written]


def test_re_export_into_the_same_folder_writes_nothing_again(photos, tmp_path):
    selection = [Selected(p, "group") for p in sorted(photos.rglob("*.jpg"))]
    dest = tmp_path / "dest"
    first = export(selection, dest, photos)
    snapshot = hash_tree(dest)
    second = export(selection, dest, photos)
    assert hash_tree(dest) == snapshot  # not one file written, not even a second manifest
    assert second.written == [] and second.manifest_json is None
    assert sorted((f.source, f.dest) for f in second.already) == sorted((f.source, f.dest) for f in first.written)
    doc = second.to_json()
    assert len(doc["already_there"]) == len(selection) and doc["written"] == []


def test_re_export_writes_only_what_is_new_or_changed(photos, tmp_path):
    sources = sorted(photos.rglob("*.jpg"))
    dest = tmp_path / "dest"
    first = export([Selected(p, "group") for p in sources[:-1]], dest, photos)
    snapshot = hash_tree(dest)
    photo(99).save(sources[0], "JPEG")  # the user edited this photo since the first export
    second = export([Selected(p, "group") for p in sources], dest, photos)
    after = hash_tree(dest)
    assert {k: after[k] for k in snapshot} == snapshot  # the first export's files are untouched
    assert sorted(f.source for f in second.written) == sorted([sources[0], sources[-1]])
    edited = next(f for f in second.written if f.source == sources[0])
    assert edited.dest.read_bytes() == sources[0].read_bytes()
    assert re.fullmatch(r".+ \(\d+\)\.jpg", edited.dest.name)  # beside the old version, never over it
    assert len(second.already) == len(sources) - 2
    assert {f.dest for f in first.written} >= {f.dest for f in second.already}
    assert second.manifest_csv.name == "clipgallery-export (2).csv"
    assert second.manifest_json.name == "clipgallery-export (2).json"


def test_re_export_recognises_links_and_other_files_of_the_same_name(photos, tmp_path):
    sources = sorted(photos.rglob("*.jpg"))
    selection = [Selected(p, "g") for p in sources]
    for mode in ("hardlink", "symlink"):
        export(selection, tmp_path / mode, photos, mode=mode)
        again = export(selection, tmp_path / mode, photos, mode=mode)
        assert again.written == [] and len(again.already) == len(sources)
    other = tmp_path / "other" / "g"
    other.mkdir(parents=True)
    (other / "d.jpg").write_bytes(b"not the photo")  # same name, other bytes: not the photo
    result = export([Selected(photos / "d.jpg", "g")], tmp_path / "other", photos)
    assert result.already == [] and result.written[0].dest.name == "d (2).jpg"
    assert (other / "d.jpg").read_bytes() == b"not the photo"


def test_a_file_appearing_after_planning_is_not_overwritten(photos, tmp_path):
    selection = [Selected(p, "g") for p in sorted(photos.rglob("*.jpg"))]
    plan = plan_export(selection, tmp_path / "dest", photos)
    taken = plan.files[0].dest
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"someone else's file")
    (tmp_path / "dest" / plan.manifest_csv.name).write_text("theirs")
    result = run_export(plan)
    assert taken.read_bytes() == b"someone else's file"
    assert result.written[0].dest.name == taken.stem + " (2)" + taken.suffix
    assert result.manifest_csv.name == "clipgallery-export (2).csv"
    assert (tmp_path / "dest" / plan.manifest_csv.name).read_text() == "theirs"


def test_a_link_planted_in_dest_is_never_followed(photos, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "cats").symlink_to(outside, target_is_directory=True)
    result = export([Selected(photos / "d.jpg", "cats")], dest, photos)
    assert list(outside.iterdir()) == []
    assert result.written[0].dest == dest / "cats (2)" / "d.jpg"


def test_link_modes_and_dry_run(photos, tmp_path):
    before = hash_tree(photos)
    selection = [Selected(p, "g") for p in sorted(photos.rglob("*.jpg"))]
    dry = export(selection, tmp_path / "dry", photos, dry_run=True)
    assert dry.dry_run and not dry.written and len(dry.plan.files) == len(selection)
    assert not (tmp_path / "dry").exists()
    hard = export(selection, tmp_path / "hard", photos, mode="hardlink")
    assert all(os.path.samefile(f.dest, f.source) for f in hard.written)
    soft = export(selection, tmp_path / "soft", photos, mode="symlink")
    assert all(f.dest.is_symlink() and f.dest.resolve() == f.source.resolve() for f in soft.written)
    assert hash_tree(photos) == before


def test_bad_destinations_and_selections_fail_before_writing(photos, tmp_path):
    selection = [Selected(p, "g") for p in sorted(photos.rglob("*.jpg"))]
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ExportError, match="exists and is not a folder"):
        export(selection, tmp_path / "file.txt", photos)
    with pytest.raises(ExportError, match="is not a folder"):
        export(selection, tmp_path / "file.txt" / "sub", photos)
    with pytest.raises(ExportError, match="inside the photo folder"):
        export(selection, photos / "exports", photos)
    assert not (photos / "exports").exists()
    with pytest.raises(ExportError, match="selection is empty"):
        export([], tmp_path / "dest", photos)
    with pytest.raises(ExportError, match="unknown export mode"):
        export(selection, tmp_path / "dest", photos, mode="move")
    # A group folder that would land in the photo folder (DEST is its parent) is refused too.
    with pytest.raises(ExportError, match="inside the photo folder"):
        export([Selected(photos / "d.jpg", "photos")], tmp_path, photos)
    assert not (tmp_path / "dest").exists()
    # --force allows a destination inside the photo folder; the photos themselves stay untouched.
    before = hash_tree(photos)
    forced = export(selection, photos / "exports", photos, force=True)
    assert len(forced.written) == len(selection)
    assert {k: v for k, v in hash_tree(photos).items() if not k.startswith("exports/")} == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_destination(photos, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ExportError, match="permission denied"):
            export([Selected(photos / "d.jpg", "g")], locked / "out", photos)
    finally:
        locked.chmod(0o700)


def test_vanished_source_is_reported_and_skipped(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(3):
        photo(i).save(root / f"{i}.jpg")
    selection = [Selected(root / f"{i}.jpg", "g") for i in range(3)]
    (root / "1.jpg").unlink()  # gone since indexing
    result = export(selection, tmp_path / "dest", root)
    assert [f.source.name for f in result.written] == ["0.jpg", "2.jpg"]
    assert result.skipped == [(root / "1.jpg", "no longer exists")]
    assert json.loads(result.manifest_json.read_text())["skipped"] == [
        {"path": str(root / "1.jpg"), "reason": "no longer exists"}]
    for p in list(root.iterdir()):
        p.unlink()
    with pytest.raises(ExportError, match="none of the 3 selected photos exist"):
        export(selection, tmp_path / "dest2", root)


def test_a_failed_write_undoes_the_whole_export(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(4):
        photo(i).save(root / f"{i}.jpg")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("already here")
    plan = plan_export([Selected(root / f"{i}.jpg", "g") for i in range(4)], dest, root)
    (root / "2.jpg").unlink()
    (root / "2.jpg").mkdir()  # reading it now fails with an error other than "gone"
    with pytest.raises(ExportError, match="failed and was undone"):
        run_export(plan)
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt"]


@pytest.mark.slow  # runs clipgallery in a subprocess
def test_cli_export_json_and_errors(make_library, tmp_path):
    root = tmp_path / "photos"
    for i in range(8):
        (root / f"s{i % 2}").mkdir(parents=True, exist_ok=True)
        photo(i).save(root / f"s{i % 2}" / f"{i // 2}.jpg")  # the same names in both subfolders
    lib, _ = make_library(root)
    cli = [sys.executable, "-m", "clipgallery.cli", "--library-dir", str(lib.dir)]
    before = hash_tree(root)
    subprocess.run([*cli, "cluster", str(root), "--k", "2", "--json"], check=True, capture_output=True)
    out = subprocess.run([*cli, "export", str(root), "--dest", str(tmp_path / "out"), "--clusters", "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {Path(w["source"]) for w in data["written"]} == set(root.rglob("*.jpg"))
    assert all(Path(w["source"]).is_absolute() and Path(w["dest"]).is_absolute() for w in data["written"])
    assert all(Path(w["dest"]).read_bytes() == Path(w["source"]).read_bytes() for w in data["written"])
    assert len({Path(w["dest"]).parent for w in data["written"]}) == 2
    manifest = json.loads(Path(data["manifest"]).read_text())
    assert [(f["source"], f["dest"]) for f in manifest["files"]] == [(w["source"], w["dest"]) for w in data["written"]]

    dry = subprocess.run([*cli, "export", str(root), "--dest", str(tmp_path / "dry"), "--clusters",
                          "--dry-run", "--json"], capture_output=True, text=True)
    assert dry.returncode == 0 and json.loads(dry.stdout)["written"] == []
    assert len(json.loads(dry.stdout)["plan"]) == 8 and not (tmp_path / "dry").exists()

    for args, message in [
        (["--tag", "nosuchtag"], "unknown tag 'nosuchtag'"),
        (["--clusters", "--dest", str(root / "out")], "inside the photo folder"),
        (["--clusters", "--dest", str(tmp_path / "out" / "clipgallery-export.csv")], "not a folder"),
    ]:
        dest = [] if "--dest" in args else ["--dest", str(tmp_path / "bad")]
        bad = subprocess.run([*cli, "export", str(root), *dest, *args, "--json"], capture_output=True, text=True)
        assert bad.returncode == 1 and bad.stdout == ""
        assert message in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists() and not (root / "out").exists()
    assert hash_tree(root) == before
