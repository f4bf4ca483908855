"""Duplicates you can trust and act on: CLIP proposes, the pixels confirm; confirmed extras go to
the desktop trash only when asked, and the library remembers where they went."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import hash_tree
from PIL import Image

from clipgallery import shapes
from clipgallery.core import pixels
from clipgallery.core.duplicates import DUPLICATE, SIMILAR, find_duplicates
from clipgallery.core.errors import QueryError, TrashError
from clipgallery.core.trash import choices, plan_trash, trash_extras

# Same colour and shape, different pictures: CLIP (shapes-tiny knows only colour and shape) calls
# every pair of them alike; only one drawing per class has real copies.
CLASSES = [("red", "circle"), ("blue", "star"), ("green", "square")]


def copies_of(image: Image.Image, folder: Path, stem: str) -> list[Path]:
    """A resized copy, a recompressed one (JPEG quality 60) and a lightly cropped one (4% a side)."""
    w, h = image.size
    out = [folder / f"{stem} small.jpg", folder / f"{stem} q60.jpg", folder / f"{stem} cropped.jpg"]
    image.resize((w * 2 // 3, h * 2 // 3), Image.Resampling.LANCZOS).save(out[0], quality=90)
    image.save(out[1], quality=60)
    cx, cy = round(w * 0.04), round(h * 0.04)
    image.crop((cx, cy, w - cx, h - cy)).save(out[2], quality=90)
    return out


def drawn_folder(root: Path, per_class: int = 4) -> dict[Path, list[Path]]:
    """per_class different drawings of each class (random position, size, background), and three
    copies of the first of each; -> original -> its copies."""
    root.mkdir(parents=True, exist_ok=True)
    originals = {}
    for ci, cls in enumerate(CLASSES):
        for i in range(per_class):
            image = shapes.draw([cls], shapes.held_out_seed(8_800_000, ci, i), size=(240, 200))
            path = root / f"{cls[0]}_{cls[1]}_{i}.png"
            image.save(path)
            if i == 0:
                originals[path] = copies_of(image, root, f"{cls[0]}_{cls[1]}_{i}")
    return originals


@pytest.mark.slow  # 80 pictures decoded and compared
def test_pixels_tell_copies_from_other_drawings_of_the_same_kind(tmp_path):
    for ci, cls in enumerate(shapes.CLASSES[::5]):
        drawings = [shapes.draw([cls], shapes.held_out_seed(8_900_000, ci, i)) for i in range(4)]
        prints = []
        for i, image in enumerate(drawings):
            path = tmp_path / f"{ci}-{i}.jpg"
            image.save(path, quality=90)
            prints.append(pixels.fingerprint_file(path))
            for copy in copies_of(image, tmp_path, f"{ci}-{i}"):
                d = pixels.difference(prints[-1], pixels.fingerprint_file(copy))
                assert d <= pixels.MAX_RMS, (cls, i, copy.name, d)
        for i in range(len(prints)):
            for j in range(i + 1, len(prints)):
                d = pixels.difference(prints[i], prints[j])
                assert d > pixels.MAX_RMS, (cls, i, j, d)


def test_pixel_difference_finds_the_crop(tmp_path):
    # A crop of 6% on the left and 2% at the bottom is found (not just a plain resize).
    image = shapes.draw([("orange", "triangle")], 12_345_678, size=(300, 220), background="noise")
    a = pixels.fingerprint_image(image)
    cropped = pixels.fingerprint_image(image.crop((18, 0, 300, 216)))
    plain = float(((a.thumb.astype(float) - cropped.thumb.astype(float)) ** 2).mean() ** 0.5)
    assert pixels.difference(a, cropped) < pixels.MAX_RMS < plain
    assert pixels.difference(a, cropped) == pytest.approx(pixels.difference(cropped, a))


@pytest.mark.slow  # indexes 21 drawings
def test_drawings_of_one_kind_are_similar_and_only_copies_are_duplicates(tmp_path, make_library):
    root = tmp_path / "photos"
    originals = drawn_folder(root)
    lib, report = make_library(root, "shapes-tiny")
    assert not report.failed
    before = hash_tree(root)
    dups = find_duplicates(lib, "shapes-tiny")
    found = sorted(sorted(m.path.name for m in g.members) for g in dups.groups)
    expected = sorted(sorted([o.name, *(c.name for c in cs)]) for o, cs in originals.items())
    assert found == expected
    assert all(g.kind == DUPLICATE and g.difference[0] == 0.0 and max(g.difference) <= pixels.MAX_RMS
               for g in dups.groups)
    # CLIP alone proposed the other drawings of each class too: they are similar, never duplicates.
    assert dups.similar and all(g.kind == SIMILAR and g.extras == () for g in dups.similar)
    similar_names = {m.path.name for g in dups.similar for m in g.members}
    for c, s in CLASSES:  # each class had different drawings CLIP called alike (>= 0.95)
        assert {f"{c}_{s}_{i}.png" for i in (1, 2, 3)} & similar_names, (c, s, similar_names)
    for g in dups.groups:  # the keeper: the most pixels, lossless before the recompressed copy
        assert g.keep.path in originals
    candidates = {m.id for g in dups.groups + dups.similar for m in g.members}
    assert dups.decoded == len(candidates) >= 12 and hash_tree(root) == before
    again = find_duplicates(lib, "shapes-tiny")  # fingerprints come from the library now
    assert again.decoded == 0 and [g.to_json() for g in again.groups] == [g.to_json() for g in dups.groups]
    with pytest.raises(QueryError, match="only similar"):
        choices(dups.similar)


@pytest.fixture
def desktop_trash(tmp_path, monkeypatch):
    """A home and a freedesktop.org trash of this test (send2trash reads XDG_DATA_HOME on import)."""
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    import send2trash.plat_other as plat

    importlib.reload(plat)
    yield data / "Trash"
    monkeypatch.undo()
    importlib.reload(plat)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stat_tree(root: Path) -> dict[str, tuple[str, int]]:
    hashes = hash_tree(root)
    return {rel: (h, (root / rel).stat().st_mtime_ns) for rel, h in hashes.items()}


@pytest.mark.slow  # indexes 21 drawings
def test_trash_moves_only_confirmed_extras_and_reports_each_failure(tmp_path, make_library, desktop_trash,
                                                                    monkeypatch):
    root = tmp_path / "photos"
    originals = drawn_folder(root)
    lib, _ = make_library(root, "shapes-tiny")
    report = find_duplicates(lib, "shapes-tiny")
    picks = choices(report.groups)
    red = next(o for o in originals if o.name.startswith("red"))
    blue = next(o for o in originals if o.name.startswith("blue"))
    # One extra changed after indexing: it is no longer the picture the pixels checked.
    changed = originals[blue][2]  # the cropped copy: never the keeper
    Image.open(changed).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(changed, quality=60)
    before = stat_tree(root)
    plan = plan_trash(lib, picks)
    assert (changed, "has changed since it was indexed") in plan.refused
    assert stat_tree(root) == before and not desktop_trash.exists()  # planning moves nothing
    # The trash refuses one file (as a volume without a writable trash would): reported, not raised.
    import send2trash.plat_other as plat

    refused = originals[red][0]
    real_move = plat.trash_move

    def move(src, dst, topdir=None, cross_dev=False):
        if os.fsdecode(src) == str(refused):
            raise PermissionError(13, "Permission denied", os.fsdecode(src))
        return real_move(src, dst, topdir, cross_dev)

    monkeypatch.setattr(plat, "trash_move", move)
    result = trash_extras(lib, plan)
    moved = {m.path for m in plan.moves} - {refused}
    assert {p for p, _ in result.trashed} == moved and len(moved) == 7
    assert (refused, "the trash refused it: Permission denied") in result.failed
    for path, where in result.trashed:
        assert not path.exists() and where is not None and Path(where).parent == desktop_trash / "files"
        info = desktop_trash / "info" / (Path(where).name + ".trashinfo")
        assert f"Path={path}" in info.read_text().replace("%20", " ")
        assert sha256(Path(where)) == before[path.name][0]  # the same bytes, restorable
    after = stat_tree(root)
    assert after == {k: v for k, v in before.items() if root / k not in moved}
    known = {f.path for f in lib.files()}
    assert not known & moved and refused in known
    rows = lib.store.duplicates.trashed()
    assert {r.relpath for r in rows} == {p.name for p in moved}
    keep_of = {m.relpath: m.keep_relpath for m in plan.moves}
    assert all(r.kept_relpath == keep_of[r.relpath] and Path(r.trash_path or "").is_file() for r in rows)


def test_unreachable_trash_moves_nothing(tmp_path, monkeypatch, make_library):
    root = tmp_path / "photos"
    root.mkdir()
    image = shapes.draw([("red", "circle")], 4242, size=(200, 160))
    image.save(root / "a.png")
    image.resize((100, 80)).save(root / "a small.png")
    lib, _ = make_library(root, "shapes-tiny")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker / "data"))  # under a file: it cannot be created
    plan = plan_trash(lib, choices(find_duplicates(lib, "shapes-tiny").groups))
    assert [m.path.name for m in plan.moves] == ["a small.png"]
    with pytest.raises(TrashError, match=r"Trash cannot be created \(.*not-a-folder is not a folder\); nothing was moved"):
        trash_extras(lib, plan)
    assert (root / "a small.png").exists() and len(lib.files()) == 2


@pytest.mark.slow  # runs clipgallery in subprocesses
def test_cli_trash_extras_asks_first_then_moves_to_the_trash(tmp_path, make_library):
    root = tmp_path / "photos"
    originals = drawn_folder(root, per_class=3)
    lib, _ = make_library(root, "shapes-tiny")
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(data), "PYTHONPATH": os.getcwd()}
    cli = [sys.executable, "-m", "clipgallery.cli", "duplicates", str(root), "--library-dir", str(lib.dir)]

    def run(*extra):
        out = subprocess.run([*cli, *extra], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        return out

    groups = json.loads(run("--json").stdout)
    assert [g["kind"] for g in groups] == [DUPLICATE] * 3
    assert all(g["keep"] == g["paths"][0] and len(g["paths"]) == 4 for g in groups)
    with_similar = json.loads(run("--json", "--similar").stdout)
    assert with_similar[:3] == groups and {g["kind"] for g in with_similar[3:]} == {SIMILAR}
    extras = sorted(p for g in groups for p in g["paths"][1:])
    before = stat_tree(root)
    plan = json.loads(run("--trash-extras", "--json").stdout)
    assert sorted(plan["would_trash"]) == extras and not data.exists() and stat_tree(root) == before
    text = run("--trash-extras").stdout
    assert "nothing was moved" in text and "--yes" in text
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    unreachable = subprocess.run([*cli, "--trash-extras", "--yes", "--json"], capture_output=True, text=True,
                                 env={**env, "XDG_DATA_HOME": str(blocker / "data")})
    assert unreachable.returncode == 1 and unreachable.stdout == ""
    errors = [line for line in unreachable.stderr.splitlines() if line.startswith("clipgallery: error:")]
    assert len(errors) == 1 and errors[0].endswith("nothing was moved") and "Traceback" not in unreachable.stderr
    assert stat_tree(root) == before
    done = json.loads(run("--trash-extras", "--yes", "--json").stdout)
    assert sorted(done["trashed"]) == extras and done["failed"] == []
    assert sorted(done["kept"]) == sorted(g["keep"] for g in groups)
    trash = data / "Trash"
    assert sorted((trash / "files").iterdir()) == sorted(trash / "files" / Path(p).name for p in extras)
    for p in extras:
        info = (trash / "info" / (Path(p).name + ".trashinfo")).read_text()
        assert info.startswith("[Trash Info]") and "DeletionDate=" in info
        assert sha256(trash / "files" / Path(p).name) == before[Path(p).name][0]
    assert stat_tree(root) == {k: v for k, v in before.items() if str(root / k) not in extras}
    assert json.loads(run("--json").stdout) == []  # nothing left to move
    record = json.loads(run("--trashed", "--json").stdout)
    assert sorted(r["path"] for r in record) == extras
    assert all(r["trash_path"] == str(trash / "files" / Path(r["path"]).name) and r["kept"] in done["kept"]
               for r in record)
    wrong = subprocess.run([*cli, "--yes"], capture_output=True, text=True, env=env)
    assert wrong.returncode == 1 and wrong.stderr.startswith("clipgallery: error: --yes confirms --trash-extras")
    assert len(originals) == 3


def test_a_photo_on_another_filesystem_goes_to_that_filesystems_trash(tmp_path, monkeypatch, make_library,
                                                                       desktop_trash):
    """As send2trash does (freedesktop.org spec): not the home trash, but `.Trash-$UID` at the top of
    the photo's own filesystem; the library records that place. (Another device is simulated: the
    tests' temporary folders share one filesystem.)"""
    import send2trash.plat_other as plat

    from clipgallery.core import trash

    volume = tmp_path / "usb"
    root = volume / "photos"
    root.mkdir(parents=True)
    image = shapes.draw([("blue", "square")], 5151, size=(200, 160))
    image.save(root / "b.png")
    image.save(root / "b q60.jpg", quality=60)
    lib, _ = make_library(root, "shapes-tiny")

    def device(path):
        return 2 if str(os.fsdecode(path)).startswith(str(volume)) else 1

    def mount(path):
        return os.fsencode(volume) if str(os.fsdecode(path)).startswith(str(volume)) else b"/"

    monkeypatch.setattr(plat, "get_dev", device)
    monkeypatch.setattr(plat, "find_mount_point", mount)
    monkeypatch.setattr(trash, "_device", device)
    monkeypatch.setattr(trash, "_mount_point", lambda p: Path(os.fsdecode(mount(p))))
    plan = plan_trash(lib, choices(find_duplicates(lib, "shapes-tiny").groups))
    volume_trash = volume / f".Trash-{os.getuid()}"
    assert plan.trash == str(volume_trash) and len(plan.moves) == 1
    extra = plan.moves[0].path
    result = trash_extras(lib, plan)
    where = volume_trash / "files" / extra.name
    assert result.trashed == [(extra, str(where))] and where.is_file() and not extra.exists()
    info = (volume_trash / "info" / f"{extra.name}.trashinfo").read_text()
    assert "Path=photos/" in info  # relative to the top of its filesystem, as the spec says
    assert not desktop_trash.exists()
    assert lib.store.duplicates.trashed()[0].trash_path == str(where)


