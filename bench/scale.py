"""A thousand photos against a million: what a person waits for, from fresh processes.

Builds synthetic libraries (rows and 512-d CLIP-like vectors, no photo files) of each size in a
temp dir, through a pluggable writer (`--writer apply`: Library.apply in batches of 10,000, the
path `index` takes; `--writer import`: each batch a Parquet shard, then one `clipgallery import`
of them all, which also writes the memory-mapped matrix), and prints
for each size, with its target and the ratio of the largest size to the smallest:

- first search after the build (a fresh process: builds the memory-mapped matrix from SQLite)
- cold `clipgallery search` from a fresh process: median wall time of several queries, peak memory
- recall@10 of the persisted ANN index (built by core.search.refresh_caches) against exact
- bytes per photo on disk: the SQLite file, and the caches beside it
- the app's open-to-first-result time: `gui --screenshot --query`, offscreen, types the query as the
  folder opens and prints when its first results show (median of three runs); the whole run to the
  screenshot (the folder checked, the query run again) and its exit status

and a folder of small real JPEGs (64x64, `--files`, default 100,000) re-indexed unchanged.

The model is ViT-B-32 with random weights as a local checkpoint (the real architecture and
vector size; speed does not depend on the weights), its text tower exported once to the fast
path. Run `python bench/scale.py --sizes 1000,100000` for a quicker check; the default
(1000,1000000) takes a long while on 2 cores (the ANN build of a million vectors dominates).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APP_RUNS = 3
FIRST_RESULT_MARKER = "clipgallery-first-result"  # clipgallery.gui.app's (not imported here: it loads Qt)
sys.path.insert(0, str(Path(__file__).resolve().parent))
QUERIES = ["a dog on the beach", "kids playing in the snow", "a birthday cake with candles",
           "mountains at sunset", "a city street at night", "a red car", "my grandmother in the garden"]
BATCH = 10_000


# -- writers: how synthetic rows get into a library ------------------------------------------------


def write_apply(lib, spec: str, rows: list[dict]) -> None:
    """One batch through Library.apply (what `index` does per batch)."""
    from clipgallery.core.library import FileUpdate

    mid = lib.register_model(spec, len(rows[0]["vector"]))
    lib.apply(mid, [FileUpdate(r["relpath"], r["size"], r["mtime_ns"], r["content_hash"], vec=r["vector"],
                               width=r["width"], height=r["height"], taken_at=r["taken_at"]) for r in rows])


def write_import(lib, spec: str, rows: list[dict]) -> None:
    """One batch as a Parquet shard (the format `embed` writes) into a folder beside the library;
    `finish_import` then adds them all with one `import` (core.importer), as a cluster's output would
    arrive. The build's time counts both, writing the shards and importing them."""
    from clipgallery.core.shards import ShardRow, ShardWriter

    folder = lib.db_path.parent / "bench-shards"
    folder.mkdir(exist_ok=True)
    writer = ShardWriter(folder, spec, len(rows[0]["vector"]), rows_per_shard=len(rows))
    writer.write([ShardRow(**r) for r in rows])
    writer.close()


def finish_import(lib) -> None:
    from clipgallery.core.importer import import_shards

    folder = lib.db_path.parent / "bench-shards"
    import_shards(lib, [folder])
    shutil.rmtree(folder)


WRITERS: dict[str, Callable] = {"apply": write_apply, "import": write_import}
FINISH: dict[str, Callable] = {"import": finish_import}


def synthetic_rows(start: int, count: int, vectors) -> list[dict]:
    out = []
    for j in range(count):
        i = start + j
        year, month = 2005 + i // 50_000 % 20, 1 + i // 4_000 % 12
        out.append({"relpath": f"{year}/{year}-{month:02d}/IMG_{i:07d}.jpg", "size": 2_000_000 + i,
                    "mtime_ns": 1_600_000_000_000_000_000 + i * 1_000_000_000, "content_hash": f"{i:032x}",
                    "width": 4000, "height": 3000, "taken_at": 1.1e9 + i * 600.0, "vector": vectors[j]})
    return out


# -- children (everything heavy runs in a fresh process) --------------------------------------------


