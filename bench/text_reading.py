"""Text in photos: how fast the reading pass is with and without the detector gate, how much it slows
`index --text` against `index`, and the recall of the photos with text.

Generates a folder where one photo in ten holds a sign (varied fonts, sizes, angles, light-on-dark
and dark-on-light) on a photo-like background, indexes it with the ViT-B-32 architecture (random
weights: speed does not depend on them), then reads it twice (gate off, gate on). Recall: a text
photo counts as found when `text:WORD` returns it.
Usage: python bench/text_reading.py [--photos N] [--size WxH] [--gate-signs N] [--gate-side PX] [--whole-photo]
       [--skip-ungated]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, random_vit_b32  # noqa: E402

WORDS = ["BAKERY", "Pharmacy", "harbour", "RECEIPT", "Museum", "Station", "Garage", "Library", "Theatre",
         "Parking", "Hotel", "Market", "Invoice", "Welcome", "Exit"]


def fonts() -> list[Path]:
    found = []
    for d in (Path("/usr/share/fonts"), Path("/Library/Fonts"), Path("C:/Windows/Fonts")):
        if d.is_dir():
            found += sorted(d.rglob("*.ttf"))
    return found


def background(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Smooth structure, a few blobs and sensor-like noise: texture the detector must not call text."""
    w, h = size
    small = Image.fromarray(rng.integers(0, 255, (h // 32, w // 32, 3), dtype=np.uint8))
    img = small.resize(size, Image.Resampling.BICUBIC)
    d = ImageDraw.Draw(img)
    for _ in range(5):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(20, min(w, h) / 4)
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    noise = rng.normal(0, 5, (h, w, 3)).astype(np.int16)
    return Image.fromarray(np.clip(np.asarray(img, np.int16) + noise, 0, 255).astype(np.uint8))


def with_sign(img: Image.Image, word: str, rng: np.random.Generator, ttf: list[Path]) -> Image.Image:
    w, h = img.size
    size = int(rng.uniform(0.025, 0.09) * h)
    font = ImageFont.truetype(str(ttf[rng.integers(len(ttf))]), size) if ttf else ImageFont.load_default(size=size)
    light = bool(rng.integers(2))
    box = ImageDraw.Draw(img).textbbox((0, 0), word, font=font)
    pw, ph = box[2] - box[0] + size, box[3] - box[1] + size
    panel = Image.new("RGBA", (pw, ph), (25, 30, 40, 255) if light else (240, 236, 220, 255))
    ImageDraw.Draw(panel).text((size // 2 - box[0], size // 2 - box[1]), word, font=font,
                               fill=(250, 250, 235, 255) if light else (20, 20, 25, 255))
    panel = panel.rotate(float(rng.uniform(-15, 15)), expand=True, resample=Image.Resampling.BICUBIC)
    x = int(rng.uniform(0, max(1, w - panel.width)))
    y = int(rng.uniform(0, max(1, h - panel.height)))
    img.paste(panel, (x, y), panel)
    return img


def make_folder(folder: Path, n: int, size: tuple[int, int]) -> dict[str, str]:
    """-> file name -> the word written in it, for the one photo in ten that has one."""
    rng = np.random.default_rng(7)
    ttf = fonts()
    truth = {}
    for i in range(n):
        img = background(rng, size)
        name = f"IMG_{i:04d}.jpg"
        if i % 10 == 3:
            word = WORDS[len(truth) % len(WORDS)]
            img = with_sign(img, word, rng, ttf)
            truth[name] = word
        img.save(folder / name, "JPEG", quality=90)
    return truth


def main() -> None:
    from clipgallery.core.textread import DET_SIDE, GATE_SIDE

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=40)
    ap.add_argument("--size", default="1600x1200")
    ap.add_argument("--gate-signs", type=int, default=60, help="extra signs the gate alone is tried on")
    ap.add_argument("--gate-side", type=int, default=GATE_SIDE, help="longest side of the gate's detector pass")
    ap.add_argument("--det-side", type=int, default=DET_SIDE or 0,
                    help="longest side the full pass detects lines at (0: RapidOCR's own, the full photo)")
    ap.add_argument("--whole-photo", action="store_true",
                    help="detect the lines of a gated photo over the whole photo, not around the gate's boxes")
    ap.add_argument("--workers", type=int, default=0, help="photos gated at once (0: read_folder's default)")
    ap.add_argument("--skip-ungated", action="store_true", help="do not time the (slow) read without the gate")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))

    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library
    from clipgallery.core.textread import READ_SIDE, TextReader, read_folder
    from clipgallery.core.textsearch import find_text

    print(f"machine: {machine()}")
    emb = random_vit_b32("cpu")
    reader = TextReader(gate_side=args.gate_side, det_side=args.det_side or None, regions=not args.whole_photo)
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        truth = make_folder(photos, args.photos, size)
        print(f"folder: {args.photos} photos of {size[0]}x{size[1]}, {len(truth)} with a sign; "
              f"read at {READ_SIDE} px (lines found at {args.det_side or 'full'} px, "
              f"{'over the whole photo' if args.whole_photo else 'around the gate boxes'}), gate at {args.gate_side} px")
        lib = Library(photos, Path(tmp) / "lib")
        t0, c0 = time.perf_counter(), time.process_time()
        report = index_folder(lib, emb, batch_size=16)
        t_index, c_index = time.perf_counter() - t0, time.process_time() - c0
        assert report.indexed == args.photos, report
        print(f"index (ViT-B-32, CPU):           {args.photos / t_index:6.2f} photos/s  ({t_index:.1f} s; "
              f"{c_index:.1f} s of CPU)")

        store = lib.text
        results = {}
        gates = (True,) if args.skip_ungated else (False, True)
        for gate in gates:
            store.set_enabled(False)  # forget what the previous run read
            store.set_enabled(True)
            t0, c0 = time.perf_counter(), time.process_time()
            rep = read_folder(lib, reader, gate=gate, workers=args.workers or None)
            t_read, c_read = time.perf_counter() - t0, time.process_time() - c0
            found = sum(any(lib.files([fid])[0].path.name == name for fid in find_text(store, word))
                        for name, word in truth.items())
            false_pos = rep.with_text - sum(1 for _ in truth) if rep.with_text > len(truth) else 0
            results[gate] = (t_read, c_read, found)
            label = "read, gate on " if gate else "read, gate off"
            print(f"{label}:                  {args.photos / t_read:6.2f} photos/s  ({t_read:.1f} s; "
                  f"{rep.read} read in full, {rep.gated} skipped by the gate, {rep.with_text} with text, "
                  f"{false_pos} more than the signs; {c_read:.1f} s of CPU)")
            print(f"  recall of the text photos:      {found}/{len(truth)} = {found / max(1, len(truth)):.2f}")
        # The gate alone on many more signs (it is what decides recall; reading them in full is slow).
        rng = np.random.default_rng(99)
        ttf = fonts()
        extra = [with_sign(background(rng, size), WORDS[i % len(WORDS)], rng, ttf) for i in range(args.gate_signs)]
        seen = sum(reader.has_text(im) for im in extra)
        print(f"gate recall on {args.gate_signs} more signs:   {seen}/{args.gate_signs} = "
              f"{seen / max(1, args.gate_signs):.2f}")
        for gate in gates:
            t_read, c_read, _ = results[gate]
            ratio = t_index / (t_index + t_read)
            print(f"index --text vs index, gate {'on ' if gate else 'off'}: {ratio:.2f}x the speed "
                  f"({args.photos / (t_index + t_read):.2f} photos/s); by CPU time "
                  f"{c_index / (c_index + c_read):.2f}x")


if __name__ == "__main__":
    main()