def test_raw_files_and_videos_are_checked_on_their_pixels_too(tmp_path):
    """A camera RAW file (read through its embedded preview, as cameras write them) and a JPEG of
    it are the same picture; a video and the same video written again are too (by the middle
    frame); a video of another drawing is not. (A RAW without a preview is demosaiced by LibRaw
    with its own tone curve: about 20 levels from the camera's JPEG, so such a pair stays similar.)"""
    from clipgallery.samples import dng_bytes, write_video

    image = shapes.draw([("green", "triangle")], 777_001, size=(320, 240), background="gradient")
    (tmp_path / "shot.dng").write_bytes(dng_bytes(image, preview=True))
    image.save(tmp_path / "shot.jpg", quality=85)
    raw, jpeg = pixels.fingerprint_file(tmp_path / "shot.dng"), pixels.fingerprint_file(tmp_path / "shot.jpg")
    assert pixels.difference(raw, jpeg) <= pixels.MAX_RMS
    other = shapes.draw([("green", "triangle")], 777_002, size=(320, 240), background="gradient")
    clip = write_video(tmp_path / "clip.mp4", [image, image, image])
    again = write_video(tmp_path / "clip again.avi", [image, image, image])
    different = write_video(tmp_path / "other.mp4", [other, other, other])
    a, b, c = (pixels.fingerprint_file(p) for p in (clip, again, different))
    assert pixels.difference(a, b) <= pixels.MAX_RMS < pixels.difference(a, c)
    assert pixels.difference(a, jpeg) <= pixels.MAX_RMS  # the clip shows the same picture as the photo
