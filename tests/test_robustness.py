"""Issue 13: nothing a real folder or a real machine throws at clipgallery may stop it.

Hostile names, hostile files, two writers, full and read-only disks, damaged libraries, bad
queries and label sets, all on real files, real filesystems and real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import hash_tree, photo

LATIN1 = os.fsdecode(b"caf\xe9")  # "café" as an old camera or a zip file writes it: not UTF-8


def cli(*args, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **kw.pop("env", {})}
    return subprocess.run([sys.executable, "-m", "clipgallery.cli", *map(str, args)], capture_output=True,
                          env=env, timeout=kw.pop("timeout", 300), **kw)


def ok_json(out) -> dict:
    """The run succeeded without a traceback and stdout is exactly one valid UTF-8 JSON document."""
    err = out.stderr.decode("utf-8", "replace")
    assert out.returncode == 0, err
    assert "Traceback" not in err
    return json.loads(out.stdout.decode("utf-8"), parse_constant=_no_constants)


def _no_constants(name):
    raise AssertionError(f"{name} is not JSON")


def clean_error(out, *needles: str) -> str:
    """The run failed with exit 1 and one clear line (no traceback) containing every needle."""
    err = out.stderr.decode("utf-8", "replace")
    assert out.returncode == 1, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("clipgallery: error: "), err
    for n in needles:
        assert n in last, last
    return last


# -- 1. names that are not UTF-8 ----------------------------------------------------------------------


@pytest.mark.slow
def test_non_utf8_file_names_are_indexed_shown_searched_and_exported(tmp_path):
    root = tmp_path / "photos"
    (root / LATIN1).mkdir(parents=True)
    photo(1).save(root / f"{LATIN1}.jpg", "JPEG")
    photo(2).save(root / LATIN1 / "inner.png", "PNG")
    photo(3).save(root / "plain.jpg", "JPEG")
    (root / f"broken-{LATIN1}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    before = hash_tree(root)
    lib = tmp_path / "lib"

    data = ok_json(cli("--library-dir", lib, "index", root, "--model", "tiny-random", "--json"))
    assert data["indexed"] == 3
    assert [f["path"] for f in data["failed"]] == [str(root / "broken-caf\ufffd.jpg")]
    again = ok_json(cli("--library-dir", lib, "index", root, "--model", "tiny-random", "--json"))
    assert (again["indexed"], again["unchanged"], again["removed"]) == (0, 3, 0)

    info = ok_json(cli("--library-dir", lib, "info", root, "--json"))
    assert info["photos"] == 3 and len(info["failed"]) == 1

    hits = ok_json(cli("--library-dir", lib, "search", root, "a photo", "--json"))
    assert sorted(Path(h["path"]).name for h in hits) == ["caf\ufffd.jpg", "inner.png", "plain.jpg"]
    text = cli("--library-dir", lib, "search", root, "a photo")
    assert text.returncode == 0 and b"caf\xef\xbf\xbd.jpg" in text.stdout  # U+FFFD, valid UTF-8

    # The library itself keeps the exact bytes: the file found is the file on disk.
    from clipgallery.core.library import Library

    library = Library(root, lib, create=False)
    paths = {f.path for f in library.files()}
    assert root / f"{LATIN1}.jpg" in paths and all(p.exists() for p in paths if "broken" not in p.name)

    dest = tmp_path / "out"
    exported = ok_json(cli("--library-dir", lib, "export", root, "--dest", dest, "--query", "a photo", "--json"))
    names = sorted(p.name for p in dest.rglob("*") if p.is_file() and p.suffix in (".jpg", ".png"))
    assert names == ["caf\ufffd.jpg", "inner.png", "plain.jpg"] and len(exported["written"]) == 3
    manifest = json.loads(Path(exported["manifest"]).read_text("utf-8"))
    assert len(manifest["files"]) == 3
    assert hash_tree(root) == before


def main_cli(capsys, *args) -> tuple[int, str, str]:
    """The CLI in this process (the model loads once per session): exit code, stdout, stderr."""
    from clipgallery.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def test_a_folder_whose_own_path_is_not_utf8_records_its_owner(tmp_path):
    root = tmp_path / f"{LATIN1}-photos"
    root.mkdir()
    photo(1).save(root / "a.jpg", "JPEG")
    other = tmp_path / "other"
    other.mkdir()
    lib = tmp_path / "lib"
    data = ok_json(cli("--library-dir", lib, "index", root, "--model", "tiny-random", "--json"))
    assert data["indexed"] == 1
    clean_error(cli("--library-dir", lib, "index", other, "--model", "tiny-random"), "belongs to the folder")
    assert ok_json(cli("--library-dir", lib, "info", root, "--json"))["folder"] == str(tmp_path / "caf\ufffd-photos")


# -- 3. two writers at once ---------------------------------------------------------------------------

_RACER = r"""
import json, sys, time
from pathlib import Path
from clipgallery.core.embed import Embedder
from clipgallery.core import errors
from clipgallery.core.errors import ClipGalleryError
LibraryBusyError = getattr(errors, "LibraryBusyError", ())  # (so the test can run on older code)
from clipgallery.core.indexer import index_folder
from clipgallery.core.library import Library

