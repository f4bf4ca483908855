"""`embed` and `import`: Parquet shards made from real photos with real models, imported into real
libraries; every malformed shard refused whole; `index` after an import reads nothing again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import hash_tree, photo
from PIL import Image

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from clipgallery.core.embedjob import EmbedError, embed_folder  # noqa: E402
from clipgallery.core.importer import import_shards  # noqa: E402
from clipgallery.core.indexer import index_folder  # noqa: E402
from clipgallery.core.library import Library  # noqa: E402
from clipgallery.core.search import Searcher  # noqa: E402
from clipgallery.core.shards import ShardError  # noqa: E402


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """A folder of 24 shape drawings (one per class, one in a subfolder each) and a file that is no photo."""
    from clipgallery.shapes import write_folder

    root = tmp_path_factory.mktemp("shapes-photos")
    truth = write_folder(root, per_class=1, seed=7_100_000)
    (root / "sub").mkdir()
    for p in sorted(truth)[:4]:  # a few in a subfolder: relpaths with a folder in them
        os.replace(p, root / "sub" / Path(p).name)
    (root / "broken.jpg").write_bytes(b"this is not a jpeg")
    return root


@pytest.fixture(scope="module")
def embedded(shapes, tmp_path_factory, embedders):
    """`embed --engine local` of the shapes folder with shapes-tiny -> (shards folder, report)."""
    out = tmp_path_factory.mktemp("shards") / "out"
    embedders("shapes-tiny")  # loaded once for the session (embed loads its own)
    report = embed_folder(shapes, out, "shapes-tiny", device="cpu")
    return out, report


def vectors_by_path(lib: Library, spec: str) -> dict[str, np.ndarray]:
    mid = lib.model_id(spec)
    ids, mat = lib.vectors(mid)
    paths = {f.id: f.relpath for f in lib.files(ids.tolist())}
    return {paths[i]: v for i, v in zip(ids.tolist(), mat)}


class Counting:
    """An Embedder that counts the photos it encodes."""

    def __init__(self, model):
        self.model, self.encoded = model, 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def encode_batch(self, batch):
        self.encoded += len(batch)
        return self.model.encode_batch(batch)


def table(n: int = 6, dim: int = 32, seed: int = 0, encoding: str = "fixed", **columns) -> pa.Table:
    """A valid shard table of n rows of unit vectors; `columns` replace or drop (None) columns."""
    rng = np.random.default_rng(seed)
    mat = rng.normal(size=(n, dim)).astype(np.float32)
    mat /= np.linalg.norm(mat, axis=1, keepdims=True)
    if encoding == "fixed":
        vec = pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1), pa.float32()), dim)
    else:
        vec = pa.array([list(v) for v in mat], pa.list_(pa.float32()))
    cols = {
        "relpath": pa.array([f"d{i % 2}/p{i}.jpg" for i in range(n)], pa.string()),
        "size": pa.array([1000 + i for i in range(n)], pa.int64()),
        "mtime_ns": pa.array([1_600_000_000_000_000_000 + i for i in range(n)], pa.int64()),
        "content_hash": pa.array([f"{i:032x}" if i % 3 else None for i in range(n)], pa.string()),
        "width": pa.array([640 if i % 2 else None for i in range(n)], pa.int32()),
        "height": pa.array([480 if i % 2 else None for i in range(n)], pa.int32()),
        "taken_at": pa.array([1.5e9 + i if i % 2 else None for i in range(n)], pa.float64()),
        "vector": vec,
    }
    for k, v in columns.items():
        if v is None:
            cols.pop(k)
        else:
            cols[k] = v
    return pa.table(cols)


def write(path: Path, t: pa.Table, model: str | None = "tiny-random") -> Path:
    meta = {b"clipgallery.model": model.encode()} if model is not None else None
    pq.write_table(t.replace_schema_metadata(meta), path)
    return path


def library(tmp_path: Path, name: str = "lib") -> Library:
    root = tmp_path / "photos"
    root.mkdir(exist_ok=True)
    return Library(root, tmp_path / name)


# -- embed + import of real photos -----------------------------------------------------------------


@pytest.mark.slow  # embeds and indexes a folder of 25 files
def test_embed_gives_index_vectors_and_import_searches_like_index(shapes, embedded, make_library, tmp_path,
                                                                    embedders):
    out, report = embedded
    assert report.embedded == 24 and report.dim == 128 and report.model == "shapes-tiny"
    assert [f["path"] for f in report.failed] == [str(shapes / "broken.jpg")]
    assert json.loads((out / "embed-report.json").read_text())["failed"][0]["error"]
    indexed, _ = make_library(shapes, "shapes-tiny")
    expected = vectors_by_path(indexed, "shapes-tiny")

    before = hash_tree(shapes)
    lib = Library(shapes, tmp_path / "imported")
    r = import_shards(lib, [out])
    assert (r.imported, r.skipped, r.model) == (24, 0, "shapes-tiny")
    assert hash_tree(shapes) == before  # the photos were not touched (nor read: see the index run below)
    got = vectors_by_path(lib, "shapes-tiny")
    assert got.keys() == expected.keys()
    assert max(float(np.abs(got[p] - expected[p]).max()) for p in got) < 1e-5
    by_path = {f.relpath: f for f in lib.files()}
    for f in indexed.files():
        if f.status == "ok":
            g = by_path[f.relpath]
            assert (g.size, g.mtime_ns, g.width, g.height) == (f.size, f.mtime_ns, f.width, f.height)

    model = embedders("shapes-tiny")
    hits = Searcher(lib, model).search("red circle", k=3)
    assert hits[0].path.name.startswith("red_circle")
    assert [h.path for h in hits] == [h.path for h in Searcher(indexed, model).search("red circle", k=3)]

    again = import_shards(lib, [out / "shard-00000.parquet"])
    assert (again.imported, again.skipped) == (0, 24)

    counting = Counting(model)  # the model is loaded for broken.jpg (new to the library), which fails to decode
    rep = index_folder(lib, lambda: counting, spec="shapes-tiny")
    assert counting.encoded == 0
    assert (rep.indexed, rep.unchanged, rep.removed) == (0, 24, 0)
    assert [f.path.name for f in rep.failed] == ["broken.jpg"]  # the one photo embed could not read


@pytest.mark.slow
def test_a_changed_photo_is_imported_again_and_index_reconciles(shapes, embedded, tmp_path, embedders):
    out, _ = embedded
    lib = Library(shapes, tmp_path / "lib")
    import_shards(lib, [out])
    mid = lib.model_id("shapes-tiny")
    rel = sorted(vectors_by_path(lib, "shapes-tiny"))[0]
    t = pq.read_table(out / "shard-00000.parquet")
    rows = [i for i, r in enumerate(t.column("relpath").to_pylist()) if r == rel]
    t2 = t.take(rows)
    # The same photo, seen with another mtime (a later export of it): imported over the old row.
    t2 = t2.set_column(2, "mtime_ns", pa.array([t2.column("mtime_ns")[0].as_py() + 1], pa.int64()))
    write(tmp_path / "later.parquet", t2, "shapes-tiny")
    r = import_shards(lib, [tmp_path / "later.parquet"])
    assert (r.imported, r.skipped) == (1, 0)
    assert lib.count(mid) == 24
    # The folder's file has the old mtime: index re-reads just that one (same bytes: nothing encoded).
    rep = index_folder(lib, embedders("shapes-tiny"))
    assert (rep.indexed, rep.unchanged) == (0, 24)


@pytest.mark.parametrize("encoding", ["fixed", "list"])
def test_both_vector_encodings_import_exactly(tmp_path, encoding):
    t = table(n=7, encoding=encoding)
    write(tmp_path / "s.parquet", t)
    lib = library(tmp_path)
    r = import_shards(lib, [tmp_path / "s.parquet"])
    assert (r.imported, r.skipped, r.model) == (7, 0, "tiny-random")
    got = vectors_by_path(lib, "tiny-random")
    want = dict(zip(t.column("relpath").to_pylist(), table(n=7).column("vector").to_pylist()))
    for p, v in want.items():
        np.testing.assert_array_equal(got[p], np.asarray(v, np.float32))
    files = {f.relpath: f for f in lib.files()}
    assert files["d1/p1.jpg"].width == 640 and files["d1/p1.jpg"].taken_at == 1.5e9 + 1
    assert files["d0/p0.jpg"].width is None and files["d0/p2.jpg"].date == (1_600_000_000_000_000_000 + 2) / 1e9
    hashes = dict(lib.conn.execute("SELECT relpath, content_hash FROM files"))
    assert hashes["d0/p0.jpg"] is None and hashes["d1/p1.jpg"] == f"{1:032x}"


@pytest.mark.slow  # embeds and indexes (a model load and a torch import)
def test_names_that_are_not_utf8_survive_embed_and_import(tmp_path, embedders):
    root = tmp_path / "photos"
    root.mkdir()
    name = os.fsdecode(b"caf\xe9 \xff.jpg")  # bytes of another encoding, as old cameras and zips leave them
    photo(3).save(root / name, "JPEG")
    photo(4).save(root / "plain.jpg", "JPEG")
    report = embed_folder(root, tmp_path / "shards", "tiny-random", device="cpu")
    assert report.embedded == 2
    lib = Library(root, tmp_path / "lib")
    assert import_shards(lib, [tmp_path / "shards"]).imported == 2
    assert sorted(f.relpath for f in lib.files()) == sorted([name, "plain.jpg"])
    rep = index_folder(lib, embedders("tiny-random"))
    assert (rep.indexed, rep.unchanged, rep.removed) == (0, 2, 0)


def test_a_cancelled_import_leaves_the_shard_out(tmp_path):
    import threading

    write(tmp_path / "s.parquet", table())
    lib = library(tmp_path)
    cancel = threading.Event()
    cancel.set()
    r = import_shards(lib, [tmp_path / "s.parquet"], cancel=cancel)
    assert r.cancelled and r.imported == 0 and lib.count() == 0 and lib.models() == []
    assert import_shards(lib, [tmp_path / "s.parquet"]).imported == 6


# -- refusals: a bad shard imports nothing ---------------------------------------------------------


def _ragged() -> pa.Array:
    rows = [list(np.eye(32, dtype=np.float32)[i]) for i in range(6)]
    rows[4] = rows[4][:31]
    return pa.array(rows, pa.list_(pa.float32()))


def _with_value(value: float, row: int = 3) -> pa.Array:
    mat = np.eye(32, dtype=np.float32)[:6].copy()
    mat[row, 5] = value
    return pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1), pa.float32()), 32)


REFUSALS = {
    "other model": (dict(), "shapes-tiny", r"holds vectors of model shapes-tiny.*indexed with tiny-random"),
    "other dimension": (dict(dim=16), "tiny-random", r"16-d vectors.*32"),
    "absolute path": (dict(relpath=pa.array(["/etc/passwd"] + [f"p{i}.jpg" for i in range(5)])), "tiny-random",
                      r"row 0: relpath '/etc/passwd' escapes the photo folder"),
    "dot-dot path": (dict(relpath=pa.array([f"p{i}.jpg" for i in range(5)] + ["a/../../x.jpg"])), "tiny-random",
                     r"row 5: relpath 'a/../../x.jpg' escapes"),
    "not a plain path": (dict(relpath=pa.array([f"p{i}.jpg" for i in range(5)] + ["a//x.jpg"])), "tiny-random",
                         r"not a plain relative path"),
    "missing column": (dict(mtime_ns=None), "tiny-random", r"has no column 'mtime_ns'"),
    "wrong type": (dict(size=pa.array(range(6), pa.int32())), "tiny-random", r"column 'size' is int32.*int64"),
    "float64 vectors": (dict(vector=pa.array([[1.0] + [0.0] * 31] * 6, pa.list_(pa.float64()))), "tiny-random",
                        r"column 'vector' is list<double>, the shard format says fixed_size_list<float>"),
    "ragged vectors": (dict(vector=_ragged()), "tiny-random", r"row 4 has a vector of 31 numbers"),
    "NaN": (dict(vector=_with_value(float("nan"))), "tiny-random", r"row 3 has a vector with NaN"),
    "not unit length": (dict(vector=_with_value(2.0, row=2)), "tiny-random", r"row 2 has a vector of length 2.2"),
    "null relpath": (dict(relpath=pa.array(["a.jpg", None, "c.jpg", "d.jpg", "e.jpg", "f.jpg"])), "tiny-random",
                     r"row 1 has no relpath"),
    "twice the same path": (dict(relpath=pa.array(["a.jpg", "b.jpg", "a.jpg", "d.jpg", "e.jpg", "f.jpg"])),
                            "tiny-random", r"'a.jpg' comes twice"),
    "bad hash": (dict(content_hash=pa.array([None, "xyz", None, None, None, None], pa.string())), "tiny-random",
                 r"row 1 has content_hash 'xyz'"),
    "no model": (dict(), None, r"does not say which model"),
    "two models at once": (dict(), "shapes-tiny", r"import the shards of each model separately"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_malformed_shard_imports_nothing(tmp_path, case):
    changes, model, message = REFUSALS[case]
    lib = library(tmp_path)
    write(tmp_path / "first.parquet", table(n=4, seed=1, relpath=pa.array([f"old/{i}.jpg" for i in range(4)])))
    import_shards(lib, [tmp_path / "first.parquet"])
    generation, rows = lib.generation, lib.conn.execute("SELECT * FROM files ORDER BY id").fetchall()
    dim = changes.pop("dim", 32)
    bad = write(tmp_path / "b-bad.parquet", table(dim=dim, **changes), model)
    given = [tmp_path / "first.parquet", bad] if case == "two models at once" else [bad]
    with pytest.raises(ShardError, match=message):
        import_shards(lib, given)
    assert lib.generation == generation
    assert lib.conn.execute("SELECT * FROM files ORDER BY id").fetchall() == rows
    assert [(s, n) for _, s, _, n in lib.models()] == [("tiny-random", 4)]


def test_a_bad_row_costs_its_shard_and_a_bad_footer_costs_the_whole_import(tmp_path):
    lib = library(tmp_path)
    good = write(tmp_path / "a.parquet", table(n=5, seed=2, relpath=pa.array([f"new/{i}.jpg" for i in range(5)])))
    nan = write(tmp_path / "b.parquet", table(vector=_with_value(float("nan"))))
    no_model = write(tmp_path / "c.parquet", table(), None)
    with pytest.raises(ShardError, match="does not say which model"):
        import_shards(lib, [good, no_model])  # footers are read first: nothing at all is imported
    assert lib.count() == 0
    with pytest.raises(ShardError, match=r"row 3 has a vector with NaN.*nothing of that shard was imported \(the 1 "
                                         r"shard\(s\) before it were: 5 photos\)"):
        import_shards(lib, [good, nan])
    assert sorted(f.relpath for f in lib.files()) == [f"new/{i}.jpg" for i in range(5)]
    fixed = write(tmp_path / "b.parquet", table())
    r = import_shards(lib, [good, fixed])  # run again once the bad shard is fixed: the rest is added
    assert (r.imported, r.skipped) == (6, 5)


def test_unreadable_and_missing_shards(tmp_path):
    lib = library(tmp_path)
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ShardError, match="is not a readable Parquet file"):
        import_shards(lib, [tmp_path / "junk.parquet"])
    with pytest.raises(ShardError, match="shard not found"):
        import_shards(lib, [tmp_path / "nowhere.parquet"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ShardError, match="no .parquet files in"):
        import_shards(lib, [tmp_path / "empty"])
    assert lib.count() == 0


def test_a_bundled_models_dimension_is_checked_in_an_empty_library(tmp_path):
    write(tmp_path / "s.parquet", table(dim=16))  # tiny-random makes 32-d vectors
    lib = library(tmp_path)
    with pytest.raises(ShardError, match="holds 16-d vectors, but tiny-random makes 32-d ones"):
        import_shards(lib, [tmp_path / "s.parquet"])
    assert lib.models() == []


# -- embed's refusals -------------------------------------------------------------------------------


def test_embed_never_writes_into_the_photo_folder_nor_over_shards(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    photo(1).save(root / "a.jpg")
    with pytest.raises(EmbedError, match="inside the photo folder"):
        embed_folder(root, root / "shards", "tiny-random")
    out = tmp_path / "out"
    out.mkdir()
    (out / "shard-00000.parquet").write_bytes(b"x")
    with pytest.raises(EmbedError, match="already holds shards"):
        embed_folder(root, out, "tiny-random")
    assert sorted(p.name for p in root.iterdir()) == ["a.jpg"]


def test_engine_ray_without_ray_says_what_to_install(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    root.mkdir()
    monkeypatch.setitem(sys.modules, "ray", None)  # as where Ray is not installed
    with pytest.raises(EmbedError, match=r"^--engine ray needs Ray: pip install 'clipgallery\[cluster\]'$"):
        embed_folder(root, tmp_path / "out", "tiny-random", engine="ray")


def test_an_unreachable_ray_cluster_is_one_sentence_at_once(tmp_path):
    pytest.importorskip("ray")
    root = tmp_path / "photos"
    root.mkdir()
    with pytest.raises(EmbedError, match=r"^cannot reach the Ray cluster at 127.0.0.1:1: "):
        embed_folder(root, tmp_path / "out", "tiny-random", engine="ray", address="127.0.0.1:1")
    assert not (tmp_path / "out").exists()


# -- the commands -----------------------------------------------------------------------------------


def run(*args):
    return subprocess.run([sys.executable, "-m", "clipgallery.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.slow
def test_embed_and_import_commands(tmp_path):
    root = tmp_path / "photos"
    (root / "b").mkdir(parents=True)
    for i in range(4):
        photo(i).save(root / ("b" if i % 2 else "") / f"{i}.jpg")
    out = run("embed", str(root), "--out", str(tmp_path / "shards"), "--model", "tiny-random", "--json")
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert made["embedded"] == 4 and made["failed"] == [] and len(made["shards"]) == 1
    lib = ["--library-dir", str(tmp_path / "lib")]
    out = run("import", str(root), str(tmp_path / "shards"), *lib, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["imported"], data["skipped"]) == (4, 0) and data["seconds"] >= 0
    out = run("similar", str(root), str(root / "b" / "1.jpg"), "-k", "1", *lib, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["path"] == str(root / "b" / "1.jpg")
    out = run("index", str(root), *lib, "--model", "tiny-random", "--json")
    assert (json.loads(out.stdout)["indexed"], json.loads(out.stdout)["unchanged"]) == (0, 4)

    write(tmp_path / "bad.parquet", table(relpath=pa.array(["../x.jpg"] + [f"{i}.jpg" for i in range(5)])))
    out = run("import", str(root), str(tmp_path / "bad.parquet"), *lib, "--json")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip().splitlines()[-1].startswith("clipgallery: error: ")
    assert "escapes the photo folder" in out.stderr and "Traceback" not in out.stderr


# -- a Ray Data job on a local Ray instance ------------------------------------------------------------


@pytest.mark.slow  # starting Ray takes 10-20 s
def test_embed_on_a_local_ray_cluster_gives_index_vectors(tmp_path, make_library, embedders):
    ray = pytest.importorskip("ray")
    from clipgallery import samples
    from clipgallery.shapes import write_folder

    root = tmp_path / "photos"
    truth = write_folder(root / "drawn", per_class=1, seed=7_200_000,
                         classes=[("red", "circle"), ("blue", "square"), ("green", "triangle"), ("yellow", "star")])
    pictures = [Image.open(p).convert("RGB") for p in sorted(truth)[:2]]
    samples.write_video(root / "clip.mp4", pictures, seconds_each=1.0)  # its frames go through the job too
    (root / "broken.png").write_bytes(b"\x89PNG but not really")
    indexed, rep = make_library(root, "shapes-tiny")
    assert rep.indexed == 5

    import clipgallery

    package_root = str(Path(clipgallery.__file__).parent.parent)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")])}})
    try:
        report = embed_folder(root, tmp_path / "shards", "shapes-tiny", engine="ray")
    finally:
        ray.shutdown()
    assert report.plan["encoders"] == 1 and report.plan["gpus_per_encoder"] == 0
    assert report.embedded == 5 and [f["path"] for f in report.failed] == [str(root / "broken.png")]

    lib = Library(root, tmp_path / "imported")
    r = import_shards(lib, [tmp_path / "shards"])
    assert (r.imported, r.skipped) == (5, 0)
    got, want = vectors_by_path(lib, "shapes-tiny"), vectors_by_path(indexed, "shapes-tiny")
    assert got.keys() == want.keys()
    assert max(float(np.abs(got[p] - want[p]).max()) for p in got) < 1e-5
    hashes = dict(lib.conn.execute("SELECT relpath, content_hash FROM files"))
    assert hashes == dict(indexed.conn.execute("SELECT relpath, content_hash FROM files WHERE status='ok'"))
    hits = Searcher(lib, embedders("shapes-tiny")).search("blue square", k=1)
    assert hits[0].path.name.startswith("blue_square")
