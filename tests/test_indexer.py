"""Indexing end to end: every format and bad file, incremental runs, moves, kills, orientation."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import hash_tree, photo, save_with_orientation
from PIL import Image

from clipgallery.core.images import decode
from clipgallery.core.indexer import index_folder
from clipgallery.core.library import Library


def write_hostile_folder(root: Path) -> tuple[set[str], dict[str, str]]:
    """Good images of every format and mode, odd names and links, and bad files.

    Returns (relpaths of good images, {relpath of bad file: expected words in its reason}).
    """
    good: set[str] = set()
    (root / "2023" / "été à la plage").mkdir(parents=True)
    (root / "nested" / "deeper" / "deepest").mkdir(parents=True)
    (root / ".hidden_folder").mkdir()

    def put(rel: str, im: Image.Image, fmt: str, **kw) -> None:
        im.save(root / rel, fmt, **kw)
        good.add(rel)

    put("plain.jpg", photo(1), "JPEG", quality=90)
    put("UPPER.JPG", photo(2), "JPEG")
    put("2023/été à la plage/ça va #1 (copy).jpeg", photo(3), "JPEG")
    put("2023/emoji 📷 name.png", photo(4), "PNG")
    put("nested/deeper/deepest/spaces   and [brackets].webp", photo(5), "WEBP")
    put("nested/bitmap.bmp", photo(6), "BMP")
    put("nested/deeper/scan.tif", photo(7), "TIFF")
    put("nested/deeper/scan2.TIFF", photo(8), "TIFF", compression="tiff_lzw")
    put("cmyk.jpg", photo(9).convert("CMYK"), "JPEG")
    rgba = photo(10).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    put("alpha.png", rgba, "PNG")
    put("alpha.webp", rgba, "WEBP")
    pal = photo(11).convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    pal.info["transparency"] = 0
    put("palette_transparent.png", pal, "PNG", transparency=0)
    put("grey_alpha.png", photo(12).convert("LA"), "PNG")
    sixteen = Image.fromarray((np.linspace(0, 65535, 320 * 240).reshape(240, 320)).astype(np.uint16))
    put("sixteen_bit.png", sixteen, "PNG")
    frames = [photo(13 + i, (120, 90)) for i in range(3)]
    frames[0].save(root / "animated.gif", "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    good.add("animated.gif")
    save_with_orientation(photo(16), root / "rotated_6.jpg", 6)
    good.add("rotated_6.jpg")
    save_with_orientation(photo(17), root / "rotated_8.png", 8, "PNG")
    good.add("rotated_8.png")

    # Never indexed: hidden entries, other file types, links that loop or dangle.
    photo(20).save(root / ".hidden.jpg", "JPEG")
    photo(21).save(root / ".hidden_folder" / "inside.jpg", "JPEG")
    (root / "notes.txt").write_text("not a photo")
    os.symlink("..", root / "nested" / "loop")  # points back up: must not loop forever
    os.symlink("does-not-exist.jpg", root / "dangling.jpg")

    bad = {
        "empty.jpg": "empty file",
        "text_named.jpg": "not an image",
        "truncated.jpg": "truncated",
        "bomb.png": "too large",
        "corrupt.png": "corrupt",
    }
    (root / "empty.jpg").write_bytes(b"")
    (root / "text_named.jpg").write_text("This is a text file that pretends to be a JPEG.\n" * 20)
    buf = io.BytesIO()
    photo(30, (800, 600)).save(buf, "JPEG", quality=95)
    (root / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    Image.new("1", (20000, 20000)).save(root / "bomb.png", "PNG")  # 400 megapixels, a few kB on disk
    buf = io.BytesIO()
    photo(31).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    idat = data.index(b"IDAT")
    data[idat + 40: idat + 60] = bytes(20)  # damage the compressed pixels (CRC no longer matches)
    (root / "corrupt.png").write_bytes(bytes(data))
    return good, bad


@pytest.fixture
def hostile(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    good, bad = write_hostile_folder(root)
    return root, good, bad


def vector_rows(lib: Library) -> list[tuple]:
    return lib.conn.execute("SELECT file_id, model_id FROM vectors ORDER BY file_id").fetchall()


def test_end_to_end_every_format_and_bad_file(hostile, make_library):
    root, good, bad = hostile
    before = hash_tree(root)
    lib, report = make_library(root)

    indexed = {f.relpath for f in lib.files() if f.status == "ok"}
    assert indexed == good
    assert report.indexed == len(good)
    failed = {str(Path(f.path).relative_to(root)): f.error for f in report.failed}
    assert set(failed) == set(bad)
    for rel, words in bad.items():
        assert words in failed[rel], (rel, failed[rel])
    assert all(Path(f.path).is_absolute() for f in report.failed)
    assert hash_tree(root) == before  # the photo folder is byte-for-byte unchanged
    assert lib.count(lib.model_id("tiny-random")) == len(good)


def test_second_run_touch_rename_delete(hostile, make_library, embedders):
    root, good, bad = hostile
    lib, first = make_library(root)
    emb = embedders("tiny-random")
    ids_before = {f.relpath: f.id for f in lib.files()}

    again = index_folder(lib, emb)
    assert (again.indexed, again.reused, again.removed) == (0, 0, 0)
    assert again.unchanged == len(good)
    assert len(again.failed) == len(bad)  # still reported, still skipped

    # New content in one file: just that one is encoded again.
    photo(99).save(root / "plain.jpg", "JPEG")
    # Same bytes, new mtime: nothing to encode, the new stat is remembered.
    os.utime(root / "UPPER.JPG", ns=(1_000_000_000, 1_000_000_000))
    changed = index_folder(lib, emb)
    assert changed.indexed == 1 and changed.reused == 0
    assert index_folder(lib, emb).unchanged == len(good)

    # Rename: the vector moves with the file (same row, nothing encoded).
    mid = lib.model_id("tiny-random")
    ids, mat = lib.vectors(mid)
    old_vec = mat[list(ids).index(ids_before["nested/bitmap.bmp"])].copy()
    os.rename(root / "nested/bitmap.bmp", root / "2023/renamed bitmap.bmp")
    moved = index_folder(lib, emb)
    assert (moved.indexed, moved.reused, moved.removed) == (0, 1, 0)
    fid = lib.file_ids(["2023/renamed bitmap.bmp"])["2023/renamed bitmap.bmp"]
    assert fid == ids_before["nested/bitmap.bmp"]
    ids, mat = lib.vectors(mid)
    assert np.array_equal(mat[list(ids).index(fid)], old_vec)

    # Delete: the file leaves the library with its vectors.
    (root / "cmyk.jpg").unlink()
    gone = index_folder(lib, emb)
    assert gone.removed == 1 and gone.indexed == 0
    assert lib.file_ids(["cmyk.jpg"]) == {}
    assert_consistent(lib, root)


def test_copy_reuses_vector_and_emptied_folder_keeps_library(tmp_path, make_library, embedders):
    root = tmp_path / "p"
    root.mkdir()
    for i in range(3):
        photo(i).save(root / f"{i}.jpg", "JPEG")
    lib, _ = make_library(root)
    (root / "copy.jpg").write_bytes((root / "0.jpg").read_bytes())
    report = index_folder(lib, embedders("tiny-random"))
    assert (report.indexed, report.reused) == (0, 1)
    ids, mat = lib.vectors(lib.model_id("tiny-random"))
    assert len(ids) == 4
    # A folder that suddenly looks empty (an unmounted drive) must not wipe the library.
    for p in root.iterdir():
        p.rename(tmp_path / p.name)
    assert index_folder(lib, embedders("tiny-random")).removed == 0
    assert lib.count() == 4


def assert_consistent(lib: Library, root: Path) -> None:
    """Every file on disk once, every ok row has one vector per model, no orphans."""
    rows = lib.conn.execute("SELECT relpath, status FROM files").fetchall()
    relpaths = [r[0] for r in rows]
    assert len(relpaths) == len(set(relpaths))
    for rel, _status in rows:
        assert (root / rel).is_file(), rel
    orphans = lib.conn.execute(
        "SELECT COUNT(*) FROM vectors WHERE file_id NOT IN (SELECT id FROM files)").fetchone()[0]
    assert orphans == 0
    missing = lib.conn.execute(
        "SELECT COUNT(*) FROM files f WHERE f.status='ok' AND NOT EXISTS "
        "(SELECT 1 FROM vectors v WHERE v.file_id=f.id)").fetchone()[0]
    assert missing == 0
    assert lib.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow  # runs clipgallery in a subprocess
def test_sigkill_mid_run_then_resume(tmp_path):
    root = tmp_path / "many"
    root.mkdir()
    n = 300
    for i in range(n):
        photo(i, (400, 300)).save(root / f"img_{i:04d}.png", "PNG")
    libdir = tmp_path / "lib"
    cmd = [sys.executable, "-m", "clipgallery.cli", "--library-dir", str(libdir), "index", str(root),
           "--model", "tiny-random", "--batch-size", "4", "--workers", "1", "--json"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    db = libdir / "library.sqlite"
    deadline = time.time() + 120
    committed = 0
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as c:
                    committed = c.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
            except sqlite3.Error:
                committed = 0
            if committed >= 8:
                break
        time.sleep(0.01)
    assert proc.poll() is None, "indexing finished before it could be killed; make the folder larger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lib = Library(root, libdir)
    done_before = lib.count()
    assert 0 < done_before < n
    assert_consistent(lib, root)

    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    import json

    summary = json.loads(out.stdout)
    assert summary["indexed"] == n - done_before  # only what was left
    assert summary["unchanged"] == done_before
    assert lib.count() == n
    assert_consistent(lib, root)


def test_exif_rotated_photo_gives_same_vector_as_upright(tmp_path, embedders, make_library):
    root = tmp_path / "rot"
    root.mkdir()
    upright = photo(42, (320, 200))
    upright.save(root / "upright.png", "PNG")
    save_with_orientation(upright, root / "stored_rotated.png", 6, "PNG")
    upright.save(root / "upright.jpg", "JPEG", quality=95)
    save_with_orientation(upright, root / "stored_rotated_3.jpg", 3, quality=95)
    lib, _ = make_library(root)
    ids, mat = lib.vectors(lib.model_id("tiny-random"))
    vec = {lib.files([i])[0].relpath: v for i, v in zip(ids, mat)}
    np.testing.assert_allclose(vec["upright.png"], vec["stored_rotated.png"], atol=1e-5)
    assert float(vec["upright.jpg"] @ vec["stored_rotated_3.jpg"]) > 0.99
    info = {f.relpath: f for f in lib.files()}
    assert (info["stored_rotated.png"].width, info["stored_rotated.png"].height) == (320, 200)


def test_pipeline_vectors_equal_direct_open_clip_encode(tmp_path, embedders, make_library):
    import torch

    root = tmp_path / "eq"
    root.mkdir()
    for i in range(10):
        photo(100 + i, (640 + 16 * i, 480)).save(root / f"{i}.jpg", "JPEG")
    lib, _ = make_library(root, model="tiny-random", batch_size=4)
    emb = embedders("tiny-random")
    ids, mat = lib.vectors(lib.model_id("tiny-random"))
    model = emb.model
    for fid, vec in zip(ids, mat):
        path = lib.files([int(fid)])[0].path
        image = decode(path, min_side=emb.image_size).image
        with torch.no_grad():
            direct = model.encode_image(emb.preprocess(image).unsqueeze(0))
            direct = torch.nn.functional.normalize(direct, dim=-1)[0].numpy()
        np.testing.assert_allclose(vec, direct, atol=1e-5)


def test_cancel_keeps_committed_batches_and_resume_finishes(tmp_path, embedders):
    import threading

    root = tmp_path / "c"
    root.mkdir()
    for i in range(40):
        photo(i, (64, 48)).save(root / f"{i}.png", "PNG")
    lib = Library(root, tmp_path / "lib")
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p)
        if p.phase == "indexing" and p.done >= 8:
            cancel.set()

    first = index_folder(lib, embedders("tiny-random"), batch_size=4, progress=progress, cancel=cancel)
    assert first.cancelled and 8 <= first.indexed < 40
    assert lib.count() == first.indexed
    assert any(p.rate > 0 and p.eta is not None for p in seen if p.phase == "indexing")
    second = index_folder(lib, embedders("tiny-random"), batch_size=4)
    assert not second.cancelled and second.indexed == 40 - first.indexed
    assert lib.count() == 40


def test_two_models_keep_separate_vectors(tmp_path, embedders):
    root = tmp_path / "m"
    root.mkdir()
    for i in range(4):
        photo(i).save(root / f"{i}.jpg", "JPEG")
    lib = Library(root, tmp_path / "lib")
    index_folder(lib, embedders("tiny-random"))
    shapes = lib.model_id("shapes-tiny", None)
    assert shapes is None
    assert lib.indexed_model() == "tiny-random"
    assert {m[1] for m in lib.models()} == {"tiny-random"}


def test_a_model_loader_is_called_only_when_something_needs_encoding(tmp_path, embedders):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(3):
        photo(40 + i).save(root / f"p{i}.jpg")
    emb = embedders("tiny-random")
    loads = []

    def load():
        loads.append(1)
        return emb

    lib = Library(root, tmp_path / "lib")
    first = index_folder(lib, load, spec=emb.spec)
    assert first.indexed == 3 and len(loads) == 1  # a model new to the library is always loaded
    assert index_folder(lib, load, spec=emb.spec).unchanged == 3 and len(loads) == 1  # up to date: no model
    (root / "p1.jpg").unlink()
    gone = index_folder(lib, load, spec=emb.spec)
    assert gone.removed == 1 and len(loads) == 1  # a deletion needs no model either
    photo(99).save(root / "new.jpg")
    added = index_folder(lib, load, spec=emb.spec)
    assert added.indexed == 1 and len(loads) == 2
    with pytest.raises(ValueError):
        index_folder(lib, load)  # a loader without its spec
    lib.close()


def test_renaming_and_moving_50_photos_never_loads_the_model(tmp_path, embedders):
    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    for i in range(55):
        photo(200 + i, (96, 64)).save(root / "a" / f"p{i}.jpg")
    emb = embedders("tiny-random")
    loads = []

    def load():
        loads.append(1)
        return emb

    lib = Library(root, tmp_path / "lib")
    index_folder(lib, load, spec=emb.spec)
    mid = lib.model_id(emb.spec)
    ids_before, vecs_before = lib.vectors(mid)
    by_name = dict(zip((f.relpath for f in lib.files(list(ids_before))), vecs_before))
    (root / "b").mkdir()
    for i in range(50):  # 25 renamed in place, 25 moved to another folder
        dest = root / "a" / f"renamed{i}.jpg" if i % 2 else root / "b" / f"p{i}.jpg"
        (root / "a" / f"p{i}.jpg").rename(dest)
    report = index_folder(lib, load, spec=emb.spec)
    assert len(loads) == 1  # only the first run loaded the model
    assert report.reused == 50 and report.indexed == 0 and report.removed == 0 and report.unchanged == 5
    ids_after, vecs_after = lib.vectors(mid)
    assert sorted(ids_after.tolist()) == sorted(ids_before.tolist())  # rows moved, not re-created
    moved = {f.relpath: v for f, v in zip(lib.files(list(ids_after)), vecs_after)}
    for i in range(50):
        new = f"a/renamed{i}.jpg" if i % 2 else f"b/p{i}.jpg"
        np.testing.assert_array_equal(moved[new], by_name[f"a/p{i}.jpg"])
    # A renamed copy plus one new photo: now the model is needed, once.
    photo(999, (96, 64)).save(root / "b" / "new.jpg")
    (root / "b" / "p0.jpg").rename(root / "b" / "zero.jpg")
    report = index_folder(lib, load, spec=emb.spec)
    assert len(loads) == 2 and report.indexed == 1 and report.reused == 1
    lib.close()