def child_build(work: Path, n: int, spec: str, writer: str) -> None:
    from search_latency import ClipLike

    from clipgallery.core.library import Library

    root, libdir = work / f"photos-{n}", work / f"library-{n}"
    root.mkdir(parents=True, exist_ok=True)
    lib = Library(root, libdir)
    gen = ClipLike()
    t0 = time.perf_counter()
    for start in range(0, n, BATCH):
        m = min(BATCH, n - start)
        WRITERS[writer](lib, spec, synthetic_rows(start, m, gen.images(m, seed=start + 1)))
    if writer in FINISH:
        FINISH[writer](lib)
    lib.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def child_ann(work: Path, n: int, build: bool) -> None:
    """Build the persisted ANN index (refresh_caches), then recall@10 of it against exact."""
    import numpy as np
    from search_latency import ClipLike

    from clipgallery.core.ann import exact_top
    from clipgallery.core.library import Library
    from clipgallery.core.search import LibraryAnn, refresh_caches

    lib = Library(work / f"photos-{n}", work / f"library-{n}", create=False)
    t0 = time.perf_counter()
    done = refresh_caches(lib, ann=build)
    seconds = time.perf_counter() - t0
    (mid, *_), = lib.models()
    m = lib.matrix(mid)
    queries = ClipLike().texts(50, seed=99)
    truth = exact_top(m.mat, queries, 10)
    ann = LibraryAnn(lib, mid).get(m.generation, m.ids, m.mat, build=False) if len(m.ids) >= 20_000 else None
    if ann is None:
        recall = 1.0 if len(m.ids) < 20_000 else float("nan")  # small libraries are searched exactly
    else:
        got = [set(ann.query(q, 10).tolist()) for q in queries]
        recall = float(np.mean([len(g & set(m.ids[t].tolist())) / 10 for g, t in zip(got, truth)]))
    print(json.dumps({"seconds": seconds, "done": done, "recall": recall}))


def child_prepare(work: Path) -> None:
    """The random ViT-B-32 checkpoint and its fast text export (once per workdir)."""
    from _common import random_vit_b32
    from cli_latency import random_checkpoint

    from clipgallery.core import textfast
    from clipgallery.core.embed import Embedder

    weights = work / "models" / "vit-b-32-random.pt"
    if not weights.exists():
        random_checkpoint(weights)
    spec = f"ViT-B-32:{weights}"
    del random_vit_b32
    textfast.ensure_built(Embedder.load(spec, "cpu"))
    print(json.dumps({"spec": spec}))


