"""The ANN cache: recall against exact search, incremental updates, and stale or damaged cache files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from clipgallery.core.ann import AnnIndex
from clipgallery.core.library import FileUpdate, Library
from clipgallery.core.search import Searcher

DIM = 512


class VectorEmbedder:
    """Stands in for a model where none is needed: these tests rank given vectors, never encode."""

    spec = "synthetic-512"
    dim = DIM
    device = "cpu"


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def add_vectors(lib: Library, vecs: np.ndarray, prefix: str = "p", start: int = 0) -> list[int]:
    """Insert files with these vectors (as an index run would) and return their ids."""
    with lib.transaction():
        mid = lib.model_id(VectorEmbedder.spec, DIM)
    names = [f"{prefix}/{start + i:06d}.jpg" for i in range(len(vecs))]
    lib.apply(mid, [FileUpdate(n, 1000, 1_600_000_000_000_000_000, f"h-{n}", vec=v) for n, v in zip(names, vecs)])
    return [lib.file_ids([n])[n] for n in names]


def exact_ids(lib: Library, q: np.ndarray, k: int) -> list[int]:
    ids, mat = lib.vectors(lib.model_id(VectorEmbedder.spec))
    return [int(i) for i in ids[np.argsort(-(mat @ q), kind="stable")[:k]]]


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    lib = Library(root, tmp_path / "lib")
    yield lib
    lib.close()


@pytest.mark.slow  # building HNSW over 20k 512-d vectors takes ~10 s on 2 cores
def test_recall_at_10_on_20k_random_unit_vectors(library):
    rng = np.random.default_rng(42)
    add_vectors(library, unit(rng, 20_000))
    s = Searcher(library, VectorEmbedder())
    queries = unit(np.random.default_rng(4242), 60)
    ids, mat = library.vectors(library.model_id(VectorEmbedder.spec))
    recalls = []
    for q in queries:
        truth = set(ids[np.argpartition(-(mat @ q), 10)[:10]].tolist())
        got = [h.file_id for h in s.rank_vector(q, k=10, exact=False)]
        assert s.last_method == "ann" and len(got) == 10
        recalls.append(len(truth & set(got)) / 10)
    assert np.mean(recalls) >= 0.95
    # Queries near stored photos ("more like this") are found as well.
    near = mat[:30] + unit(rng, 30) * 0.3
    for i, q in enumerate(near / np.linalg.norm(near, axis=1, keepdims=True)):
        assert s.rank_vector(q, k=10, exact=False)[0].file_id == ids[i]
    # 20k is where the automatic choice switches to ANN, and the index is kept beside the library.
    s.rank_vector(queries[0], k=10)
    assert s.last_method == "ann"
    assert json.loads((library.dir / f"ann-{library.model_id(VectorEmbedder.spec)}.json").read_text())["count"] == 20_000


@pytest.fixture
def clustered(library):
    """3000 vectors in 30 clusters (photo collections are clumpy), in folders x/ and xy/."""
    rng = np.random.default_rng(7)
    centres = unit(rng, 30)
    vecs = centres[rng.integers(0, 30, 3000)] + unit(rng, 3000) * 0.6
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = add_vectors(library, vecs[:2000], "x") + add_vectors(library, vecs[2000:], "xy", 2000)
    return library, np.array(ids), vecs


def test_ann_matches_exact_and_the_cache_is_reused(clustered):
    lib, ids, vecs = clustered
    s = Searcher(lib, VectorEmbedder())
    for q in vecs[:20]:
        ann = [h.file_id for h in s.rank_vector(q, k=10, exact=False)]
        assert ann[0] == exact_ids(lib, q, 1)[0]
        assert len(set(ann) & set(exact_ids(lib, q, 10))) >= 9
    assert s._ann.history == ["built"]
    files = sorted(p.name for p in lib.dir.glob("ann-*"))
    assert len(files) == 3  # <stem>.json pointing at one .bin and one .npz

    fresh = Searcher(lib, VectorEmbedder())  # as a new process would: loads, checks, does not rebuild
    fresh.rank_vector(vecs[0], k=5, exact=False)
    assert fresh._ann.last_action == "loaded"


def test_removed_files_never_come_back_and_added_files_are_found(clustered):
    lib, ids, vecs = clustered
    s = Searcher(lib, VectorEmbedder())
    s.rank_vector(vecs[0], k=5, exact=False)  # builds the index

    gone = ids[:150]
    lib.remove_files(gone.tolist())
    for q in vecs[:150:5]:
        got = [h.file_id for h in s.rank_vector(q, k=20, exact=False)]
        assert not set(got) & set(gone.tolist())
        assert got[:5] == exact_ids(lib, q, 5)
    assert s._ann.history == ["built", "updated"]  # marked deleted in place, not rebuilt

    new = unit(np.random.default_rng(99), 40)
    new_ids = add_vectors(lib, new, "new")
    for fid, q in zip(new_ids, new):
        assert s.rank_vector(q, k=3, exact=False)[0].file_id == fid
    assert s._ann.history == ["built", "updated", "updated"]
    # A new process sees the same: the saved cache covers the latest state.
    fresh = Searcher(lib, VectorEmbedder())
    assert fresh.rank_vector(new[0], k=1, exact=False)[0].file_id == new_ids[0]
    assert fresh._ann.last_action == "loaded"


def test_changed_content_and_reused_ids_are_reindexed(clustered):
    lib, ids, vecs = clustered
    mid = lib.model_id(VectorEmbedder.spec)
    s = Searcher(lib, VectorEmbedder())
    s.rank_vector(vecs[0], k=5, exact=False)

    # The photo behind id ids[5] was edited: same row, new content, new vector.
    edited = unit(np.random.default_rng(5), 1)[0]
    row = lib.files([int(ids[5])])[0]
    lib.apply(mid, [FileUpdate(row.relpath, 2000, 1_700_000_000_000_000_000, "edited", file_id=int(ids[5]),
                               vec=edited)])
    assert s.rank_vector(edited, k=1, exact=False)[0].file_id == ids[5]
    assert ids[5] not in [h.file_id for h in s.rank_vector(vecs[5], k=3, exact=False)]

    # SQLite hands the highest id out again after it was deleted: the index must follow.
    top = int(ids.max())
    lib.remove_files([top])
    s.rank_vector(vecs[0], k=5, exact=False)
    reborn = unit(np.random.default_rng(6), 1)[0]
    assert add_vectors(lib, reborn[None], "reborn") == [top]
    assert s.rank_vector(reborn, k=1, exact=False)[0].file_id == top
    assert top not in [h.file_id for h in s.rank_vector(vecs[list(ids).index(top)], k=3, exact=False)]


def test_stale_or_damaged_cache_files_are_detected(clustered, tmp_path):
    lib, ids, vecs = clustered
    s = Searcher(lib, VectorEmbedder())
    s.rank_vector(vecs[0], k=5, exact=False)
    old = tmp_path / "old-cache"
    old.mkdir()
    for p in lib.dir.glob("ann-*"):
        shutil.copy2(p, old / p.name)

    lib.remove_files(ids[:100].tolist())
    newer = unit(np.random.default_rng(11), 20)
    new_ids = add_vectors(lib, newer, "late")
    Searcher(lib, VectorEmbedder()).rank_vector(vecs[0], k=5, exact=False)  # saves the newer cache

    # Put the old cache back, as a restored backup or a second copy of the app might.
    for p in lib.dir.glob("ann-*"):
        p.unlink()
    for p in old.iterdir():
        shutil.copy2(p, lib.dir / p.name)
    fresh = Searcher(lib, VectorEmbedder())
    got = [h.file_id for h in fresh.rank_vector(vecs[0], k=50, exact=False)]
    assert fresh._ann.last_action == "updated"
    assert not set(got) & set(ids[:100].tolist())
    assert fresh.rank_vector(newer[3], k=1, exact=False)[0].file_id == new_ids[3]

    # A truncated index file is refused and rebuilt, never half-read.
    meta = json.loads((lib.dir / f"ann-{lib.model_id(VectorEmbedder.spec)}.json").read_text())
    bin_path = lib.dir / meta["bin"]
    bin_path.write_bytes(bin_path.read_bytes()[: bin_path.stat().st_size // 2])
    again = Searcher(lib, VectorEmbedder())
    assert again.rank_vector(newer[3], k=1, exact=False)[0].file_id == new_ids[3]
    assert again._ann.last_action == "built"


def test_a_cache_from_another_library_is_not_trusted(tmp_path):
    rng = np.random.default_rng(3)
    libs = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        lib = Library(tmp_path / name, tmp_path / f"lib-{name}")
        add_vectors(lib, unit(rng, 500))  # same ids, same generation, different vectors
        libs.append(lib)
    Searcher(libs[0], VectorEmbedder()).rank_vector(unit(rng, 1)[0], k=1, exact=False)
    for p in libs[0].dir.glob("ann-*"):
        shutil.copy2(p, libs[1].dir / p.name)
    assert libs[0].generation == libs[1].generation
    s = Searcher(libs[1], VectorEmbedder())
    _, mat = libs[1].vectors(libs[1].model_id(VectorEmbedder.spec))
    for q in mat[:10]:
        assert s.rank_vector(q, k=1, exact=False)[0].score == pytest.approx(1.0, abs=1e-5)
    assert s._ann.history == ["built"]
    for lib in libs:
        lib.close()


def test_filtered_ann_search_keeps_only_matches_and_agrees_with_exact(clustered):
    lib, ids, vecs = clustered
    s = Searcher(lib, VectorEmbedder())
    for q in vecs[2000:2010]:  # photos from xy/: "x" must not match "xy/..."
        for folder in ("x", "xy"):
            ann = s.rank_vector(q, k=10, folder=folder, exact=False)
            assert s.last_method == "ann"
            exact = s.rank_vector(q, k=10, folder=folder, exact=True)
            assert all(h.path.parent.name == folder for h in ann + exact)
            assert len(set(h.file_id for h in ann) & set(h.file_id for h in exact)) >= 9
    # A filter keeping a handful of photos goes exact, and finds all of them.
    few = set(ids[[3, 500, 2500]].tolist())
    hits = s.rank_vector(vecs[0], k=10, restrict=few)
    assert s.last_method == "exact" and {h.file_id for h in hits} == few


def test_index_build_is_deterministic_enough_to_save_and_load(tmp_path):
    rng = np.random.default_rng(1)
    ids, mat = np.arange(10, 1010, dtype=np.int64), unit(rng, 1000, 64)
    ann = AnnIndex.build(ids, mat)
    ann.save(tmp_path, "ann-1", {"generation": 1})
    loaded, meta = AnnIndex.load(tmp_path, "ann-1", 64)
    assert meta["generation"] == 1 and loaded.ef == ann.ef
    assert np.array_equal(loaded.ids, ids)
    for q in mat[:10]:
        assert np.array_equal(loaded.query(q, 5), ann.query(q, 5))
        assert ids[np.argmax(mat @ q)] == loaded.query(q, 1)[0]
    assert AnnIndex.load(tmp_path, "ann-1", 32) is None  # another model's dimension
    assert AnnIndex.load(Path(tmp_path / "nowhere"), "ann-1", 64) is None


def test_a_large_library_builds_in_the_background_and_searches_exactly_meanwhile(clustered, monkeypatch):
    from clipgallery.core import search

    lib, ids, vecs = clustered
    monkeypatch.setattr(search, "EXACT_BELOW", 1000)  # make 3000 photos count as a large library
    one_shot = Searcher(lib, VectorEmbedder(), ann_build="never")
    assert [h.file_id for h in one_shot.rank_vector(vecs[1], k=5)] == exact_ids(lib, vecs[1], 5)
    assert one_shot.last_method == "exact" and not list(lib.dir.glob("ann-*"))  # never builds

    app = Searcher(lib, VectorEmbedder())  # ann_build="background"
    first = app.rank_vector(vecs[1], k=5)
    assert app.last_method == "exact"  # answered at once, while the index builds
    app._builder.join(timeout=120)
    second = app.rank_vector(vecs[1], k=5)
    assert app.last_method == "ann" and [h.file_id for h in second] == [h.file_id for h in first]

    assert one_shot.rank_vector(vecs[2], k=5)[0].file_id == ids[2]
    # A one-shot run answers exactly even with a saved index: one pass over the memory-mapped
    # matrix reads fewer bytes than loading the index (hnswlib holds a copy of every vector).
    assert one_shot.last_method == "exact" and one_shot._ann.history == []

    # A fresh app finds the saved index current (same library, same generation) and loads it in
    # the background without fingerprinting every vector, then ranks with it.
    fresh = Searcher(lib, VectorEmbedder())
    assert [h.file_id for h in fresh.rank_vector(vecs[1], k=5)] == [h.file_id for h in first]
    fresh._builder.join(timeout=60)
    assert fresh._ann.history == ["loaded"]
    assert [h.file_id for h in fresh.rank_vector(vecs[1], k=5)] == [h.file_id for h in first]
    assert fresh.last_method == "ann"


# -- a large index in a process of its own (the app) --------------------------------------------


def test_an_index_in_a_process_of_its_own_answers_as_one_here(tmp_path):
    """hnswlib holds the GIL while it loads or saves: the app keeps a large index in a child
    process. The same build, saved by one and loaded by the other, gives the same answers."""
    import os

    from clipgallery.core.ann import AnnParams
    from clipgallery.core.annproc import RemoteIndex

    rng = np.random.default_rng(2)
    ids, mat = np.arange(5, 1505, dtype=np.int64), unit(rng, 1500, 64)
    params = AnnParams(threads=1)  # one thread: the same graph each time
    here = AnnIndex.build(ids, mat, params)
    there = AnnIndex.build(ids, mat, params, remote=True)
    try:
        assert isinstance(there.index, RemoteIndex) and there.index.pid != os.getpid() and there.alive
        assert there.ef == here.ef and there.recall == here.recall
        queries = unit(rng, 15, 64)
        for q in queries:
            assert np.array_equal(there.query(q, 10), here.query(q, 10))
        there.save(tmp_path, "ann-1", {"generation": 3})  # written by the child
        loaded, meta = AnnIndex.load(tmp_path, "ann-1", 64)  # read here
        far, _ = AnnIndex.load(tmp_path, "ann-1", 64, remote_from=1000)  # 1500 photos: read there
        assert meta["generation"] == 3 and isinstance(far.index, RemoteIndex)
        for q in queries:
            assert np.array_equal(loaded.query(q, 10), here.query(q, 10))
            assert np.array_equal(far.query(q, 10), here.query(q, 10))
        small, _ = AnnIndex.load(tmp_path, "ann-1", 64, remote_from=10_000)
        assert not isinstance(small.index, RemoteIndex)  # below the size worth a process
        far.close()
        assert not far.alive
    finally:
        there.close()
    assert not there.alive


def test_the_app_keeps_a_large_index_in_a_child_and_searches_exactly_when_it_dies(clustered, monkeypatch):
    import os
    import signal

    from clipgallery.core import search
    from clipgallery.core.annproc import RemoteIndex

    lib, ids, vecs = clustered
    monkeypatch.setattr(search, "EXACT_BELOW", 1000)  # 3000 photos count as a large library
    monkeypatch.setattr(search, "PROCESS_MIN", 2000)  # and as one whose index gets a process
    search.refresh_caches(lib)  # what `index` leaves: the saved index
    app = Searcher(lib, VectorEmbedder())  # ann_build="background", as in the app
    expect = [h.file_id for h in app.rank_vector(vecs[1], k=5)]
    app._builder.join(timeout=60)
    assert app._ann.history == ["loaded"]
    child = app._ann._ann.index
    assert isinstance(child, RemoteIndex) and child.alive and child.pid != os.getpid()
    assert [h.file_id for h in app.rank_vector(vecs[1], k=5)] == expect and app.last_method == "ann"

    os.kill(child.pid, signal.SIGKILL)  # the child dies (out of memory, say)
    child._proc.join(10)
    assert [h.file_id for h in app.rank_vector(vecs[1], k=5)] == expect  # answered all the same
    assert app.last_method == "exact"
    app._builder.join(timeout=60)  # the index is loaded again, here this time
    assert [h.file_id for h in app.rank_vector(vecs[1], k=5)] == expect and app.last_method == "ann"
    assert not isinstance(app._ann._ann.index, RemoteIndex)

    one_shot = Searcher(lib, VectorEmbedder(), ann_build="now")  # a CLI run keeps it in its own process
    one_shot.rank_vector(vecs[2], k=5)
    assert one_shot.last_method == "ann" and not isinstance(one_shot._ann._ann.index, RemoteIndex)

    again = Searcher(lib, VectorEmbedder())
    again.rank_vector(vecs[1], k=5)
    again._builder.join(timeout=60)
    proc = again._ann._ann.index
    assert isinstance(proc, RemoteIndex) and proc.alive
    again.close()  # the window closes: no process is left behind
    assert not proc.alive
    for s in (app, one_shot):
        s.close()
