"""The face pass (core.faces) on the CPU: photos/s on 12-megapixel and phone-size photos, the
slowdown of `index --faces` against `index`, and the recall of faces by size.

The photos are made from the shared real face photos (../shared/testdata/faces): each face is cut
out with its surroundings, scaled so that the face box has a chosen size, and pasted onto a blotchy
background of 4000x3000 (12 MP) or 1600x1200 (phone size) pixels, saved as JPEG (quality 90). The
true box is the source's box found at full size, scaled; a face counts as found when a box found
overlaps it with IoU >= 0.3.

Usage: python bench/faces.py [--photos 32] [--quick] [--min-face PX] [--threads]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, random_vit_b32  # noqa: E402

SHARED = next((d / "shared" / "testdata" / "faces" for d in Path(__file__).resolve().parents
              if (d / "shared" / "testdata" / "faces").is_dir()),
             Path(__file__).resolve().parents[2] / "shared" / "testdata" / "faces")
SIZES_12MP = [60, 70, 80, 100, 120, 180, 260, 400]
SIZES_PHONE = [40, 60, 80, 120, 200, 300]
CORES = os.cpu_count() or 1
CPU_PHOTOS = 12


def source_faces() -> list[tuple[object, tuple[int, int, int, int]]]:
    """(PIL image, face box) of every face of the shared photos, found at full size."""
    import dlib
    from PIL import Image

    det = dlib.get_frontal_face_detector()
    out = []
    for p in sorted(SHARED.iterdir()):
        if p.suffix.lower() not in (".jpg", ".png"):
            continue
        im = Image.open(p).convert("RGB")
        for r in det(np.asarray(im), 1):
            out.append((im, (r.left(), r.top(), r.right(), r.bottom())))
    return out


def background(w: int, h: int, rng: np.random.Generator):
    from PIL import Image

    small = rng.integers(40, 220, (h // 100 + 2, w // 100 + 2, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)


def make_photo(size: tuple[int, int], n_faces: int, sizes: list[int], faces, rng) -> tuple[object, list]:
    """A canvas with n_faces pasted faces (one per cell of a grid); returns (image, true boxes)."""
    from PIL import Image

    w, h = size
    canvas = background(w, h, rng)
    cols = 2 if n_faces > 1 else 1
    rows = (n_faces + cols - 1) // cols
    cw, ch = w // cols, h // rows
    truth = []
    for i in range(n_faces):
        im, (x0, t, r, b) = faces[rng.integers(len(faces))]
        side = int(rng.choice(sizes))
        scale = side / (r - x0)
        # the face with one face-width of surroundings on each side, as far as the source has it
        m = r - x0
        crop_box = (max(0, x0 - m), max(0, t - m), min(im.width, r + m), min(im.height, b + m))
        piece = im.crop(crop_box)
        piece = piece.resize((max(1, round(piece.width * scale)), max(1, round(piece.height * scale))),
                             Image.Resampling.LANCZOS)
        if piece.width > cw or piece.height > ch:
            continue
        cx, cy = (i % cols) * cw, (i // cols) * ch
        ox = cx + int(rng.integers(0, cw - piece.width + 1))
        oy = cy + int(rng.integers(0, ch - piece.height + 1))
        canvas.paste(piece, (ox, oy))
        fl, ft = ox + (x0 - crop_box[0]) * scale, oy + (t - crop_box[1]) * scale
        truth.append((fl, ft, fl + (r - x0) * scale, ft + (b - t) * scale))
    return canvas, truth


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def write_set(dest: Path, n: int, size, n_faces: int, sizes, faces, seed: int) -> dict[str, list]:
    dest.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    truth = {}
    for i in range(n):
        im, boxes = make_photo(size, n_faces, sizes, faces, rng)
        name = f"p{i:03d}.jpg"
        im.save(dest / name, "JPEG", quality=90)
        truth[name] = boxes
    return truth


def run_set(label: str, folder: Path, truth: dict[str, list], embedder, tmp: Path, min_face: int | None,
            processes: bool | None) -> None:
    from clipgallery.core.face_detect import detect_faces
    from clipgallery.core.faces import index_faces
    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library

    lib = Library(folder, tmp / f"lib-{label}")
    t0, c0 = time.perf_counter(), time.process_time()
    clip = index_folder(lib, embedder)
    t_index, c_index = time.perf_counter() - t0, time.process_time() - c0
    store = lib.faces
    store.set_enabled(True)
    commits: list[tuple[float, int]] = []

    def progress(p) -> None:
        if p.phase == "faces" and p.done:
            commits.append((time.perf_counter(), p.done))

    t0 = time.perf_counter()
    report = index_faces(lib, min_face=min_face, processes=processes, progress=progress)
    t_faces = time.perf_counter() - t0
    n = clip.indexed
    # CPU time of the same work on one thread of this process (the pass's workers are other
    # processes, whose CPU time this process cannot read), on the first CPU_PHOTOS photos
    names = sorted(truth)[:CPU_PHOTOS]
    c0 = time.process_time()
    for name in names:
        detect_faces(folder / name, min_face)
    c_photo = (time.process_time() - c0) / len(names)
    c_faces = c_photo * n
    found = {}
    for f in store.faces():
        found.setdefault(f.path.name, []).append(f.box)
    buckets: dict[int, list[int]] = {}  # pasted face size -> [found, pasted]
    false = 0
    for name, boxes in truth.items():
        got = found.get(name, [])
        for b in boxes:
            hit_total = buckets.setdefault(round(b[2] - b[0]), [0, 0])
            hit_total[1] += 1
            hit_total[0] += any(iou(b, g) >= 0.3 for g in got)
        false += sum(1 for g in got if not any(iou(b, g) >= 0.3 for b in boxes))
    big = [sum(v[i] for k, v in buckets.items() if k >= 80) for i in (0, 1)]
    small = [sum(v[i] for k, v in buckets.items() if k >= 60) for i in (0, 1)]
    steady = ""
    if len(commits) >= 2 and commits[-1][1] > commits[0][1]:
        rate = (commits[-1][1] - commits[0][1]) / (commits[-1][0] - commits[0][0])
        steady = (f"; {rate:.2f} photos/s from its first committed batch to its last (without starting "
                  f"the workers)")
    print(f"\n{label}: {n} photos, {sum(len(b) for b in truth.values())} faces pasted "
          f"(load average now {os.getloadavg()[0]:.2f})")
    print(f"  index (CLIP, ViT-B-32 random weights): {t_index:.1f} s = {n / t_index:.2f} photos/s")
    print(f"  face pass:                             {t_faces:.1f} s = {n / t_faces:.2f} photos/s "
          f"({report.faces} faces found, {report.people} people){steady}")
    print(f"  CPU time per photo: index {c_index / n:.2f} s, face pass {c_photo:.2f} s (one thread, {len(names)} "
          f"photos) -> on {CORES} idle cores the face pass would do {CORES / c_photo:.2f} photos/s")
    print(f"  index --faces against index:          x{(t_index + t_faces) / t_index:.2f} the time "
          f"(x{(c_index + c_faces) / c_index:.2f} the CPU time)")
    print("  recall by face size (box side in the photo):")
    for k, (hit, total) in sorted(buckets.items()):
        print(f"    {k:>4} px: {hit}/{total} = {hit / total:.0%}")
    if small[1]:
        print(f"  recall of faces >= 60 px: {small[0]}/{small[1]} = {small[0] / small[1]:.0%}")
    if big[1]:
        print(f"  recall of faces >= 80 px: {big[0]}/{big[1]} = {big[0] / big[1]:.0%}; boxes found on no "
              f"pasted face: {false}")
    lib.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=32, help="photos per set (default 32)")
    ap.add_argument("--quick", action="store_true", help="4 photos per set")
    ap.add_argument("--min-face", type=int, help="smallest face side to look for, in px (default core.faces.MIN_FACE_PX; "
                    "the detection scale follows)")
    ap.add_argument("--threads", action="store_true", help="search in worker threads instead of processes")
    args = ap.parse_args()
    n = 4 if args.quick else args.photos
    from clipgallery.core import faces as fc
    from clipgallery.core.indexer import default_workers

    min_face = args.min_face or fc.MIN_FACE_PX
    processes = False if args.threads else None
    if not SHARED.is_dir():
        sys.exit(f"the shared face photos are not at {SHARED}")
    print(f"machine: {machine()}")
    print(f"face pass: HOG at {fc.HOG_MIN_BOX / min_face:.2f}x for photos with a short side >= "
          f"{fc.SMALL_SIDE} px (faces from {min_face} px), 2x upsampling below; {default_workers()} worker "
          f"{'threads' if args.threads else 'processes'} (threads for a pass under {fc.PROCESS_MIN} photos)")
    faces = source_faces()
    embedder = random_vit_b32()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t12 = write_set(tmp / "12mp", n, (4000, 3000), 4, SIZES_12MP, faces, seed=1)
        tph = write_set(tmp / "phone", n, (1600, 1200), 2, SIZES_PHONE, faces, seed=2)
        run_set("12 MP (4000x3000, 4 faces each)", tmp / "12mp", t12, embedder, tmp, min_face, processes)
        run_set("phone size (1600x1200, 2 faces each)", tmp / "phone", tph, embedder, tmp, min_face, processes)


if __name__ == "__main__":
    main()
