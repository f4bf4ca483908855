"""People: faces found in the shared real photos, grouped, named, searched, kept across moves and runs."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from clipgallery.core import faces as fc
from clipgallery.core.errors import LibraryError, QueryError
from clipgallery.core.library import Library

pytest.importorskip("dlib", reason="the faces extra (dlib-bin, face-recognition-models) is not installed")
FACES = next((d / "shared" / "testdata" / "faces" for d in Path(__file__).resolve().parents
              if (d / "shared" / "testdata" / "faces").is_dir()),
             Path(__file__).resolve().parents[2] / "shared" / "testdata" / "faces")
if not FACES.is_dir():
    pytest.skip(f"the shared face photos are not at {FACES}", allow_module_level=True)
if not fc.available():
    pytest.skip("face-recognition-models is not installed", allow_module_level=True)

OBAMA = ["obama3.jpg", "obama_partial_face.jpg", "obama-480p.jpg", "obama_small.jpg", "two_people.jpg"]
BIDEN = ["biden.jpg", "two_people.jpg"]  # the other face of two_people.jpg is Joe Biden's


def _folder(root: Path) -> Path:
    from clipgallery.shapes import write_folder

    root.mkdir()
    for p in FACES.iterdir():
        if p.suffix.lower() in (".jpg", ".png"):
            shutil.copy(p, root / p.name)
    write_folder(root / "shapes", per_class=1, seed=77, classes=[("red", "circle"), ("blue", "square"),
                                                                  ("green", "triangle"), ("yellow", "star")])
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory, embedders):
    """The shared photos plus drawn shapes, CLIP-indexed with tiny-random, then the face pass: the
    library is copied for each test that changes it."""
    from clipgallery.core.indexer import index_folder

    base = tmp_path_factory.mktemp("faces")
    root = _folder(base / "photos")
    lib = Library(root, base / "lib")
    index_folder(lib, embedders("tiny-random"))
    lib.faces.set_enabled(True)
    report = fc.index_faces(lib, batch_size=3)
    lib.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    lib.close()
    return root, base / "lib", report


@pytest.fixture
def lib(built, tmp_path):
    root, libdir, _ = built
    shutil.copytree(libdir, tmp_path / "lib")
    library = Library(root, tmp_path / "lib")
    yield library
    library.close()


def _names(paths) -> set[str]:
    return {Path(p).name for p in paths}


def _person_with(store: fc.FaceStore, name: str) -> fc.Person:
    """The person holding the one face of the single-person photo `name`."""
    return next(p for p in store.people(min_faces=1) if name in _names(p.paths))


def test_people_match_who_is_in_the_photos(built, lib):
    _, _, report = built
    assert not report.failed and report.photos == 7 + 4
    store = lib.faces
    people = store.people()  # two faces or more
    assert sorted(sorted(_names(p.paths)) for p in people) == [sorted(BIDEN), sorted(OBAMA)]
    obama, biden = _person_with(store, "obama3.jpg"), _person_with(store, "biden.jpg")
    assert obama.id != biden.id
    two = [f for f in store.faces() if f.path.name == "two_people.jpg"]
    assert {f.person_id for f in two} == {obama.id, biden.id}  # one face in each
    miranda = _person_with(store, "lin-manuel-miranda.png")
    assert miranda.id not in (obama.id, biden.id) and len(miranda.faces) == 1
    # Drawn shapes: searched (recorded with zero faces, never retried) and in nobody.
    scans = dict(lib.conn.execute("SELECT f.relpath, s.faces FROM face_scans s JOIN files f ON f.id = s.file_id"))
    assert len(scans) == 11 and all(n == 0 for rel, n in scans.items() if rel.startswith("shapes/"))
    assert not any(f.path.parent.name == "shapes" for f in store.faces())
    assert fc.index_faces(lib).photos == 0
    # Boxes are in the original's pixels: obama_small.jpg (320x240) holds its face in the middle.
    (small,) = [f for f in store.faces() if f.path.name == "obama_small.jpg"]
    left, top, right, bottom = small.box
    assert 60 < left < 160 and 30 < top < 120 and 60 < right - left < 160
    assert obama.cover is not None and obama.cover.path.name in OBAMA


def test_person_query_restricts_to_their_photos(lib, embedders):
    from clipgallery.core.query import Searcher, parse_query

    store = lib.faces
    store.rename(_person_with(store, "obama3.jpg").id, "Barack  Obama")
    store.rename(_person_with(store, "biden.jpg").id, "Joe")
    searcher = Searcher(lib, embedders("tiny-random"))
    assert parse_query('person:"Barack Obama" beach -night').people == ("Barack Obama",)
    hits = searcher.search('person:"barack obama" beach -night', k=50)
    assert _names(h.path for h in hits) == set(OBAMA)
    assert _names(h.path for h in searcher.search("person:Joe", k=50)) == set(BIDEN)
    both = searcher.search('person:Joe person:"Barack Obama" red', k=50)
    assert _names(h.path for h in both) == {"two_people.jpg"}
    without = searcher.search('red -person:Joe', k=50)
    assert "biden.jpg" not in _names(h.path for h in without) and "obama3.jpg" in _names(h.path for h in without)
    with pytest.raises(QueryError, match="no person named 'Anna'.*Barack Obama, Joe"):
        searcher.search("person:Anna beach")
    with pytest.raises(QueryError, match="person:NAME"):
        parse_query("person: beach")


def test_person_option_narrows_search_and_similar(lib, embedders):
    from clipgallery.core.search import Searcher, SearchOptions

    store = lib.faces
    store.rename(_person_with(store, "obama3.jpg").id, "Barack Obama")
    searcher = Searcher(lib, embedders("tiny-random"))
    options = SearchOptions(k=50, person="barack obama")
    assert _names(h.path for h in searcher.search("beach", options)) == set(OBAMA)
    assert _names(h.path for h in searcher.similar(lib.root / "biden.jpg", options)) == set(OBAMA)
    # With other filters: the person's photos among the restricted ones only.
    two = lib.file_ids(["two_people.jpg", "biden.jpg"])
    both = searcher.search("beach", options, restrict=frozenset(two.values()))
    assert _names(h.path for h in both) == {"two_people.jpg"}
    with pytest.raises(QueryError, match="no person named 'Anna'"):
        searcher.search("beach", SearchOptions(person="Anna"))


def test_rename_merge_and_not_this_person_persist(lib, built):
    store = lib.faces
    obama, biden = _person_with(store, "obama3.jpg"), _person_with(store, "biden.jpg")
    miranda = _person_with(store, "lin-manuel-miranda.png")
    store.rename(obama.id, "Barack")
    with pytest.raises(LibraryError, match="already called 'Barack'"):
        store.rename(biden.id, "barack")
    store.merge(biden.id, miranda.id)  # the user says they are one person
    (wrong,) = [f for f in obama.faces if f.path.name == "obama_partial_face.jpg"]
    moved_to = store.move_out(wrong.id)  # "not this person"
    store.hide(moved_to)
    lib.close()

    again = Library(built[0], lib.dir)
    try:
        fc.recluster(again)  # a re-cluster keeps what the user said
        store = again.faces
        named = store.person(store.find("barack"))
        assert _names(named.paths) == set(OBAMA) - {"obama_partial_face.jpg"}
        merged = store.person(biden.id)
        assert _names(merged.paths) == {"biden.jpg", "two_people.jpg", "lin-manuel-miranda.png"}
        assert store.face(wrong.id).person_id == moved_to and store.person(moved_to).hidden
        assert moved_to not in {p.id for p in store.people(min_faces=1)}  # hidden
        assert moved_to in {p.id for p in store.people(min_faces=1, hidden=True)}
        with pytest.raises(LibraryError, match="no person 12345"):
            store.merge(12345, named.id)
    finally:
        again.close()


def test_move_keeps_faces_and_changed_content_is_searched_again(lib, tmp_path, embedders):
    from clipgallery.core.indexer import index_folder

    root = _folder(tmp_path / "mine")
    mine = Library(root, tmp_path / "mine-lib")
    try:
        mine.faces.set_enabled(True)
        index_folder(mine, embedders("tiny-random"))
        first = fc.index_faces(mine)
        assert first.photos == 11 and first.faces == 8
        store = mine.faces
        before = {f.id: f.box for f in store.faces() if f.path.name == "obama3.jpg"}
        (root / "moved").mkdir()
        (root / "obama3.jpg").rename(root / "moved" / "obama3.jpg")
        report = index_folder(mine, embedders("tiny-random"))
        assert report.reused == 1 and report.indexed == 0
        assert fc.index_faces(mine).photos == 0  # the file row moved with its faces
        after = {f.id: f.box for f in store.faces() if f.path.name == "obama3.jpg"}
        assert after == before
        assert {f.path for f in store.faces() if f.id in after} == {root / "moved" / "obama3.jpg"}
        assert _names(_person_with(store, "obama-480p.jpg").paths) >= {"obama3.jpg"}
        # A copy is in the same people at once, without a search.
        shutil.copy(root / "two_people.jpg", root / "moved" / "copy.jpg")
        assert index_folder(mine, embedders("tiny-random")).reused == 1
        assert fc.index_faces(mine).photos == 0
        copied = {f.person_id for f in store.faces() if f.path.name == "copy.jpg"}
        assert copied == {f.person_id for f in store.faces() if f.path.name == "two_people.jpg"} and len(copied) == 2
        # New content at a path: its old faces go, the pass searches it again.
        from PIL import Image

        Image.open(root / "biden.jpg").save(root / "obama_small.jpg", "JPEG", quality=85)  # new bytes
        index_folder(mine, embedders("tiny-random"))
        again = fc.index_faces(mine)
        assert again.photos == 1 and again.faces == 1
        assert "obama_small.jpg" in _names(_person_with(store, "biden.jpg").paths)
    finally:
        mine.close()


def test_pass_is_resumable_and_can_be_turned_off(tmp_path, embedders):
    from clipgallery.core.indexer import index_folder

    root = tmp_path / "few"
    root.mkdir()
    for name in ("obama3.jpg", "obama-480p.jpg", "biden.jpg", "obama_small.jpg"):
        shutil.copy(FACES / name, root / name)
    lib = Library(root, tmp_path / "few-lib")
    try:
        index_folder(lib, embedders("tiny-random"))
        store = lib.faces
        store.set_enabled(True)
        cancel = threading.Event()
        seen = []

        def progress(p):
            seen.append((p.phase, p.done, p.total))
            if p.phase == "faces" and p.done >= 2:
                cancel.set()  # as if killed after the first committed batch

        first = fc.index_faces(lib, progress=progress, cancel=cancel, batch_size=2, workers=1)
        assert first.cancelled and first.photos == 2 and store.scanned_count() == 2
        assert ("faces", 0, 4) in seen
        rest = fc.index_faces(lib, batch_size=2)
        assert rest.photos == 2 and store.scanned_count() == 4
        assert len(store.people()) == 1  # the three Obama photos; Biden once
        store.set_enabled(False)
        counts = [lib.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("faces", "people", "face_scans")]
        assert counts == [0, 0, 0] and not store.enabled
        db = sqlite3.connect(lib.db_path)
        assert db.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 0  # committed, seen by others
        db.close()
    finally:
        lib.close()


@pytest.mark.slow
def test_cli_index_faces_people_search_export_and_no_faces(tmp_path):
    from test_cli import run

    root = tmp_path / "photos"
    root.mkdir()
    for name in ("obama3.jpg", "obama-480p.jpg", "biden.jpg", "two_people.jpg", "lin-manuel-miranda.png"):
        shutil.copy(FACES / name, root / name)
    lib = ["--library-dir", str(tmp_path / "lib")]
    first = run(*lib, "index", str(root), "--model", "tiny-random", "--json")
    assert first.returncode == 0 and "faces" not in json.loads(first.stdout)
    off = run(*lib, "people", str(root), "--json")
    assert off.returncode == 1 and "index" in off.stderr and "--faces" in off.stderr
    out = run(*lib, "index", str(root), "--model", "tiny-random", "--faces", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["indexed"] == 0 and data["unchanged"] == 5  # CLIP vectors are not encoded again
    assert data["faces"]["photos"] == 5 and data["faces"]["faces"] == 6 and data["faces"]["people"] == 2

    listed = json.loads(run(*lib, "people", str(root), "--json").stdout)
    assert [set(p) >= {"person", "name", "cover", "photos", "faces"} for p in listed] == [True, True]
    obama = next(p for p in listed if str(root / "obama3.jpg") in p["photos"])
    assert obama["faces"] == 3 and obama["name"] is None and obama["cover"] in obama["photos"]
    everyone = json.loads(run(*lib, "people", str(root), "--json", "--all").stdout)
    assert len(everyone) == 3  # Miranda, once

    named = run(*lib, "people", str(root), "--name", str(obama["person"]), "Barack Obama", "--json")
    assert named.returncode == 0 and json.loads(named.stdout)[0]["name"] == "Barack Obama"
    found = run(*lib, "search", str(root), "face", "--person", "Barack Obama", "--json")
    assert found.returncode == 0, found.stderr
    assert {h["path"] for h in json.loads(found.stdout)} == set(obama["photos"])
    by_term = run(*lib, "search", str(root), 'person:"Barack Obama"', "-night", "--json")
    assert {h["path"] for h in json.loads(by_term.stdout)} == set(obama["photos"])
    unknown = run(*lib, "search", str(root), "beach", "--person", "Anna")
    assert unknown.returncode == 1 and "no person named 'Anna'" in unknown.stderr and "Traceback" not in unknown.stderr
    similar = run(*lib, "similar", str(root), str(root / "biden.jpg"), "--person", "Barack Obama", "--json")
    assert {h["path"] for h in json.loads(similar.stdout)} == set(obama["photos"])
    exported = run(*lib, "export", str(root), "--dest", str(tmp_path / "out"), "--person", "barack obama", "--json")
    assert exported.returncode == 0, exported.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "Barack Obama").iterdir()) == sorted(
        Path(p).name for p in obama["photos"])

    face = obama["face_list"][-1]["face"]
    moved = run(*lib, "people", str(root), "--not", str(face), "--json", "--all")
    assert moved.returncode == 0
    assert len(next(p for p in json.loads(moved.stdout) if p["person"] == obama["person"])["photos"]) == 2

    gone = run(*lib, "index", str(root), "--model", "tiny-random", "--no-faces", "--json")
    assert gone.returncode == 0 and "faces" not in json.loads(gone.stdout)
    db = sqlite3.connect(tmp_path / "lib" / "library.sqlite")
    assert [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("faces", "people", "face_scans")] == [0, 0, 0]
    db.close()
    assert run(*lib, "people", str(root)).returncode == 1


def _paste_face(src: Path, box: tuple[int, int, int, int], side: int, canvas: tuple[int, int], dest: Path,
                at: tuple[int, int]) -> tuple[float, float, float, float]:
    """src's face (box) scaled to a box `side` px wide, with its surroundings, pasted at `at` on a
    plain grey-brown canvas saved as JPEG; returns the face's box in the canvas."""
    from PIL import Image

    im = Image.open(src).convert("RGB")
    left, top, right, bottom = box
    m = right - left
    crop = (max(0, left - m), max(0, top - m), min(im.width, right + m), min(im.height, bottom + m))
    k = side / m
    piece = im.crop(crop)
    piece = piece.resize((round(piece.width * k), round(piece.height * k)), Image.Resampling.LANCZOS)
    out = Image.new("RGB", canvas, (120, 110, 100))
    out.paste(piece, at)
    out.save(dest, "JPEG", quality=92)
    x, y = at[0] + (left - crop[0]) * k, at[1] + (top - crop[1]) * k
    return x, y, x + side, y + (bottom - top) * k


