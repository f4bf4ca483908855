"""Indexing throughput: the full pipeline vs the model alone vs a naive one-thread pipeline.

Prints images/s for each on a generated folder of 12-megapixel JPEGs with the ViT-B-32
architecture (random weights: speed does not depend on them), and the two ratios.
The `raw` row indexes a folder of DNGs (embedded preview vs demosaicing the sensor data), the `video`
row a folder of 1080p H.264 clips (seconds of video indexed per second).
Usage: python bench/index_throughput.py [--rows photos,raw,video] [--images N] [--raws N] [--videos N]
       [--batch-size B] [--device cpu|cuda] [--quick]
"""

from __future__ import annotations

import argparse
import io
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


def bench_pipeline(folder: Path, emb, batch: int, workers: int | None, pattern: str = "*.jpg") -> float:
    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library

    with tempfile.TemporaryDirectory() as libdir:
        lib = Library(folder, Path(libdir))
        t = time.perf_counter()
        report = index_folder(lib, emb, batch_size=batch, workers=workers)
        dt = time.perf_counter() - t
        assert report.indexed == len(list(folder.glob(pattern))), report
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


def make_raws(folder: Path, n: int, size: tuple[int, int]) -> None:
    """DNGs laid out as cameras write them: 16-bit RGGB sensor data plus a full-size preview JPEG."""
    from clipgallery.samples import dng_bytes

    make_photos(folder, 1, size)
    picture = Image.open(folder / "IMG_0000.jpg").convert("RGB")
    (folder / "IMG_0000.jpg").unlink()
    for i in range(n):
        (folder / f"RAW_{i:04d}.dng").write_bytes(dng_bytes(picture.rotate(i * 7), preview=True))


def bench_raw(folder: Path, emb, batch: int, workers: int | None) -> None:
    from clipgallery.core.formats import decode_raw

    files = sorted(folder.glob("*.dng"))
    mb = sum(f.stat().st_size for f in files) / len(files) / 1e6
    print(f"RAW folder: {len(files)} DNGs of {Image.open(io.BytesIO(files[0].read_bytes())).size} "
          f"with a full-size preview ({mb:.1f} MB each)")
    for label, kw in [("embedded preview (what indexing does)", {}),
                      ("demosaic at half size", {"prefer_preview": False}),
                      ("full demosaic", {"prefer_preview": False, "half_size": False})]:
        t = time.perf_counter()
        for f in files:
            decode_raw(f.read_bytes(), min_side=emb.image_size, **kw)
        dt = (time.perf_counter() - t) / len(files)
        print(f"  decode, {label:38s} {dt * 1000:8.0f} ms/file  {1 / dt:6.2f} files/s")
    rate = bench_pipeline(folder, emb, batch, workers, "*.dng")
    print(f"  index pipeline (preview path):                {rate:6.2f} files/s")


def make_videos(folder: Path, n: int, seconds: float, size: tuple[int, int], fps: int = 30) -> float:
    """H.264 clips as phones record them (a keyframe every second); returns the total length in seconds."""
    import av

    rng = np.random.default_rng(1)
    w, h = size
    total = 0.0
    for i in range(n):
        with av.open(str(folder / f"VID_{i:04d}.mp4"), "w") as c:
            s = c.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "g": str(fps)})
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            base = rng.integers(0, 255, (h // 16, w // 16, 3), dtype=np.uint8)
            for k in range(int(seconds * fps)):
                arr = np.roll(base, k // 4, axis=1).repeat(16, 0).repeat(16, 1)
                for p in s.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        total += seconds
    return total


def bench_video(folder: Path, emb, batch: int, workers: int | None, total_seconds: float) -> None:
    files = sorted(folder.glob("*.mp4"))
    mb = sum(f.stat().st_size for f in files) / len(files) / 1e6
    print(f"video folder: {len(files)} H.264 clips, {total_seconds / len(files):.0f} s each ({mb:.1f} MB each)")
    rate = bench_pipeline(folder, emb, batch, workers, "*.mp4")
    print(f"  index pipeline: {rate:6.2f} clips/s = {rate * total_seconds / len(files):7.1f} seconds of video/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=None, help="decode threads (default: the pipeline's own)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--rows", default="photos,raw,video", help="which rows: photos, raw, video (comma-separated)")
    ap.add_argument("--raws", type=int, default=8, help="DNGs in the raw row (of --size)")
    ap.add_argument("--videos", type=int, default=4, help="clips in the video row")
    ap.add_argument("--video-seconds", type=float, default=10.0)
    ap.add_argument("--video-size", default="1920x1080")
    ap.add_argument("--quick", action="store_true", help="16 images of 2000x1500, to check the script runs")
    args = ap.parse_args()
    if args.quick:
        args.images, args.size, args.raws, args.videos, args.video_seconds = 16, "2000x1500", 4, 2, 3.0
    size = tuple(int(v) for v in args.size.split("x"))
    rows = set(args.rows.split(","))
    print(f"machine: {machine()}")
    emb = random_vit_b32(args.device)
    if "raw" in rows:
        with tempfile.TemporaryDirectory() as tmp:
            make_raws(Path(tmp), args.raws, size)
            bench_raw(Path(tmp), emb, args.batch_size, args.workers)
    if "video" in rows:
        with tempfile.TemporaryDirectory() as tmp:
            vsize = tuple(int(v) for v in args.video_size.split("x"))
            total = make_videos(Path(tmp), args.videos, args.video_seconds, vsize)
            bench_video(Path(tmp), emb, args.batch_size, args.workers, total)
    if "photos" not in rows:
        return
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
