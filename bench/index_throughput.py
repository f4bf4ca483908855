"""Indexing throughput: the full pipeline vs the model alone vs a naive one-thread pipeline.

Prints images/s for each on a generated folder of 12-megapixel JPEGs with the ViT-B-32
architecture (random weights: speed does not depend on them), and the two ratios.
Usage: python bench/index_throughput.py [--images N] [--batch-size B] [--device cpu|cuda] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, random_vit_b32  # noqa: E402


def make_photos(folder: Path, n: int, size: tuple[int, int]) -> None:
    """Photo-like JPEGs (smooth structure plus sensor-like noise), about 3-5 MB each at 12 MP."""
    rng = np.random.default_rng(0)
    w, h = size
    small = (w // 16, h // 16)
    for i in range(n):
        base = Image.fromarray(rng.integers(0, 255, (small[1], small[0], 3), dtype=np.uint8)).resize(
            size, Image.Resampling.BICUBIC)
        noise = rng.normal(0, 6, (h, w, 3)).astype(np.int16)
        arr = np.clip(np.asarray(base, np.int16) + noise, 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"IMG_{i:04d}.jpg", "JPEG", quality=90)


def bench_pipeline(folder: Path, emb, batch: int, workers: int | None) -> float:
    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library

    with tempfile.TemporaryDirectory() as libdir:
        lib = Library(folder, Path(libdir))
        t = time.perf_counter()
        report = index_folder(lib, emb, batch_size=batch, workers=workers)
        dt = time.perf_counter() - t
        assert report.indexed == len(list(folder.glob("*.jpg"))), report
        lib.close()
    return report.indexed / dt


def bench_model_only(emb, n: int, batch: int) -> float:
    import torch

    x = torch.randn(batch, 3, 224, 224)
    emb.encode_batch(x)  # warm-up
    t = time.perf_counter()
    done = 0
    while done < n:
        emb.encode_batch(x[: min(batch, n - done)])
        done += min(batch, n - done)
    return n / (time.perf_counter() - t)


def bench_naive(folder: Path, emb, batch: int) -> float:
    """What a first attempt does: full-size decode, preprocess and encode, all in one thread."""
    import torch

    files = sorted(folder.glob("*.jpg"))
    t = time.perf_counter()
    for i in range(0, len(files), batch):
        tensors = [emb.preprocess(Image.open(f).convert("RGB")) for f in files[i:i + batch]]
        emb.encode_batch(torch.stack(tensors))
    return len(files) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=None, help="decode threads (default: the pipeline's own)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--quick", action="store_true", help="16 images of 2000x1500, to check the script runs")
    args = ap.parse_args()
    if args.quick:
        args.images, args.size = 16, "2000x1500"
    size = tuple(int(v) for v in args.size.split("x"))
    print(f"machine: {machine()}")
    emb = random_vit_b32(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        make_photos(folder, args.images, size)
        mb = sum(f.stat().st_size for f in folder.glob("*.jpg")) / len(list(folder.glob("*.jpg"))) / 1e6
        print(f"folder: {args.images} JPEGs of {size[0]}x{size[1]} ({mb:.1f} MB each), made in "
              f"{time.perf_counter() - t:.0f} s; batch size {args.batch_size}, device {args.device}")
        model = bench_model_only(emb, args.images, args.batch_size)
        print(f"model only (ready tensors):         {model:7.2f} images/s")
        pipe = bench_pipeline(folder, emb, args.batch_size, args.workers)
        print(f"index pipeline (decode overlapped): {pipe:7.2f} images/s")
        naive = bench_naive(folder, emb, args.batch_size)
        print(f"naive (full decode, one thread):    {naive:7.2f} images/s")
    print(f"pipeline / model-only = {pipe / model:.2f}   (target >= 0.85)")
    print(f"pipeline / naive      = {pipe / naive:.2f}   (target >= 1.8)")


if __name__ == "__main__":
    main()
