"""Search latency on the CPU: text query end to end, truncated vs full text encoding, ANN at scale.

Uses the real ViT-B-32 architecture with random weights (speed does not depend on the weights)
and synthetic 512-d vectors. Run `python bench/search_latency.py --quick` for a short check;
the full run builds an HNSW index over 1M vectors, which takes a long while on 2 cores.

Synthetic vectors: uniform random unit vectors in 512-d have no neighbourhood structure (every
point is about equally far from every other), which no photo collection looks like and no graph
index can search well. The default "clip-like" data mimics CLIP's geometry instead: images share
a common direction (pairwise cosine ~0.4) plus one or two of 2000 concepts and some style
variation; text queries sit apart from the images (the modality gap) and point at a concept.
`--data uniform` measures the worst case.
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

DIM = 512
SUBJECTS = ["kids", "a dog", "a cat", "my grandmother", "two friends", "a red car", "a small boat", "a bride",
            "people", "a horse", "a birthday cake", "an old church", "a bicycle", "snowy mountains", "a baby"]
PLACES = ["on the beach", "in the park", "at home", "in the snow", "at a wedding", "in the city at night",
          "in a forest", "by the lake", "in the kitchen", "on a mountain trail"]
TIMES = ["at sunset", "in the morning", "in winter", "during the holidays", "in the rain", ""]


def query_texts(n: int, seed: int = 0) -> list[str]:
    """n distinct, realistic photo searches (distinct, so that the query cache never helps)."""
    rng = np.random.default_rng(seed)
    out: list[str] = []
    seen = set()
    while len(out) < n:
        t = " ".join(x for x in (rng.choice(SUBJECTS), rng.choice(PLACES), rng.choice(TIMES)) if x)
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


class ClipLike:
    """A generator of CLIP-shaped image vectors and text-query vectors (see the module docstring)."""

    def __init__(self, seed: int = 1, concepts: int = 2000):
        g = np.random.default_rng(seed)
        self.mu_img = _unit(g.standard_normal(DIM))
        self.mu_txt = _unit(0.3 * self.mu_img + _unit(g.standard_normal(DIM)))
        self.concepts = _unit(g.standard_normal((concepts, DIM))).astype(np.float32)
        self.style = np.linalg.qr(g.standard_normal((DIM, 32)))[0].astype(np.float32)

    def images(self, n: int, seed: int, chunk: int = 50_000) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, DIM), np.float32)
        c = len(self.concepts)
        for s in range(0, n, chunk):
            m = min(chunk, n - s)
            x = (0.7 * self.mu_img + 0.6 * self.concepts[rng.integers(0, c, m)]
                 + 0.3 * self.concepts[rng.integers(0, c, m)] * rng.random((m, 1), np.float32)
                 + 0.5 * (rng.standard_normal((m, 32), np.float32) / np.sqrt(32)) @ self.style.T
                 + rng.standard_normal((m, DIM), np.float32) * (0.3 / np.sqrt(DIM)))
            out[s:s + m] = _unit(x)
        return out

    def texts(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        c = self.concepts[rng.integers(0, len(self.concepts), n)]
        noise = rng.standard_normal((n, DIM)).astype(np.float32) * (0.2 / np.sqrt(DIM))
        return _unit(0.7 * self.mu_txt + 0.6 * c + noise).astype(np.float32)


def uniform(n: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), np.float32)
    for s in range(0, n, chunk):
        out[s:s + chunk] = _unit(rng.standard_normal((min(chunk, n - s), DIM), np.float32))
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def pct(times: list[float], p: float) -> float:
    return float(np.percentile(np.array(times) * 1000.0, p))


# -- 1. text encoding ------------------------------------------------------------------------------


def bench_encoding(embedder, texts: list[str]) -> dict:
    embedder.encode_texts(texts[:2])
    embedder.encode_texts_full(texts[:2])
    trunc, full = [], []
    for t in texts:  # interleaved, so that load changes hit both alike
        t0 = time.perf_counter()
        embedder.encode_texts([t])
        t1 = time.perf_counter()
        embedder.encode_texts_full([t])
        t2 = time.perf_counter()
        trunc.append(t1 - t0)
        full.append(t2 - t1)
    r = {"trunc_p50": pct(trunc, 50), "full_p50": pct(full, 50)}
    r["ratio"] = r["full_p50"] / r["trunc_p50"]
    tokens = embedder.tokenize(texts)
    r["mean_tokens"] = float((tokens.argmax(dim=-1) + 1).float().mean())
    print(f"text encoding, one query at a time ({len(texts)} queries, {r['mean_tokens']:.1f} tokens on average "
          f"of {tokens.shape[1]}): truncated p50 {r['trunc_p50']:.1f} ms, full p50 {r['full_p50']:.1f} ms, "
          f"{r['ratio']:.2f}x faster")
    return r


# -- 2. end to end over a library ------------------------------------------------------------------


def make_library(folder: Path, embedder, vectors: np.ndarray):
    """A real Library whose files table and vectors table hold n synthetic photos."""
    from clipgallery.core.library import Library

    (folder / "photos").mkdir(parents=True)
    lib = Library(folder / "photos", folder / "library")
    with lib.transaction() as c:
        mid = lib.model_id(embedder.spec, DIM)
        base = 1_500_000_000 * 10**9
        c.executemany("INSERT INTO files(id, relpath, size, mtime_ns, content_hash, status) VALUES(?,?,?,?,?,'ok')",
                      ((i + 1, f"{i % 1000:03d}/{i:07d}.jpg", 1000, base + i * 10**9, f"h{i}")
                       for i in range(len(vectors))))
        c.executemany("INSERT INTO vectors(file_id, model_id, vec) VALUES(?,?,?)",
                      ((i + 1, mid, vectors[i].astype("<f4").tobytes()) for i in range(len(vectors))))
        lib.set_meta("generation", str(lib.generation + 1))
    return lib


def bench_end_to_end(embedder, n: int, texts: list[str], data: str) -> dict:
    from clipgallery.core.search import TEXT_CACHE, Searcher

    with tempfile.TemporaryDirectory(prefix="clipgallery-bench-") as tmp:
        t0 = time.perf_counter()
        vecs = ClipLike().images(n, seed=11) if data == "clip-like" else uniform(n, 11)
        lib = make_library(Path(tmp), embedder, vecs)
        print(f"library with {n} synthetic photos written in {time.perf_counter() - t0:.1f} s")
        s = Searcher(lib, embedder, notify=lambda m: print("  " + m), ann_build="now")
        t0 = time.perf_counter()
        s.prepare()
        print(f"vectors loaded and search index ready in {time.perf_counter() - t0:.1f} s")
        TEXT_CACHE.clear()
        s.search("warm up", k=50)
        times, methods = [], set()
        for t in texts:
            t0 = time.perf_counter()
            s.search(t, k=50)
            times.append(time.perf_counter() - t0)
            methods.add(s.last_method)
        cached = []
        for t in texts[:20]:
            t0 = time.perf_counter()
            s.search(t, k=50)
            cached.append(time.perf_counter() - t0)
        exact = []
        for t in texts[:20]:
            t0 = time.perf_counter()
            s.search(t, k=50, exact=True)
            exact.append(time.perf_counter() - t0)
        lib.close()
    r = {"p50": pct(times, 50), "p95": pct(times, 95), "cached_p50": pct(cached, 50), "exact_cached_p50": pct(exact, 50)}
    print(f"text query end to end over {n} vectors ({'/'.join(sorted(methods))}, k=50, new text each time): "
          f"p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms; repeated text (cached vector) p50 {r['cached_p50']:.2f} ms, "
          f"the same with exact=True p50 {r['exact_cached_p50']:.2f} ms")
    return r


# -- 3. ANN at scale -------------------------------------------------------------------------------


def bench_ann(n: int, queries: int, data: str, threads: int) -> dict:
    from clipgallery.core.ann import AnnIndex, AnnParams, exact_top

    gen = ClipLike()
    t0 = time.perf_counter()
    mat = gen.images(n, seed=21) if data == "clip-like" else uniform(n, 21)
    probes = gen.texts(60, seed=22) if data == "clip-like" else None
    print(f"{n} synthetic {data} vectors generated in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    ann = AnnIndex.build(np.arange(n, dtype=np.int64), mat, AnnParams(threads=threads), probes)
    build = time.perf_counter() - t0
    print(f"HNSW index (M=16, ef_construction=128, {threads or 'all'} threads) built and calibrated in "
          f"{build:.1f} s: ef={ann.ef} (recall@10 {ann.recall:.3f} on its calibration queries)")
    rng = np.random.default_rng(23)
    picks = mat[rng.integers(0, n, queries)]
    near = _unit(picks + rng.standard_normal(picks.shape).astype(np.float32) * (0.5 / np.sqrt(DIM)))
    text = gen.texts(queries, seed=24) if data == "clip-like" else uniform(queries, 24)
    r = {"build_s": build, "ef": ann.ef}
    for name, qs in (("text-like", text), ("more-like-this", near)):
        truth = exact_top(mat, qs, 10)
        times, rec = [], []
        for q, t in zip(qs, truth):
            t0 = time.perf_counter()
            got = ann.query(q, 10)
            times.append(time.perf_counter() - t0)
            rec.append(len(set(got.tolist() if got is not None else []) & set(t.tolist())) / 10)
        r[name] = {"p50": pct(times, 50), "p95": pct(times, 95), "recall": float(np.mean(rec))}
        print(f"ANN top-10 at {n} ({name} queries): p50 {r[name]['p50']:.2f} ms, p95 {r[name]['p95']:.2f} ms, "
              f"recall@10 {r[name]['recall']:.3f}")
    ex = []
    for q in text[:10]:
        t0 = time.perf_counter()
        mat @ q
        ex.append(time.perf_counter() - t0)
    r["exact_p50"] = pct(ex, 50)
    print(f"exact (one matrix-vector product over {n}) p50 {r['exact_p50']:.1f} ms, for comparison")
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a check that runs in a minute or two")
    ap.add_argument("--vectors", type=int, help="stored vectors for the end-to-end test (default 100000)")
    ap.add_argument("--ann-size", type=int, help="vectors for the ANN test (default 1000000; 0 skips it)")
    ap.add_argument("--queries", type=int, help="queries per measurement (default 100)")
    ap.add_argument("--data", choices=["clip-like", "uniform"], default="clip-like")
    ap.add_argument("--threads", type=int, default=0, help="threads for the index build (default: all cores)")
    ap.add_argument("--torch-threads", type=int, help="torch threads for text encoding (default: torch's choice)")
    args = ap.parse_args()
    n_vec = args.vectors or (20_000 if args.quick else 100_000)
    n_ann = args.ann_size if args.ann_size is not None else (50_000 if args.quick else 1_000_000)
    n_q = args.queries or (30 if args.quick else 100)

    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    print(machine())
    embedder = random_vit_b32("cpu")
    print(f"model: {embedder.spec} (ViT-B-32 architecture, random weights), torch threads {torch.get_num_threads()}")
    texts = query_texts(n_q + 1)
    enc = bench_encoding(embedder, texts[:n_q])
    e2e = bench_end_to_end(embedder, n_vec, texts[1:], args.data)
    ann = bench_ann(n_ann, n_q, args.data, args.threads) if n_ann else None

    print("\nsummary (targets for a 2-core CPU):")
    print(f"  text query p50 {e2e['p50']:.1f} ms over {n_vec} vectors   (target <= 80 ms)  "
          f"{'ok' if e2e['p50'] <= 80 else 'MISSED'}")
    print(f"  truncated text encoding {enc['ratio']:.2f}x faster than full   (target >= 2x)  "
          f"{'ok' if enc['ratio'] >= 2 else 'MISSED'}")
    if ann:
        t = ann["text-like"]
        ok = t["p50"] <= 5 and t["recall"] >= 0.95
        print(f"  ANN p50 {t['p50']:.2f} ms, recall@10 {t['recall']:.3f} at {n_ann} vectors   "
              f"(target <= 5 ms, >= 0.95; 1M for the real figure)  {'ok' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