@pytest.mark.slow
def test_worker_processes_find_the_same_faces_and_the_smallest_in_a_large_photo(built, tmp_path, embedders,
                                                                             monkeypatch):
    from clipgallery.core import face_detect
    from clipgallery.core.indexer import index_folder

    root, libdir, _ = built
    done_in_threads = Library(root, libdir)
    expected = sorted((f.path.name, f.box) for f in done_in_threads.faces.faces())
    (obama3,) = [f for f in done_in_threads.faces.faces() if f.path.name == "obama3.jpg"]
    done_in_threads.close()
    photos = tmp_path / "photos"
    shutil.copytree(root, photos)
    # a face of the smallest size looked for (64 px) in a 12 MP photo: at 0.8x it would be missed
    side = fc.MIN_FACE_PX
    truth = _paste_face(FACES / "obama3.jpg", obama3.box, side, (4000, 3000), photos / "far.jpg", (2500, 1200))
    lib = Library(photos, tmp_path / "lib")
    try:
        index_folder(lib, embedders("tiny-random"))
        lib.faces.set_enabled(True)

        def no_models_here():
            raise AssertionError("the faces were searched in this process, not in the workers")

        monkeypatch.setattr(face_detect.Models, "get", no_models_here)
        report = fc.index_faces(lib, workers=2, processes=True)
        monkeypatch.undo()
        assert not report.failed and report.photos == 12
        got = lib.faces.faces()
        assert sorted((f.path.name, f.box) for f in got if f.path.name != "far.jpg") == expected
        (far,) = [f for f in got if f.path.name == "far.jpg"]
        ix = min(far.box[2], truth[2]) - max(far.box[0], truth[0])
        iy = min(far.box[3], truth[3]) - max(far.box[1], truth[1])
        assert ix > 0.6 * side and iy > 0.6 * side  # the box lies on the pasted face
        obama = _person_with(lib.faces, "obama3.jpg")
        assert far.person_id == obama.id  # and its descriptor is still Obama's
    finally:
        lib.close()


@pytest.mark.slow
def test_a_worker_process_that_dies_leaves_the_pass_to_threads(tmp_path, embedders, monkeypatch):
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from clipgallery.core.indexer import index_folder

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("obama3.jpg", "biden.jpg"):
        shutil.copy(FACES / name, photos / name)
    started = []

    def dying_pool(n_workers, processes):
        started.append(processes)
        if not processes:
            return real_pool(n_workers, processes)
        return ProcessPoolExecutor(n_workers, mp_context=get_context("spawn"), initializer=os._exit, initargs=(3,))

    real_pool = fc._pool
    monkeypatch.setattr(fc, "_pool", dying_pool)
    lib = Library(photos, tmp_path / "lib")
    try:
        index_folder(lib, embedders("tiny-random"))
        lib.faces.set_enabled(True)
        report = fc.index_faces(lib, workers=2, processes=True)
        assert started == [True, False]
        assert report.photos == 2 and not report.failed and report.faces == 2
        assert {f.path.name for f in lib.faces.faces()} == {"obama3.jpg", "biden.jpg"}
    finally:
        lib.close()
