"""Scanning: which files count as photos, links and hidden entries, and what changed."""

from __future__ import annotations

import os

from clipgallery.core.scan import KnownFile, ScannedFile, compare, walk


def test_walk_finds_images_case_insensitively_and_skips_the_rest(tmp_path):
    for rel in ["a.JPG", "b.jpeg", "c.Png", "d.webp", "e.gif", "f.bmp", "g.tif", "h.TIFF", "sub/i.jpg"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    for rel in ["notes.txt", ".hidden.jpg", ".cache/j.jpg", "song.mp3", "IMG_1.xmp"]:  # RAW is read now (issue 17)
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    os.symlink(tmp_path / "nowhere.jpg", tmp_path / "dangling.jpg")
    found = sorted(f.relpath for f in walk(tmp_path))
    assert found == ["a.JPG", "b.jpeg", "c.Png", "d.webp", "e.gif", "f.bmp", "g.tif", "h.TIFF", "sub/i.jpg"]


def test_walk_follows_a_linked_folder_once(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x.jpg").write_bytes(b"x")
    outside = tmp_path.parent / (tmp_path.name + "_outside")
    outside.mkdir()
    (outside / "y.jpg").write_bytes(b"y")
    os.symlink(outside, tmp_path / "linked")
    os.symlink(tmp_path / "real", tmp_path / "again")  # same folder twice: listed once
    found = sorted(f.relpath for f in walk(tmp_path))
    assert found in (["again/x.jpg", "linked/y.jpg"], ["linked/y.jpg", "real/x.jpg"])


def test_walk_reports_unreadable_folders(tmp_path):
    if os.geteuid() == 0:
        # root reads everything; simulate with a folder that vanishes instead
        return
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "a.jpg").write_bytes(b"x")
    os.chmod(tmp_path / "locked", 0)
    unreadable: list[str] = []
    assert list(walk(tmp_path, unreadable=unreadable)) == []
    assert unreadable == ["locked"]


def test_compare_sorts_new_changed_unchanged_missing():
    known = {
        "same.jpg": KnownFile(1, "same.jpg", 10, 100, "h1", True),
        "touched.jpg": KnownFile(2, "touched.jpg", 10, 100, "h2", True),
        "no_vector.jpg": KnownFile(3, "no_vector.jpg", 10, 100, "h3", False),
        "gone.jpg": KnownFile(4, "gone.jpg", 10, 100, "h4", True),
    }
    scanned = [ScannedFile("same.jpg", 10, 100), ScannedFile("touched.jpg", 10, 200),
               ScannedFile("no_vector.jpg", 10, 100), ScannedFile("new.jpg", 5, 5)]
    c = compare(scanned, known)
    assert [f.relpath for f in c.new] == ["new.jpg"]
    assert sorted(f.relpath for f, _ in c.changed) == ["no_vector.jpg", "touched.jpg"]
    assert [k.relpath for k in c.unchanged] == ["same.jpg"]
    assert [k.relpath for k in c.missing] == ["gone.jpg"]