def child_jpegs(folder: Path, count: int) -> None:
    """count small real JPEGs (64x64), each made unique by a comment segment (instant to write)."""
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    base = buf.getvalue()
    for i in range(count):
        sub = folder / f"{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        text = f"clipgallery bench {i}".encode()
        (sub / f"{i:06d}.jpg").write_bytes(base[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + base[2:])
    print(json.dumps({"files": count}))


def child_import_folder(folder: Path, libdir: Path, spec: str) -> None:
    """Rows for every file of the folder with its real stat and content hash and a synthetic
    vector, as `import` of shards made elsewhere would leave them; `index` then finds them unchanged."""
    from search_latency import ClipLike

    from clipgallery.core.indexer import _hash_file as hash_file
    from clipgallery.core.library import Library

    lib = Library(folder, libdir)
    files = sorted(p for p in folder.rglob("*.jpg"))
    gen = ClipLike()
    for start in range(0, len(files), BATCH):
        chunk = files[start:start + BATCH]
        vecs = gen.images(len(chunk), seed=start + 7)
        rows = []
        for p, v in zip(chunk, vecs):
            st = p.stat()
            rows.append({"relpath": p.relative_to(folder).as_posix(), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                         "content_hash": hash_file(p), "width": 64, "height": 64, "taken_at": None, "vector": v})
        write_apply(lib, spec, rows)
    from clipgallery.core.search import refresh_caches

    refresh_caches(lib, ann=False)  # as `import` leaves it: the matrix written, the ANN index left to the app
    print(json.dumps({"files": len(files)}))


# -- the parent: runs children, prints figures ------------------------------------------------------


def run_peak(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, str, str]:
    """As run(), with the peak memory of this one child (wait4's rusage, not the running maximum)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out_chunks, err_chunks = [], []
    import threading

    def drain(stream, into):
        into.append(stream.read())

    threads = [threading.Thread(target=drain, args=(p.stdout, out_chunks)),
               threading.Thread(target=drain, args=(p.stderr, err_chunks))]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    for t in threads:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    return (wall, usage.ru_maxrss / 1024, p.returncode, b"".join(out_chunks).decode(errors="replace"),
            b"".join(err_chunks).decode(errors="replace"))


def child(env: dict[str, str], *args: str) -> dict:
    wall, peak, rc, out, err = run_peak([sys.executable, __file__, *args], env)
    if rc != 0:
        raise SystemExit(f"child {' '.join(args)} failed ({rc}):\n{err[-3000:]}")
    return {**json.loads(out.strip().splitlines()[-1]), "wall": wall, "peak_mb": peak}


def disk(libdir: Path) -> dict[str, int]:
    out = {"sqlite": 0, "matrix": 0, "ann": 0}
    for p in libdir.iterdir():
        if p.name.startswith("library.sqlite"):
            out["sqlite"] += p.stat().st_size
        elif p.name.startswith("matrix-"):
            out["matrix"] += p.stat().st_size
        elif p.name.startswith("ann-"):
            out["ann"] += p.stat().st_size
    return out


def measure(work: Path, n: int, spec: str, env: dict[str, str], writer: str, queries: int, ann: bool) -> dict:
    cg = [sys.executable, "-m", "clipgallery.cli", "--library-dir", str(work / f"library-{n}")]
    photos = work / f"photos-{n}"
    r: dict = {}
    built = child(env, "--child", "build", str(work), str(n), spec, writer)
    r["build_s"] = built["seconds"]
    wall, peak, rc, out, err = run_peak([*cg, "search", str(photos), QUERIES[0], "-k", "10"], env)
    if rc != 0:
        raise SystemExit(f"search failed ({rc}):\n{err[-2000:]}")
    r["first_search_s"], r["first_search_mb"] = wall, peak
    cold = []
    for q in (QUERIES * 3)[1:queries + 1]:
        wall, peak, rc, out, err = run_peak([*cg, "search", str(photos), q, "-k", "10"], env)
        if rc != 0 or "not available" in err:
            raise SystemExit(f"search failed or left the fast path ({rc}):\n{err[-2000:]}")
        cold.append((wall, peak))
    r["cold_search_s"] = statistics.median(w for w, _ in cold)
    r["cold_search_mb"] = max(m for _, m in cold)
    ann = child(env, "--child", "ann", str(work), str(n), "1" if ann else "0")
    r["ann_build_s"], r["recall"], r["ann_done"] = ann["seconds"], ann["recall"], ann["done"]
    sizes = disk(work / f"library-{n}")
    r.update({f"bytes_{k}": v / n for k, v in sizes.items()})
    shot = work / f"shot-{n}.png"
    genv = {**env, "QT_QPA_PLATFORM": "offscreen"}
    apps = []
    for _ in range(APP_RUNS):
        wall, peak, rc, out, err = run_peak([*cg, "gui", str(photos), "--model", spec, "--screenshot", str(shot),
                                             "--query", QUERIES[1]], genv)
        first = [line for line in err.splitlines() if line.startswith(FIRST_RESULT_MARKER + " ")]
        apps.append((float(first[0].split("process_s=")[1].split()[0]) if first else float("nan"), wall, peak, rc))
        if rc != 0:
            r["app_err"] = err[-1500:]
            break
    r["app_first_s"] = statistics.median(a[0] for a in apps)  # the query typed at open: its first results
    r["app_s"] = statistics.median(a[1] for a in apps)  # to the screenshot, after the folder check, and exit
    r["app_mb"], r["app_rc"] = max(a[2] for a in apps), max(a[3] for a in apps)
    return r


def reindex_unchanged(work: Path, count: int, spec: str, env: dict[str, str]) -> dict:
    folder, libdir = work / "jpegs", work / "library-jpegs"
    if not folder.exists():
        child(env, "--child", "jpegs", str(folder), str(count))
    if not libdir.exists():
        child(env, "--child", "import-folder", str(folder), str(libdir), spec)
    cg = [sys.executable, "-m", "clipgallery.cli", "--library-dir", str(libdir)]
    runs = []
    for _ in range(3):
        wall, peak, rc, out, err = run_peak([*cg, "index", str(folder), "--model", spec, "--json"], env)
        if rc != 0:
            raise SystemExit(f"index failed ({rc}):\n{err[-2000:]}")
        report = json.loads(out)
        runs.append((wall, peak, report))
    return {"files": count, "runs": [w for w, _, _ in runs], "mb": max(m for _, m, _ in runs),
            "report": runs[-1][2]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,1000000", help="library sizes, comma-separated (first: the baseline)")
    ap.add_argument("--files", type=int, default=100_000, help="JPEGs in the re-indexed folder (0: skip)")
    ap.add_argument("--queries", type=int, default=5, help="cold searches per size (the median is shown)")
    ap.add_argument("--writer", choices=sorted(WRITERS), default="apply")
    ap.add_argument("--ann-max", type=int, default=0,
                    help="build the ANN index only up to this many photos (0: always; a million takes long on 2 cores)")
    ap.add_argument("--workdir", type=Path, help="keep everything here (default: a temp dir, removed after)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "build":
            child_build(Path(rest[0]), int(rest[1]), rest[2], rest[3])
        elif kind == "ann":
            child_ann(Path(rest[0]), int(rest[1]), rest[2] == "1")
        elif kind == "prepare":
            child_prepare(Path(rest[0]))
        elif kind == "jpegs":
            child_jpegs(Path(rest[0]), int(rest[1]))
        elif kind == "import-folder":
            child_import_folder(Path(rest[0]), Path(rest[1]), rest[2])
        return 0

    sizes = [int(s) for s in args.sizes.split(",")]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="clipgallery-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "CLIPGALLERY_MODEL_CACHE": str(work / "model-cache"),
           "HF_HUB_OFFLINE": "1", "XDG_CONFIG_HOME": str(work / "config"), "XDG_DATA_HOME": str(work / "data")}
    env.pop("CLIPGALLERY_FAST_TEXT", None)
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}; load average at start: {os.getloadavg()[0]:.2f}; "
          f"{os.cpu_count()} cores; writer: {args.writer}")
    spec = child(env, "--child", "prepare", str(work))["spec"]
    results = {}
    for n in sizes:
        for p in (work / f"library-{n}", work / f"photos-{n}"):
            shutil.rmtree(p, ignore_errors=True)
        results[n] = measure(work, n, spec, env, args.writer, args.queries, not args.ann_max or n <= args.ann_max)
        print(f"{n:>9,} photos: {json.dumps(results[n], default=str)}", flush=True)
    base, top = results[sizes[0]], results[sizes[-1]]
    rows = [("cold search (median)", "cold_search_s", "s", f"<= 2x the {sizes[0]:,} time", 2.0, True),
            ("cold search peak memory", "cold_search_mb", "MB", "<= 2500 MB", 2500, False),
            ("first search after the build", "first_search_s", "s", "<= 30 s", 30, False),
            ("recall@10 of the ANN index", "recall", "", ">= 0.9", 0.9, False),
            ("SQLite bytes per photo", "bytes_sqlite", "B", "<= 2560 B", 2560, False),
            ("cache bytes per photo: matrix", "bytes_matrix", "B", "", None, False),
            ("cache bytes per photo: ANN", "bytes_ann", "B", "", None, False),
            ("app open to first result", "app_first_s", "s", f"<= 2x the {sizes[0]:,} time", 2.0, True),
            ("app open, check, screenshot, exit", "app_s", "s", "", None, False),
            ("app peak memory", "app_mb", "MB", "", None, False),
            ("app exit status", "app_rc", "", "0", None, False),
            ("ANN build (refresh_caches)", "ann_build_s", "s", "", None, False),
            ("library build (writer)", "build_s", "s", "", None, False)]
    print(f"\n{'figure':32} " + " ".join(f"{n:>12,}" for n in sizes) + f"  {'ratio':>7}  target")
    for name, key, unit, target, limit, relative in rows:
        vals = [results[n][key] for n in sizes]
        ratio = top[key] / base[key] if base[key] else float("nan")
        digits = 3 if key == "recall" else 2 if unit == "s" else 0
        ok = ""
        if limit is not None:
            ok = "met" if (ratio <= limit if relative else (top[key] >= limit if key == "recall" else top[key] <= limit)) \
                else "NOT met"
        print(f"{name:32} " + " ".join(f"{v:,.{digits}f}{unit}".rjust(12) for v in vals) + f"  {ratio:7.2f}  {target} {ok}")
    if args.files:
        re = reindex_unchanged(work, args.files, spec, env)
        print(f"\n{re['files']:,} small JPEGs re-indexed unchanged: " + ", ".join(f"{w:.1f} s" for w in re["runs"])
              + f" (target <= 15 s), peak {re['mb']:.0f} MB; report {json.dumps(re['report'])}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
