"""Storage that scales: compact pages, the memory-mapped vector cache beside the library (trusted
only for its own library and generation, rebuilt when deleted or stale), relpaths read only for
hits, the gallery's listing as columns, and the app exiting cleanly on a large library."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from clipgallery.core.library import FileUpdate, Library
from clipgallery.core.search import Searcher, refresh_caches
from clipgallery.core.store import schema

DIM = 64


class VectorEmbedder:
    """Ranks given vectors; never encodes."""

    spec = "synthetic-64"
    dim = DIM
    device = "cpu"


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def add(lib: Library, vecs: np.ndarray, prefix: str = "a", start: int = 0, spec: str = VectorEmbedder.spec,
        dates: bool = False) -> list[int]:
    mid = lib.register_model(spec, vecs.shape[1])
    names = [f"{prefix}/{start + i:06d}.jpg" for i in range(len(vecs))]
    lib.apply(mid, [FileUpdate(n, 1000 + i, 1_600_000_000_000_000_000 + i * 10**9, f"h-{n}", vec=v,
                               taken_at=1.2e9 + i * 3600.0 if dates else None)
                    for i, (n, v) in enumerate(zip(names, vecs))])
    ids = lib.file_ids(names)
    return [ids[n] for n in names]


def fresh(lib: Library) -> Library:
    """The same library opened again, as a new process would (no in-memory state)."""
    return Library(lib.root, lib.dir, create=False)


@pytest.fixture
def lib(tmp_path):
    (tmp_path / "photos").mkdir()
    library = Library(tmp_path / "photos", tmp_path / "lib")
    yield library
    library.close()


def test_vectors_round_trip_exactly_through_sqlite_and_the_mapped_cache(lib):
    vecs = unit(np.random.default_rng(1), 300)
    ids = add(lib, vecs)
    mid = lib.model_id(VectorEmbedder.spec)
    first = lib.matrix(mid)
    assert first.source == "sqlite" and list((lib.dir).glob("matrix-*.npy"))
    again = fresh(lib).matrix(mid)
    assert again.source == "mapped"  # the next process maps the files instead of reading rows
    for m in (first, again):
        assert m.ids.tolist() == sorted(ids)
        np.testing.assert_array_equal(np.asarray(m.mat), vecs[np.argsort(ids)])  # float32, bit for bit
        np.testing.assert_allclose(m.dates, 1.6e9 + np.arange(300), rtol=0, atol=1e-3)  # modified, one second apart


def test_a_stale_cache_is_never_trusted_after_adding_or_removing_photos(lib):
    rng = np.random.default_rng(2)
    ids = add(lib, unit(rng, 200))
    mid = lib.model_id(VectorEmbedder.spec)
    lib.matrix(mid)
    old = {p.name: p.read_bytes() for p in lib.dir.glob("matrix-*")}

    new_ids = add(fresh(lib), unit(rng, 5), prefix="b")
    other = fresh(lib)
    m = other.matrix(mid)
    assert m.source == "sqlite" and set(new_ids) <= set(m.ids.tolist())

    other.remove_files(ids[:50])
    # Put the older cache files back (a backup restored, a second copy of the app): still not trusted.
    for p in lib.dir.glob("matrix-*"):
        p.unlink()
    for name, data in old.items():
        (lib.dir / name).write_bytes(data)
    m = fresh(lib).matrix(mid)
    assert m.source == "sqlite"
    assert not set(ids[:50]) & set(m.ids.tolist()) and set(new_ids) <= set(m.ids.tolist())


def test_a_cache_copied_from_another_library_is_not_trusted(tmp_path):
    rng = np.random.default_rng(3)
    libs = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        library = Library(tmp_path / name, tmp_path / f"lib-{name}")
        add(library, unit(rng, 100))  # same ids, same generation, other vectors
        libs.append(library)
    mid = libs[0].model_id(VectorEmbedder.spec)
    libs[0].matrix(mid)
    for p in libs[0].dir.glob("matrix-*"):
        shutil.copy2(p, libs[1].dir / p.name)
    assert libs[0].generation == libs[1].generation
    m = libs[1].matrix(mid)
    assert m.source == "sqlite"
    np.testing.assert_array_equal(np.asarray(m.mat), libs[1].store.vectors.read_matrix(mid)[3])
    assert not np.array_equal(np.asarray(m.mat), np.asarray(libs[0].matrix(mid).mat))


def test_deleted_caches_are_rebuilt_and_give_the_same_results(lib, monkeypatch):
    from clipgallery.core import search

    monkeypatch.setattr(search, "EXACT_BELOW", 500)  # 1200 photos count as large: an ANN index is kept
    rng = np.random.default_rng(4)
    vecs = unit(rng, 1200)
    add(lib, vecs, dates=True)
    done = refresh_caches(lib)
    assert done[VectorEmbedder.spec]["ann"] == "built" and list(lib.dir.glob("ann-*.bin"))
    queries = unit(rng, 5)
    before = [[(h.file_id, h.path, h.score) for h in Searcher(fresh(lib), VectorEmbedder()).rank_vector(q, k=10)]
              for q in queries]
    assert refresh_caches(fresh(lib))[VectorEmbedder.spec] == {"photos": 1200, "matrix": "mapped", "ann": "current"}

    for p in list(lib.dir.glob("matrix-*")) + list(lib.dir.glob("ann-*")):
        p.unlink()
    again = fresh(lib)
    s = Searcher(again, VectorEmbedder())
    after = [[(h.file_id, h.path, h.score) for h in s.rank_vector(q, k=10)] for q in queries]
    assert after == before
    assert list(lib.dir.glob("matrix-*.npy"))  # written again for the next process
    assert refresh_caches(fresh(lib))[VectorEmbedder.spec]["ann"] == "built"


def test_a_fresh_process_searches_without_reading_rows_from_sqlite(lib, monkeypatch):
    from clipgallery.core.store.vectors import VectorStore

    rng = np.random.default_rng(5)
    vecs = unit(rng, 400)
    ids = add(lib, vecs, prefix="x/y")
    add(lib, unit(rng, 100), prefix="x/z", start=400)
    refresh_caches(lib)

    def no_rows(*a, **k):
        raise AssertionError("read every vector row from SQLite")

    monkeypatch.setattr(VectorStore, "read_matrix", no_rows)
    s = Searcher(fresh(lib), VectorEmbedder(), ann_build="never")
    hits = s.rank_vector(vecs[7], k=3)
    assert hits[0].file_id == ids[7] and hits[0].path == lib.root / "x/y/000007.jpg"
    under = s.rank_vector(vecs[7], k=500, folder="x/y")  # the folder filter asks SQLite's relpath index
    assert len(under) == 400 and all(h.path.parent == lib.root / "x/y" for h in under)


def test_an_old_library_with_small_pages_and_no_uid_keeps_working(tmp_path, monkeypatch):
    rng = np.random.default_rng(6)
    vecs = unit(rng, 300)
    (tmp_path / "photos").mkdir()
    monkeypatch.setattr(schema, "PAGE_SIZE", 4096)  # as every library before this change was written
    old = Library(tmp_path / "photos", tmp_path / "lib")
    ids = add(old, vecs)
    with old.transaction():
        old.conn.execute("DELETE FROM meta WHERE key='uid'")
    old.close()
    monkeypatch.setattr(schema, "PAGE_SIZE", 65536)
    lib = Library(tmp_path / "photos", tmp_path / "lib")
    assert lib.conn.execute("PRAGMA page_size").fetchone()[0] == 4096  # a file keeps its pages
    s = Searcher(lib, VectorEmbedder())
    assert [h.file_id for h in s.rank_vector(vecs[3], k=1)] == [ids[3]]
    assert lib.get_meta("uid") is not None and list(lib.dir.glob("matrix-*.npy"))
    assert fresh(lib).matrix(lib.model_id(VectorEmbedder.spec)).source == "mapped"


def test_a_new_library_stores_a_512d_photo_in_under_2_5_kb(tmp_path):
    (tmp_path / "photos").mkdir()
    lib = Library(tmp_path / "photos", tmp_path / "lib")
    assert lib.conn.execute("PRAGMA page_size").fetchone()[0] == schema.PAGE_SIZE
    rng = np.random.default_rng(7)

    def size() -> int:
        lib.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return os.path.getsize(lib.db_path)

    add(lib, unit(rng, 2000, 512), spec="synthetic-512")
    before = size()
    add(lib, unit(rng, 4000, 512), prefix="b", spec="synthetic-512")
    per_photo = (size() - before) / 4000
    assert per_photo <= 2500, per_photo  # a 2 KB float32 vector per 4 KB page was 4.3 KB
    lib.close()


# -- the gallery's listing as columns ---------------------------------------------------------------


def test_the_lazy_listing_shows_the_right_photo_at_each_row(qtbot, tmp_path):
    from clipgallery.gui.facade import Facade, PhotoColumns, SearchOptions
    from clipgallery.gui.gallery_model import GalleryModel, PathRole, PhotoRole
    from clipgallery.gui.thumbnails import ThumbnailLoader

    (tmp_path / "photos").mkdir()
    lib = Library(tmp_path / "photos", tmp_path / "lib")
    rng = np.random.default_rng(8)
    add(lib, unit(rng, 700), prefix="b", dates=True)  # b/000000 .. b/000699, an hour apart
    add(lib, unit(rng, 600), prefix="a", dates=True)
    facade = Facade()
    listing = facade.listing(lib)
    assert isinstance(listing.photos, PhotoColumns) and len(listing.photos) == 1300
    assert listing.folders == ["a", "b"]

    loader = ThumbnailLoader(facade)
    model = GalleryModel(loader)
    model.set_photos(listing.photos)
    assert model.rowCount() == 1300 and listing.photos._pages == {}  # nothing made before it is shown
    expect = {0: "a/000000.jpg", 599: "a/000599.jpg", 600: "b/000000.jpg", 1299: "b/000699.jpg"}
    for row, rel in expect.items():
        assert model.data(model.index(row), PathRole) == str(lib.root / rel)
    assert model.data(model.index(1299), PhotoRole).date == pytest.approx(1.2e9 + 699 * 3600.0)
    assert sorted(listing.photos._pages) == [0, 1, 2]  # the pages of the rows asked for, no more
    assert model.row_of(str(lib.root / "b/000000.jpg")) == 600

    newest = facade.browse(lib, listing.photos, SearchOptions(folder="b", sort="date")).photos
    assert [p.path for p in newest[:2]] == [str(lib.root / "b/000699.jpg"), str(lib.root / "b/000698.jpg")]
    assert len(newest) == 700
    # Photos a walk of the disk found: only those the library lacks join the listing, at its end.
    from clipgallery.gui.facade import Photo
    from clipgallery.gui.main_window import MainWindow

    found = [Photo(str(lib.root / "a/000005.jpg"), None, 0.0), Photo(str(lib.root / "new.jpg"), None, 0.0)]
    new = MainWindow._not_listed(listing.photos, found)
    assert [p.path for p in new] == [str(lib.root / "new.jpg")]
    grown = listing.photos + new
    assert len(grown) == 1301 and grown[1300].path == str(lib.root / "new.jpg") and grown[5].file_id is not None
    assert MainWindow._not_listed(grown, found) == []
    window = facade.browse(lib, listing.photos, SearchOptions(after=1.2e9 + 10 * 3600.0, before=1.2e9 + 12 * 3600.0))
    assert [p.path for p in window.photos] == [str(lib.root / f"{d}/{i:06d}.jpg") for d in "ab" for i in (10, 11)]
    lib.close()


@pytest.mark.slow  # writes 30,000 rows, then the app opens them, builds an ANN index and quits
def test_the_app_exits_0_after_a_search_on_a_large_library(tmp_path):
    from clipgallery.core.embed import Embedder

    root, libdir = tmp_path / "photos", tmp_path / "lib"
    root.mkdir()
    lib = Library(root, libdir)
    dim = Embedder.load("tiny-random", "cpu").dim
    rng = np.random.default_rng(9)
    for start in range(0, 30_000, 10_000):
        add(lib, unit(rng, 10_000, dim), prefix="p", start=start, spec="tiny-random")
    lib.close()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path / "home"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    shot = tmp_path / "shot.png"
    r = subprocess.run([sys.executable, "-m", "clipgallery.cli", "--library-dir", str(libdir), "gui", str(root),
                        "--model", "tiny-random", "--screenshot", str(shot), "--query", "a dog"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "terminate called" not in r.stderr and shot.stat().st_size > 10_000
    (first,) = [line for line in r.stderr.splitlines() if line.startswith("clipgallery-first-result ")]
    assert int(first.rpartition("photos=")[2]) > 0  # the query typed at open answered from the library
    with sqlite3.connect(libdir / "library.sqlite") as c:  # the photos are all still there
        assert c.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 30_000


def test_a_damaged_cache_file_is_caught_and_rebuilt(lib):
    vecs = unit(np.random.default_rng(10), 50)
    add(lib, vecs)
    mid = lib.model_id(VectorEmbedder.spec)
    lib.matrix(mid)
    (npy,) = [p for p in lib.dir.glob("matrix-*.npy") if not p.name.endswith(("-ids.npy", "-dates.npy"))]
    data = bytearray(npy.read_bytes())
    data[-DIM * 4:] = bytes(DIM * 4)  # the last row never reached the disk (a power cut)
    npy.write_bytes(bytes(data))
    m = fresh(lib).matrix(mid)
    assert m.source == "sqlite"
    np.testing.assert_array_equal(np.asarray(m.mat)[-1], vecs[-1])


def test_a_stopped_index_update_is_dropped_not_half_used(lib):
    import threading

    from clipgallery.core.ann import BUILD_CHUNK, LibraryAnn

    rng = np.random.default_rng(11)
    add(lib, unit(rng, 3000))
    mid = lib.model_id(VectorEmbedder.spec)
    m = lib.matrix(mid)
    LibraryAnn(lib, mid).get(m.generation, m.ids, m.mat)  # built and saved
    new_vecs = unit(rng, BUILD_CHUNK + 10)  # a change of more than one chunk
    new_ids = add(lib, new_vecs, prefix="b")
    m = lib.matrix(mid)
    ann = LibraryAnn(lib, mid)
    stop = threading.Event()
    stop.set()  # the app is closing
    assert ann.get(m.generation, m.ids, m.mat, stop=stop) is None and ann._ann is None
    index = ann.get(m.generation, m.ids, m.mat)  # the next run loads the saved one and updates it
    assert ann.last_action == "updated" and np.array_equal(index.ids, m.ids)
    assert index.query(new_vecs[-1], 1)[0] == new_ids[-1]


# -- the app's listing kept beside the library ------------------------------------------------------


def _same_listing(a, b) -> None:
    assert a.generation == b.generation and a.folder_sizes == b.folder_sizes
    np.testing.assert_array_equal(np.asarray(a.ids), np.asarray(b.ids))
    np.testing.assert_array_equal(np.asarray(a.dates), np.asarray(b.dates))  # NaN where unknown, on both


def test_the_listing_is_kept_beside_the_library_and_equals_sqlite(lib):
    rng = np.random.default_rng(12)
    add(lib, unit(rng, 30), prefix="b", dates=True)
    add(lib, unit(rng, 20), prefix="a/deep")
    mid = lib.model_id(VectorEmbedder.spec)
    # a folder whose name is not UTF-8 (Latin-1 bytes on disk), and a file that could not be read
    lib.apply(mid, [FileUpdate(f"caf\udce9/{i:06d}.jpg", 10, 1, f"h{i}", vec=v) for i, v in enumerate(unit(rng, 5))])
    lib.apply(mid, [FileUpdate("broken.jpg", 10, 1, None, error="cannot identify image file")])
    first = lib.listing()
    assert first.source == "sqlite" and (lib.dir / "listing.json").is_file()
    gen, ids, dates, sizes = lib.store.files.read_listing()
    assert first.generation == gen and sizes == {"b": 30, "a/deep": 20, "caf\udce9": 5}  # never the unreadable one
    paths = lib.store.files.relpaths_of(ids.tolist())
    assert [paths[i] for i in ids.tolist()][:2] == ["a/deep/000000.jpg", "a/deep/000001.jpg"]
    assert [paths[i] for i in ids.tolist()][-1] == "caf\udce9/000004.jpg"  # in relpath order, as SQLite sorts
    again = fresh(lib).listing()
    assert again.source == "mapped"  # the next process maps the files: no row read one at a time
    _same_listing(again, first)
    assert np.isnan(np.asarray(again.dates)[:20]).sum() == 0  # modified times where no date was taken
    assert np.asarray(again.dates)[ids.tolist().index(lib.file_ids(["b/000029.jpg"])["b/000029.jpg"])] \
        == pytest.approx(1.2e9 + 29 * 3600.0)


def test_a_stale_or_damaged_listing_is_read_again_from_sqlite(lib):
    rng = np.random.default_rng(13)
    ids = add(lib, unit(rng, 40), dates=True)
    lib.listing()
    add(fresh(lib), unit(rng, 3), prefix="z")  # another process indexed three more photos
    grown = fresh(lib).listing()
    assert grown.source == "sqlite" and len(grown.ids) == 43
    fresh(lib).remove_files(ids[:10])
    shrunk = fresh(lib).listing()
    assert shrunk.source == "sqlite" and len(shrunk.ids) == 33 and not set(ids[:10]) & set(shrunk.ids.tolist())
    assert fresh(lib).listing().source == "mapped"

    def damaged(how) -> None:
        """Damage the listing files now in use; the next process reads SQLite (and writes them anew)."""
        (ids_file,) = lib.dir.glob("listing-*-ids.npy")
        (dates_file,) = lib.dir.glob("listing-*-dates.npy")
        how(ids_file, dates_file)
        again = fresh(lib).listing()
        assert again.source == "sqlite"
        _same_listing(again, shrunk)

    wrong_dates = np.array(shrunk.dates)
    wrong_dates[-1] = 0.0
    damaged(lambda i, d: np.save(i, np.ascontiguousarray(np.asarray(shrunk.ids)[::-1])))  # whole, out of order
    damaged(lambda i, d: np.save(d, wrong_dates))  # the last date never reached the disk
    damaged(lambda i, d: d.write_bytes(d.read_bytes()[:100]))  # half written
    damaged(lambda i, d: i.unlink())  # gone
    assert fresh(lib).listing().source == "mapped"  # written whole again


def test_index_runs_leave_the_listing_for_the_next_process(lib):
    add(lib, unit(np.random.default_rng(14), 25))
    assert not list(lib.dir.glob("listing*"))
    refresh_caches(lib)  # what index and import do at their end
    assert fresh(lib).listing().source == "mapped"
