"""Regional similarity on the CPU: indexing cost of region vectors, and `similar --regional` latency.

1. Encoding with regions against without (ViT-B-32 architecture, random weights, batch 16 of
   224 px inputs): the grid comes from the same forward pass, so the extra is the pooling.
2. `similar --regional` over N photos of synthetic ViT-B-32 region vectors (14 x 512, float16)
   written into a real library: the first query (regions read from SQLite) and then p50/p95
   per query, whole photo (14 query regions) and a box (the regions of a crop are encoded too).

Usage: python bench/regional.py [--photos 50000] [--queries 20] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, random_vit_b32  # noqa: E402

REGIONS, DIM = 14, 512


def pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1000, q))


def bench_encoding(embedder, rounds: int) -> dict:
    import torch

    batch = torch.randn(16, 3, 224, 224)
    embedder.encode_batch(batch)
    embedder.encode_batch_with_regions(batch)
    plain, regional = [], []
    for _ in range(rounds):  # interleaved, so that load changes hit both alike
        t0 = time.perf_counter()
        embedder.encode_batch(batch)
        t1 = time.perf_counter()
        embedder.encode_batch_with_regions(batch)
        t2 = time.perf_counter()
        plain.append(t1 - t0)
        regional.append(t2 - t1)
    r = {"plain_ips": 16 / np.median(plain), "regional_ips": 16 / np.median(regional)}
    r["ratio"] = r["regional_ips"] / r["plain_ips"]
    print(f"encoding a batch of 16: {r['plain_ips']:.2f} images/s without regions, {r['regional_ips']:.2f} with: "
          f"{r['ratio']:.3f}x")
    return r


def make_library(folder: Path, embedder, n: int):
    from clipgallery.core.library import Library

    rng = np.random.default_rng(3)
    (folder / "photos").mkdir(parents=True)
    lib = Library(folder / "photos", folder / "library")
    lib.set_regional(True)
    base = 1_500_000_000 * 10**9
    with lib.transaction() as c:
        mid = lib.model_id(embedder.spec, DIM)
        c.executemany("INSERT INTO files(id, relpath, size, mtime_ns, content_hash, status) VALUES(?,?,?,?,?,'ok')",
                      ((i + 1, f"{i % 1000:03d}/{i:07d}.jpg", 1000, base + i * 10**9, f"h{i}") for i in range(n)))
        for s in range(0, n, 5000):
            m = min(5000, n - s)
            vec = rng.standard_normal((m, DIM)).astype(np.float32)
            vec /= np.linalg.norm(vec, axis=1, keepdims=True)
            reg = rng.standard_normal((m, REGIONS, DIM)).astype(np.float32)
            reg = (reg / np.linalg.norm(reg, axis=2, keepdims=True)).astype("<f2")
            c.executemany("INSERT INTO vectors(file_id, model_id, vec) VALUES(?,?,?)",
                          ((s + i + 1, mid, vec[i].tobytes()) for i in range(m)))
            c.executemany("INSERT INTO regions(file_id, model_id, count, dim, vecs) VALUES(?,?,?,?,?)",
                          ((s + i + 1, mid, REGIONS, DIM, reg[i].tobytes()) for i in range(m)))
        lib.set_meta("generation", str(lib.generation + 1))
    return lib


def bench_search(embedder, n: int, queries: int) -> dict:
    from PIL import Image

    from clipgallery.core.search import Searcher

    with tempfile.TemporaryDirectory(prefix="clipgallery-bench-") as tmp:
        t0 = time.perf_counter()
        lib = make_library(Path(tmp), embedder, n)
        print(f"library with {n} photos and their region vectors written in {time.perf_counter() - t0:.1f} s "
              f"({n * REGIONS * DIM * 2 / 2**30:.2f} GiB of regions)")
        s = Searcher(lib, embedder)
        t0 = time.perf_counter()
        s.similar_regional(1, k=50)
        first = time.perf_counter() - t0
        rng = np.random.default_rng(4)
        whole = []
        for fid in rng.integers(1, n + 1, queries):
            t0 = time.perf_counter()
            s.similar_regional(int(fid), k=50)
            whole.append(time.perf_counter() - t0)
        picture = Path(tmp) / "query.jpg"
        Image.fromarray(rng.integers(0, 255, (768, 1024, 3), dtype=np.uint8)).save(picture)
        boxed = []
        for _ in range(max(3, queries // 4)):
            t0 = time.perf_counter()
            s.similar_regional(picture, k=50, box=(0.5, 0.0, 1.0, 0.5))
            boxed.append(time.perf_counter() - t0)
        lib.close()
    r = {"first_s": first, "p50": pct(whole, 50), "p95": pct(whole, 95), "box_p50": pct(boxed, 50)}
    print(f"similar --regional over {n} photos: first query {first:.1f} s (regions read from SQLite), then "
          f"p50 {r['p50']:.0f} ms, p95 {r['p95']:.0f} ms; with a box of a 1024x768 file (crop encoded) "
          f"p50 {r['box_p50']:.0f} ms")
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, help="photos in the library (default 50000)")
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="5,000 photos and a few rounds")
    args = ap.parse_args()
    n = args.photos or (5000 if args.quick else 50_000)
    print(machine())
    embedder = random_vit_b32("cpu")
    bench_encoding(embedder, 3 if args.quick else 8)
    bench_search(embedder, n, args.queries)


if __name__ == "__main__":
    main()