me, base, rounds = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
emb = Embedder.load("tiny-random", "cpu")
for i in range(rounds):
    (base / f"ready-{me}-{i}").touch()
    while len(list(base.glob(f"ready-*-{i}"))) < 2:  # both processes start each round together
        time.sleep(0.001)
    try:
        lib = Library(base / "photos", base / f"lib-{i}")
        r = index_folder(lib, emb, batch_size=2, workers=1)
        out = {"round": i, "indexed": r.indexed, "unchanged": r.unchanged, "failed": len(r.failed)}
    except LibraryBusyError as e:
        out = {"round": i, "busy": str(e)}
    except ClipGalleryError as e:
        out = {"round": i, "error": f"{type(e).__name__}: {e}"}
    except Exception as e:
        out = {"round": i, "crash": f"{type(e).__name__}: {e}"}
    print(json.dumps(out), flush=True)
"""


@pytest.mark.slow
def test_two_processes_indexing_one_library_at_once_many_times(tmp_path):
    """Two real processes create and index the same new library at the same instant, 20 times over:
    each round one indexes and the other either finds it done or says the library is busy."""
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(6):
        photo(i).save(root / f"{i}.jpg", "JPEG")
    rounds = 20
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, who, str(tmp_path), str(rounds)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for who in "ab"]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0 and "Traceback" not in err, err
    results = [[json.loads(line) for line in out.splitlines()] for out, _ in outs]
    assert all(len(r) == rounds for r in results)
    busy = 0
    for a, b in zip(*results):
        for r in (a, b):
            assert "crash" not in r and "error" not in r, r
        busy += sum("busy" in r for r in (a, b))
        for r in (a, b):
            if "busy" in r:
                assert "being updated by another process (PID " in r["busy"]
        # Whoever ran, the library holds each photo exactly once, with its vector.
        assert sum(r.get("indexed", 0) for r in (a, b)) == 6
    from clipgallery.core.library import Library

    for i in range(rounds):
        lib = Library(root, tmp_path / f"lib-{i}", create=False)
        assert lib.count() == 6 and lib.count(lib.model_id("tiny-random")) == 6
    print(f"{busy} of {2 * rounds} runs found the library busy")


# -- 2. every read is bounded -------------------------------------------------------------------------


def test_fifo_device_and_huge_files_swapped_in_after_the_scan_cost_nothing(tmp_path, embedders):
    """A FIFO and a link to /dev/zero replace photos between the scan and the read, and 3 GiB sparse
    files pose as JPEGs: the run ends promptly, lists each with a reason, and reads none of them whole."""
    import resource
    import threading

    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library

    root = tmp_path / "photos"
    root.mkdir()
    for name in ("fifo.jpg", "zero.jpg", "good.jpg"):
        photo(len(name)).save(root / name, "JPEG")
    with open(root / "video.jpg", "wb") as f:  # not an image, but named like one
        f.write(b"\x00\x00\x00\x18qt  " + b"x" * 100)
        f.truncate(3 << 30)
    with open(root / "huge.jpg", "wb") as f:  # an image header, but no photo is 3 GiB
        f.write(b"\xff\xd8\xff\xe0")
        f.truncate(3 << 30)

    def swap(p):
        if p.phase == "indexing" and p.done == 0:
            (root / "fifo.jpg").unlink()
            os.mkfifo(root / "fifo.jpg")
            (root / "zero.jpg").unlink()
            (root / "zero.jpg").symlink_to("/dev/zero")

    emb = embedders("tiny-random")
    emb.encode_batch(emb.preprocess(photo(0)).unsqueeze(0))  # the model's own memory is not what is measured
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    lib = Library(root, tmp_path / "lib")
    done = {}
    t = threading.Thread(target=lambda: done.setdefault("r", index_folder(lib, emb, progress=swap)), daemon=True)
    t.start()
    t.join(120)
    assert not t.is_alive(), "indexing hung"
    report = done["r"]
    reasons = {f.path.name: f.error for f in report.failed}
    assert reasons == {"fifo.jpg": "is a pipe (FIFO), not a photo", "zero.jpg": "is a device, not a photo",
                       "video.jpg": "not an image (unrecognised format)",
                       "huge.jpg": "file too large to be a photo (3.0 GiB; the limit is 1 GiB)"}
    assert report.indexed == 1
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown_kib < 512 * 1024, f"peak memory grew by {grown_kib // 1024} MiB"


# -- 4. full and read-only disks ----------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A real 12 MiB tmpfs (tests run as root here and in CI); skipped where mounting is not allowed.
    A new library with its 64 KB pages (store.schema.PAGE_SIZE) takes 3.9 MB before its first photo,
    plus as much again in the WAL while it is created."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill the disk up to `leave` bytes free with a file that can be deleted to make room again."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while leave == 0 or os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize > leave:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass  # full
    finally:
        os.close(fd)
    return filler


def some_photos(root: Path, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        photo(i, (96, 64)).save(root / f"{i:03d}.jpg", "JPEG")
    return root


def test_full_disk_at_creation_and_mid_index_then_resume(tmp_path, small_disk, capsys):
    root = some_photos(tmp_path / "photos", 24)
    before = hash_tree(root)
    lib = small_disk / "lib"
    filler = fill(small_disk)
    code, out, err = main_cli(capsys, "--library-dir", lib, "index", root, "--model", "tiny-random")
    assert code == 1 and "is full: free some space" in err and "damaged" not in err, err

    filler.unlink()  # room for the library's tables, then nothing more
    code, _, err = main_cli(capsys, "--library-dir", lib, "info", root)
    assert code == 1 and "not been indexed yet" in err  # the failed creation left nothing half made
    from clipgallery.core.library import Library

    Library(root, lib).close()
    filler = fill(small_disk, leave=8192)
    code, out, err = main_cli(capsys, "--library-dir", lib, "index", root, "--model", "tiny-random",
                              "--batch-size", "4")
    assert code == 1 and "is full: free some space" in err, err

    filler.unlink()
    code, out, err = main_cli(capsys, "--library-dir", lib, "index", root, "--model", "tiny-random", "--json")
    assert code == 0, err
    again = Library(root, lib, create=False)
    assert again.count() == 24 and again.count(again.model_id("tiny-random")) == 24
    assert hash_tree(root) == before


def test_read_only_library_can_be_searched_and_says_why_it_cannot_be_written(tmp_path, small_disk, capsys):
    root = some_photos(tmp_path / "photos", 6)
    lib = small_disk / "lib"
    code, _, err = main_cli(capsys, "--library-dir", lib, "index", root, "--model", "tiny-random")
    assert code == 0, err
    import gc

    gc.collect()  # the in-process CLI's library connection, so the disk can be remounted
    for p in lib.glob("listing*"):
        p.unlink()  # the app's listing must then come from SQLite, with nowhere to keep it
    r = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

    code, out, err = main_cli(capsys, "--library-dir", lib, "search", root, "a photo", "--json")
    assert code == 0, err
    assert len(json.loads(out)) == 6
    code, out, err = main_cli(capsys, "--library-dir", lib, "info", root, "--json")
    assert code == 0 and json.loads(out)["read_only"] is True
    from clipgallery.core.library import Library

    listed = Library(root, lib, create=False).listing()
    assert listed.source == "sqlite" and len(listed.ids) == 6 and not list(lib.glob("listing*"))
    photo(99, (96, 64)).save(root / "new.jpg", "JPEG")
    code, out, err = main_cli(capsys, "--library-dir", lib, "index", root, "--model", "tiny-random")
    assert code == 1 and "is read-only" in err and "damaged" not in err, err
    code, out, err = main_cli(capsys, "--library-dir", lib, "tag", root)
    assert code == 1 and "is read-only" in err, err
    code, out, err = main_cli(capsys, "--library-dir", small_disk / "new", "index", root, "--model", "tiny-random")
    assert code == 1 and "cannot be written" in err and "--library-dir" in err, err


# -- 5. a damaged library -----------------------------------------------------------------------------


def damage_a_page_of(db: Path, table: str) -> int:
    """Overwrite one leaf page of `table` in the library file with garbage, as a bad disk sector would."""
    import random
    import sqlite3

    c = sqlite3.connect(db)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = [r[0] for r in c.execute("SELECT pageno FROM dbstat WHERE name=? AND pagetype='leaf' ORDER BY pageno",
                                     (table,))]
    size = c.execute("PRAGMA page_size").fetchone()[0]
    c.close()
    assert len(pages) >= 3, pages
    page = pages[len(pages) // 2]
    with open(db, "r+b") as f:
        f.seek((page - 1) * size)
        f.write(random.Random(page).randbytes(size))
    return page


def test_damaged_vectors_page_is_reported_and_repair_keeps_the_rest(tmp_path, embedders, capsys, monkeypatch):
    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library
    from clipgallery.core.store import schema

    # 4 KB pages, as every library written before the 64 KB ones: 60 small vectors then span
    # several pages, so one bad page loses some of them and not all.
    monkeypatch.setattr(schema, "PAGE_SIZE", 4096)

    root = some_photos(tmp_path / "photos", 60)
    before = hash_tree(root)
    lib_dir = tmp_path / "lib"
    lib = Library(root, lib_dir)
    assert index_folder(lib, embedders("tiny-random")).indexed == 60
    lib.close()
    damage_a_page_of(lib_dir / "library.sqlite", "vectors")

    for args in (["search", root, "a photo"], ["duplicates", root],
                 ["index", root, "--model", "tiny-random"]):
        code, out, err = main_cli(capsys, "--library-dir", lib_dir, *args)
        assert code == 1, (args, err)
        assert "is damaged" in err and f"clipgallery repair {root}" in err, (args, err)

    code, out, err = main_cli(capsys, "--library-dir", lib_dir, "repair", root, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["was_damaged"] and report["kept"]["files"] == 60 and report["lost"]["vectors"] > 0
    assert 0 < report["kept"]["vectors"] < 60
    assert Path(report["damaged_copy"]).exists()  # nothing is thrown away

    code, out, err = main_cli(capsys, "--library-dir", lib_dir, "index", root, "--model", "tiny-random", "--json")
    assert code == 0, err
    assert json.loads(out)["indexed"] == 60 - report["kept"]["vectors"]
    code, out, err = main_cli(capsys, "--library-dir", lib_dir, "search", root, "a photo", "-k", "100", "--json")
    assert code == 0 and len(json.loads(out)) == 60
    code, out, err = main_cli(capsys, "--library-dir", lib_dir, "repair", root)
    assert code == 0 and "not damaged" in out
    assert hash_tree(root) == before


# -- 6. everything skipped is accounted for -----------------------------------------------------------


def test_unreadable_folder_unsupported_format_and_emptied_folder_are_reported(tmp_path, capsys):
    import shutil

    from clipgallery.core.images import heif_available

    root = some_photos(tmp_path / "photos", 3)
    some_photos(root / "locked", 2)
    lib = tmp_path / "lib"
    code, out, err = main_cli(capsys, "--library-dir", lib, "index", root, "--model", "tiny-random", "--json")
    assert code == 0 and json.loads(out)["indexed"] == 5, err
    if not heif_available():
        (root / "phone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64)

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to make a folder unreadable for root")
    (root / "locked").chmod(0)
    try:  # root reads any folder: this run gives up the capabilities that allow it
        out = subprocess.run(
            [setpriv, "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-m", "clipgallery.cli",
             "--library-dir", str(lib), "index", str(root), "--model", "tiny-random", "--json"],
            capture_output=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, timeout=300)
    finally:
        (root / "locked").chmod(0o755)
    data = ok_json(out)
    assert data["skipped_folders"] == [str(root / "locked")]
    assert data["removed"] == 0  # its photos are kept, not taken for deleted
    if not heif_available():
        assert data["unsupported"] == {".heic": 1}
    code, out, err = main_cli(capsys, "--library-dir", lib, "info", root, "--json")
    info = json.loads(out)
    assert info["photos"] == 5 and info["skipped_folders"] == [str(root / "locked")]
    code, out, err = main_cli(capsys, "--library-dir", lib, "info", root)
    assert f"skipped: {root / 'locked'} (folder cannot be read)" in out

    # A folder that looks emptied (an unmounted drive) keeps the library, and says so.
    stash = tmp_path / "stash"
    stash.mkdir()
    for p in list(root.iterdir()):
        p.rename(stash / p.name)
    code, out, err = main_cli(capsys, "--library-dir", lib, "index", root, "--model", "tiny-random")
    assert code == 0 and "the 5 photos of the library were kept" in out, out


# -- 7. output is valid, messages say what is wrong ---------------------------------------------------


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """A small indexed folder shared by the message tests (they only read it)."""
    from clipgallery.core.embed import Embedder
    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library

    base = tmp_path_factory.mktemp("indexed")
    root = some_photos(base / "photos", 4)
    lib = Library(root, base / "lib")
    index_folder(lib, Embedder.load("tiny-random", "cpu"))
    lib.close()
    return root, base / "lib"


def test_overflowing_query_weight_is_a_clear_error_not_nan(indexed, capsys):
    root, lib = indexed
    code, out, err = main_cli(capsys, "--library-dir", lib, "search", root, "9" * 400 + ":red", "--json")
    assert code == 1 and out == "" and "weight" in err and "too large" in err, err
    code, out, err = main_cli(capsys, "--library-dir", lib, "search", root, "1000:red", "-999:blue", "--json")
    assert code == 0, err
    assert all(isinstance(h["score"], float) for h in json.loads(out, parse_constant=_no_constants))


def test_hostile_label_set_example_and_box_get_one_clear_line(indexed, tmp_path, capsys):
    root, lib = indexed
    nested = tmp_path / "nested.json"
    nested.write_text('{"name": "x", "labels": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, out, err = main_cli(capsys, "--library-dir", lib, "tag", root, "--labels", nested)
    assert code == 1 and "nested too deeply" in err, err

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    code, out, err = main_cli(capsys, "--library-dir", lib, "similar", root, fifo)
    assert code == 1 and "is a pipe (FIFO)" in err and "folder" not in err, err

    text = tmp_path / "notes.jpg"
    text.write_text("shopping list")
    code, out, err = main_cli(capsys, "--library-dir", lib, "teach", root, "cats",
                              "--examples", root / "000.jpg", text)
    assert code == 1 and f"{text}: not an image" in err, err

    code, out, err = main_cli(capsys, "--library-dir", lib, "similar", root, root / "000.jpg", "--regional",
                              "--box", "-0.5,0,1,1")
    assert code == 2 and "between 0 and 1" in err and "expected one argument" not in err, err


def test_local_model_folder_is_not_told_to_go_online(tmp_path):
    from clipgallery.core.errors import ModelLoadError
    from clipgallery.core.models import load_model

    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text('{"model_cfg": {}}')
    with pytest.raises(ModelLoadError) as e:
        load_model(str(folder))
    assert "internet" not in str(e.value) and str(folder) in str(e.value)


def test_eval_writes_beside_nothing_it_does_not_own_and_never_overwrites_a_chart(tmp_path, capsys, monkeypatch):
    from clipgallery.shapes import CLASSES, draw

    ds = tmp_path / "ds"
    for k, (colour, shape) in enumerate(CLASSES[:3]):
        (ds / f"{colour}_{shape}").mkdir(parents=True)
        for i in range(3):
            draw([(colour, shape)], 1000 * k + i).save(ds / f"{colour}_{shape}" / f"{i}.png")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(ds)  # the current folder may be the photos: nothing goes there
    before = hash_tree(ds)
    plots = tmp_path / "plots"
    for _ in range(2):
        code, out, err = main_cli(capsys, "eval", "typographic", ds, "--model", "tiny-random", "--plots", plots,
                                  "--json")
        assert code == 0, err
    assert hash_tree(ds) == before
    assert sorted(p.name for p in plots.iterdir()) == ["typographic (2).png", "typographic.png"]
    reports = sorted(p.name for p in (tmp_path / "data" / "clipgallery" / "reports").iterdir())
    assert reports == ["eval-typographic-ds (2).md", "eval-typographic-ds.md"]
    code, out, err = main_cli(capsys, "eval", "typographic", ds, "--model", "tiny-random", "--plots",
                              plots / "typographic.png")
    assert code == 1 and "--plots takes a folder" in err, err


# -- fuzz: damaged real files under random byte names -------------------------------------------------


def _mutate(data: bytes, rng) -> bytes:
    """One of the ways real files get damaged: flipped bytes, a cut, garbage spliced in, a zeroed run."""
    b = bytearray(data)
    kind = rng.randrange(6)
    if kind == 0:  # flipped bytes, most often in the header where parsers branch
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(min(len(b), 256)) if rng.random() < 0.7 else rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # cut short (an interrupted copy)
        del b[rng.randrange(1, len(b)):]
    elif kind == 2:  # garbage spliced in
        i = rng.randrange(len(b))
        b[i:i] = rng.randbytes(rng.randint(1, 512))
    elif kind == 3:  # a zeroed run (a bad sector)
        i = rng.randrange(len(b))
        b[i:i + rng.randint(1, 4096)] = bytes(min(4096, len(b) - i))
    elif kind == 4:  # two files glued together
        b += data[: rng.randrange(len(data))]
    return bytes(b)  # kind 5: intact


def _random_name(rng, ext: str, taken: set[bytes]) -> bytes:
    alphabet = bytes(x for x in range(1, 256) if x not in (0x2F,))  # anything but NUL and "/"
    while True:
        stem = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 30))).lstrip(b".") or b"x"
        name = stem + ext.encode()
        if name.lower() not in taken:
            taken.add(name.lower())
            return name


def test_fuzz_damaged_files_with_random_byte_names(tmp_path, embedders):
    """Seeded: real JPEG/PNG/TIFF/WebP (and HEIC when pillow-heif is here) bytes, damaged at random, under
    random byte names. No exception escapes, each file is indexed or listed as failed, none is changed."""
    import io
    import random

    from clipgallery.core.images import heif_available
    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library

    seed = int(os.environ.get("CLIPGALLERY_FUZZ_SEED", "13"))
    count = int(os.environ.get("CLIPGALLERY_FUZZ_FILES", "48"))
    rng = random.Random(seed)
    formats = [("JPEG", ".jpg", {}), ("PNG", ".png", {}), ("TIFF", ".tif", {}), ("WEBP", ".webp", {})]
    if heif_available():
        formats.append(("HEIF", ".heic", {}))
    originals = []
    for i, (fmt, ext, kw) in enumerate(formats):
        buf = io.BytesIO()
        photo(i, (80, 60)).save(buf, fmt, **kw)
        originals.append((ext, buf.getvalue()))
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    taken: set[bytes] = set()
    written = []
    for i in range(count):
        ext, data = rng.choice(originals)
        folder = os.fsencode(root / ("sub" if i % 3 else ""))
        path = os.path.join(folder, _random_name(rng, ext, taken))
        with open(path, "wb") as f:
            f.write(_mutate(data, rng))
        written.append(os.fsdecode(os.path.relpath(path, os.fsencode(root))))
    before = hash_tree(root)

    lib = Library(root, tmp_path / "lib")
    report = index_folder(lib, embedders("tiny-random"), batch_size=8)
    failed = {str(f.path.relative_to(root)) for f in report.failed}
    files = lib.files()
    ok = {f.relpath for f in files if f.status == "ok"}
    assert ok | failed == set(written) and not ok & failed
    assert report.indexed + report.reused == len(ok)
    assert lib.count(lib.model_id("tiny-random")) == len(ok)
    assert all(f.error for f in files if f.status == "failed")
    again = index_folder(lib, embedders("tiny-random"), batch_size=8)
    assert again.unchanged == len(ok) and len(again.failed) == len(failed)
    assert hash_tree(root) == before


def test_index_says_who_holds_the_library_or_waits_for_it(indexed, capsys):
    import threading

    from clipgallery.core.lock import WriterLock

    root, lib = indexed
    held = WriterLock(lib).acquire()
    try:
        code, out, err = main_cli(capsys, "--library-dir", lib, "index", root, "--model", "tiny-random")
        assert code == 1 and f"being updated by another process (PID {os.getpid()})" in err, err
        threading.Timer(0.5, held.release).start()
        code, out, err = main_cli(capsys, "--library-dir", lib, "index", root, "--model", "tiny-random",
                                  "--wait", "30", "--json")
        assert code == 0 and json.loads(out)["unchanged"] == 4, err
    finally:
        held.release()


def test_stored_names_round_trip_every_byte_and_leave_utf8_alone():
    from clipgallery.core.names import from_db, shown, to_db

    for b in range(0x80, 0x100):
        name = os.fsdecode(b"dir/x" + bytes([b]) + b"\xc3\xa9.jpg")  # an odd byte beside a real "é"
        stored = to_db(name)
        stored.encode("utf-8")  # SQLite takes it
        assert from_db(stored) == name and os.fsencode(from_db(stored)) == b"dir/x" + bytes([b]) + b"\xc3\xa9.jpg"
        shown(name).encode("utf-8")
    for name in ("plain.jpg", "été/日本.png", "back\\slash %41.jpg"):
        assert to_db(name) == name == from_db(name) == shown(name)


# -- the formats beyond Pillow's own pass the header check; a video has no size cap ------------------


@pytest.mark.parametrize("head", [
    b"II*\x00\x08\x00\x00\x00", b"MM\x00*\x00\x00\x00\x08",  # TIFF-based RAW (DNG, CR2, NEF, ARW...)
    b"IIRO\x08\x00\x00\x00", b"IIU\x00\x08\x00\x00\x00",  # Olympus ORF, Panasonic RW2
    b"FUJIFILMCCD-RAW 0201", b"FOVb\x00\x00\x00\x00",  # Fujifilm RAF, Sigma X3F
    b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01", b"\x00\x00\x00\x18ftypheic", b"\x00\x00\x00\x1cftypavif",
    b"\x00\x00\x00\x18ftypisom", b"\x00\x00\x00\x14ftypqt  ",  # CR3, HEIC, AVIF, MP4, MOV
    b"\x00\x00\x00\x08wide\x00\x00\x00\x00", b"\x00\x00\x12\x34moov", b"\x00\x00\x00\x08mdat",
    b"\x00\x00\x00\x08free",  # QuickTime files that start without ftyp
    b"RIFF\x00\x10\x00\x00AVI LIST", b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", b"\x47\x40\x00\x10\x00",  # AVI, MKV, TS
    b"\xff\x0a\xfa\x7f", b"\x00\x00\x00\x0cJXL \r\n\x87\n", b"\x00\x00\x00\x0cjP  \r\n\x87\n",  # JPEG XL, JP2
])
def test_the_header_check_admits_raw_video_and_newer_image_formats(tmp_path, head):
    from clipgallery.core.images import open_regular, sniff

    assert sniff(head)
    p = tmp_path / "file.bin"
    p.write_bytes(head + b"\x00" * 200)
    assert open_regular(p) == head + b"\x00" * 200


def test_a_video_streams_past_the_photo_cap_and_a_fifo_still_cannot_block_it(tmp_path):
    import threading

    from clipgallery.core.errors import ImageError
    from clipgallery.core.images import MAX_FILE_BYTES, open_regular, open_stream

    video = tmp_path / "clip.mkv"
    with open(video, "wb") as f:  # sparse: 2 GiB on the disk's books, nothing written
        f.write(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81")
        f.truncate(2 << 30)
    with pytest.raises(ImageError, match="too large to be a photo"):
        open_regular(video)  # read whole, it would be a photo: capped
    with open_stream(video) as f:
        assert f.read(4) == b"\x1a\x45\xdf\xa3"
        f.seek(MAX_FILE_BYTES + 10)  # beyond the photo cap: a video is read where its decoder seeks
        assert f.read(16) == b"\x00" * 16
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all, just words\n" * 10)
    with pytest.raises(ImageError, match=r"not a video \(it is a text file\)"):
        open_stream(text)
    fifo = tmp_path / "pipe.mov"
    os.mkfifo(fifo)
    out = {}

    def try_open():
        try:
            open_stream(fifo)
        except ImageError as e:
            out["reason"] = e.reason

    t = threading.Thread(target=try_open, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "opening a FIFO blocked"
    assert out["reason"] == "is a pipe (FIFO), not a photo"


def test_the_scan_counts_raw_and_video_files_no_installed_decoder_reads(tmp_path):
    from clipgallery.core.scan import BASE_EXTENSIONS, walk

    root = some_photos(tmp_path / "photos", 2)
    for name in ("IMG_1.DNG", "IMG_2.dng", "clip.MP4", "film.mkv", "notes.txt"):
        (root / name).write_bytes(b"x")
    unsupported: dict[str, int] = {}
    found = list(walk(root, extensions=BASE_EXTENSIONS, unsupported=unsupported))  # as without rawpy and PyAV
    assert len(found) == 2
    assert unsupported == {".dng": 2, ".mp4": 1, ".mkv": 1}


def test_a_raw_beside_its_jpeg_under_a_non_utf8_name_is_paired_and_shown(tmp_path, embedders):
    """RAW+JPEG pairs store relpaths too: an old camera's name must not stop the run there either."""
    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library

    root = tmp_path / "photos"
    root.mkdir()
    jpeg = os.fsdecode(os.fsencode(root) + b"/caf\xe9.jpg")
    photo(3).save(jpeg, "JPEG")
    with open(os.fsdecode(os.fsencode(root) + b"/caf\xe9.dng"), "wb") as f:
        f.write(b"II*\x00" + b"\x00" * 60)  # paired by name: never decoded while its JPEG reads
    lib = Library(root, tmp_path / "lib")
    report = index_folder(lib, embedders("tiny-random"))
    assert report.indexed == 1 and not report.failed
    rel = os.fsdecode(b"caf\xe9.jpg")
    assert lib.media.raws_of([rel]) == {rel: [os.fsdecode(b"caf\xe9.dng")]}
    again = index_folder(lib, embedders("tiny-random"))
    assert again.unchanged == 1 and again.indexed == 0
