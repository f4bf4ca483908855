"""The library file: one per folder, migrations on open, clear errors for the wrong or a damaged file."""

from __future__ import annotations

import sqlite3

import pytest

from clipgallery.core.errors import LibraryError
from clipgallery.core.library import MIGRATIONS, SCHEMA_VERSION, Library, default_library_dir
from clipgallery.core.store.schema import statements


def test_a_library_belongs_to_one_folder(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Library(tmp_path / "a", tmp_path / "lib").close()
    with pytest.raises(LibraryError, match="belongs to the folder .*a, not .*b"):
        Library(tmp_path / "b", tmp_path / "lib")


def test_default_location_is_per_folder_and_outside_it(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    a, b = default_library_dir(tmp_path / "x"), default_library_dir(tmp_path / "y")
    assert a != b and tmp_path not in a.parents


def test_old_schema_is_migrated_on_open(tmp_path):
    (tmp_path / "p").mkdir()
    db = tmp_path / "lib" / "library.sqlite"
    db.parent.mkdir()
    with sqlite3.connect(db) as c:  # a file written by the first release: schema v1 only
        for stmt in statements(MIGRATIONS[0]):
            c.execute(stmt)
        c.execute("PRAGMA user_version=1")
        c.execute("INSERT INTO meta VALUES('root', ?)", (str((tmp_path / "p").resolve()),))
        c.execute("INSERT INTO files(relpath, size, mtime_ns, status) VALUES('a.jpg', 1, 1, 'ok')")
    lib = Library(tmp_path / "p", tmp_path / "lib")
    assert lib.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [f.relpath for f in lib.files()] == ["a.jpg"]  # nothing lost on the way


def test_newer_or_damaged_library_is_a_clear_error(tmp_path):
    (tmp_path / "p").mkdir()
    Library(tmp_path / "p", tmp_path / "lib").close()
    with sqlite3.connect(tmp_path / "lib" / "library.sqlite") as c:
        c.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    with pytest.raises(LibraryError, match="newer clipgallery"):
        Library(tmp_path / "p", tmp_path / "lib")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "library.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(LibraryError, match="damaged.*clipgallery repair"):
        Library(tmp_path / "p", tmp_path / "bad")


def test_vectors_and_regions_come_back_sorted_by_id_whatever_order_they_were_written(tmp_path):
    """Rows re-written later (new content for an old file) sit after newer rows in SQLite; the
    matrices must still be sorted by file id with each row belonging to its id."""
    import numpy as np

    from clipgallery.core.library import FileUpdate

    (tmp_path / "photos").mkdir()
    lib = Library(tmp_path / "photos", tmp_path / "lib")
    lib.set_regional(True)
    with lib.transaction():
        mid = lib.model_id("m", 4)
    rng = np.random.default_rng(0)

    def update(name, file_id=None):
        return FileUpdate(name, 1, 1, f"h-{name}-{rng.integers(1 << 30)}", file_id=file_id,
                          vec=rng.normal(size=4).astype(np.float32), regions=rng.normal(size=(3, 4)).astype(np.float16))

    first = [update(n) for n in ("a", "b", "c", "d")]
    lib.apply(mid, first)
    ids = lib.file_ids(["a", "b", "c", "d"])
    again = [update("b", ids["b"]), update("a", ids["a"])]  # new content: rows deleted and written anew
    lib.apply(mid, again)
    written = {ids[u.relpath]: u for u in first if u.relpath in ("c", "d")} | {ids[u.relpath]: u for u in again}

    got_ids, mat = lib.vectors(mid)
    assert got_ids.tolist() == sorted(written)
    for i, fid in enumerate(got_ids):
        np.testing.assert_array_equal(mat[i], written[int(fid)].vec)
    rids, regions = lib.regions(mid)
    assert rids.tolist() == sorted(written)
    for i, fid in enumerate(rids):
        np.testing.assert_array_equal(regions[i], written[int(fid)].regions)
    lib.close()


def test_a_batch_encoded_before_regions_were_turned_off_does_not_store_them(tmp_path):
    import numpy as np

    from clipgallery.core.library import FileUpdate

    (tmp_path / "photos").mkdir()
    lib = Library(tmp_path / "photos", tmp_path / "lib")
    lib.set_regional(True)
    with lib.transaction():
        mid = lib.model_id("m", 4)
    batch = [FileUpdate("a", 1, 1, "h", vec=np.ones(4, np.float32), regions=np.ones((3, 4), np.float16))]
    lib.set_regional(False)  # while the batch was being encoded
    lib.apply(mid, batch)
    assert lib.count(mid) == 1 and lib.region_count(mid) == 0
    lib.close()
