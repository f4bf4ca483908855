"""Pixel-level confirmation of near-duplicates: a small fingerprint of each decoded photo (a 32x32
colour thumbnail and a 64-bit perceptual hash), and the test that says two photos are the same
picture, allowing a resize, a recompression and a light crop.

CLIP only proposes candidates (core.duplicates): it calls two drawings of a red circle alike even
when they are different pictures. Two photos are the same picture when one thumbnail, cropped by at
most MAX_CROP on each side (the crop that fits best is searched), matches the other within
MAX_RMS levels (0-255, RGB). The perceptual hash is stored and reported beside it; it decides
nothing, because a light crop moves it as far as a different picture does (see README, measured).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ImageError
from .progress import Progress, ProgressFn

if TYPE_CHECKING:
    from .library import FileInfo, Library

SIDE = 32  # the fingerprint thumbnail is SIDE x SIDE RGB, the whole photo squeezed (aspect ignored)
CROP_STEPS = (0.0, 0.04, 0.08)  # the coarse crops searched on each side, as fractions of the side
REFINE_STEPS = (0.02, 0.01, 0.005)  # then around the best one, finer and finer
MAX_CROP = CROP_STEPS[-1] + sum(REFINE_STEPS)
# Root-mean-square difference (0-255 levels) under which two aligned, slightly blurred thumbnails
# are the same picture. Measured on drawn pictures (bench/duplicate_pixels.py, 6 per class):
# copies resized to half, saved at JPEG quality 60 and cropped by up to 5% stayed at or below 5.0;
# different drawings of the same colour and shape at or above 11.6. 8 sits between them.
MAX_RMS = 8.0
FINGERPRINT_VERSION = 1  # bump when SIDE, the resampling or the hash changes: stored prints are made again


@dataclass(frozen=True)
class Fingerprint:
    thumb: np.ndarray  # [SIDE, SIDE, 3] uint8
    phash: int  # imagehash.phash of the upright photo, 64 bits

    def to_bytes(self) -> bytes:
        return np.ascontiguousarray(self.thumb, np.uint8).tobytes()

    @staticmethod
    def from_bytes(thumb: bytes, phash: int) -> Fingerprint:
        return Fingerprint(np.frombuffer(thumb, np.uint8).reshape(SIDE, SIDE, 3), phash)


def fingerprint_image(image: object) -> Fingerprint:
    """The fingerprint of a decoded RGB PIL image."""
    import imagehash
    from PIL import Image

    assert isinstance(image, Image.Image)
    im = image.convert("RGB")
    thumb = np.asarray(im.resize((SIDE, SIDE), Image.Resampling.BOX if min(im.size) >= SIDE
                                 else Image.Resampling.BICUBIC), np.uint8)
    return Fingerprint(thumb.copy(), int(str(imagehash.phash(im)), 16))


def fingerprint_file(path: Path) -> Fingerprint:
    """Decode a photo (core.images: RAW files and videos too, upright) and fingerprint it.

    Raises ImageError when it cannot be decoded."""
    from .images import decode

    # 4x the thumbnail: a JPEG decodes at a reduced DCT scale, and the box filter still averages.
    return fingerprint_image(decode(path, min_side=4 * SIDE).image)


def hamming(a: int, b: int) -> int:
    return int(bin(a ^ b).count("1"))


@lru_cache(maxsize=4096)
def _resampling(spans: tuple[tuple[float, float], ...]) -> np.ndarray:
    """[len(spans), SIDE, SIDE]: bilinear resampling of each span [lo, 1 - hi] of a side onto SIDE pixels."""
    mats = np.zeros((len(spans), SIDE, SIDE), np.float32)
    at = np.arange(SIDE)
    for k, (lo, hi) in enumerate(spans):
        u = lo + (at + 0.5) / SIDE * (1.0 - lo - hi)  # output pixel centres as fractions of the side
        s = np.clip(u * SIDE - 0.5, 0, SIDE - 1)
        i0 = np.floor(s).astype(int)
        i1 = np.minimum(i0 + 1, SIDE - 1)
        w = (s - i0).astype(np.float32)
        mats[k, at, i0] += 1 - w
        mats[k, at, i1] += w
    return mats


_GRID = tuple((lo, hi) for lo in CROP_STEPS for hi in CROP_STEPS)


def _near(span: tuple[float, float], step: float) -> tuple[tuple[float, float], ...]:
    lo, hi = span
    return tuple((round(max(0.0, lo + i * step), 4), round(max(0.0, hi + j * step), 4))
                 for i in (-1, 0, 1) for j in (-1, 0, 1))


def _search(a: np.ndarray, b: np.ndarray, ys: tuple[tuple[float, float], ...],
            xs: tuple[tuple[float, float], ...]) -> tuple[float, tuple[float, float], tuple[float, float]]:
    """The crop of `a` (a row span from ys, a column span from xs) closest to `b`: (rms, ys, xs)."""
    my, mx = _resampling(ys).reshape(-1, SIDE), _resampling(xs).reshape(-1, SIDE)
    # Separable: every row span first, then every column span of each.
    rows = (my @ a.reshape(SIDE, SIDE * 3)).reshape(len(ys), SIDE, SIDE, 3)  # [span_y, y, j, c]
    cols = rows.transpose(0, 1, 3, 2).reshape(-1, SIDE) @ mx.T  # [(span_y, y, c), (span_x, x)]
    d = cols.reshape(len(ys), SIDE, 3, len(xs), SIDE) - b.transpose(0, 2, 1)[None, :, :, None, :]
    rms = np.sqrt((d * d).mean(axis=(1, 2, 4)))
    p, q = np.unravel_index(int(rms.argmin()), rms.shape)
    return float(rms[p, q]), ys[p], xs[q]


def _best_crop_rms(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest RMS difference between a crop of `a` (each side up to MAX_CROP, found on a 4%
    grid, then refined to 2%, 1% and 0.5%) and `b`, both blurred thumbnails (float32)."""
    rms, ys, xs = _search(a, b, _GRID, _GRID)
    for step in REFINE_STEPS:
        found = _search(a, b, _near(ys, step), _near(xs, step))
        if found[0] < rms:
            rms, ys, xs = found
    return rms


def _blurred(thumb: np.ndarray) -> np.ndarray:
    """A [1, 2, 1] binomial blur each way: a small photo's sensor noise and the half pixel a crop
    is off by would otherwise count as differences; a moved or resized object still does."""
    f = thumb.astype(np.float32)
    f = np.pad(f, ((1, 1), (0, 0), (0, 0)), mode="edge")
    f = 0.25 * f[:-2] + 0.5 * f[1:-1] + 0.25 * f[2:]
    f = np.pad(f, ((0, 0), (1, 1), (0, 0)), mode="edge")
    return 0.25 * f[:, :-2] + 0.5 * f[:, 1:-1] + 0.25 * f[:, 2:]


def difference(a: Fingerprint, b: Fingerprint) -> float:
    """How far apart two photos are as pictures: RMS levels after the best light crop of either."""
    ta, tb = _blurred(a.thumb), _blurred(b.thumb)
    plain = float(np.sqrt(((ta - tb) ** 2).mean()))
    if plain <= 0.5:  # the same pixels (a copy of the file, a lossless re-save): nothing to search
        return plain
    return min(_best_crop_rms(ta, tb), _best_crop_rms(tb, ta))


def same_picture(a: Fingerprint, b: Fingerprint, max_rms: float = MAX_RMS) -> bool:
    return difference(a, b) <= max_rms


@dataclass
class Prints:
    """The fingerprints of a set of photos, by file id (None: the photo could not be decoded)."""

    prints: dict[int, Fingerprint | None]
    unreadable: list[tuple[str, str]]  # (path, reason)
    decoded: int  # how many were decoded now (the rest came from the library's cache)

    def difference(self, a: FileInfo, b: FileInfo) -> float | None:
        pa, pb = self.prints.get(a.id), self.prints.get(b.id)
        return None if pa is None or pb is None else difference(pa, pb)


def fingerprints(library: Library, files: Sequence[FileInfo], progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None, workers: int | None = None) -> Prints:
    """Fingerprints of these photos: from the library's cache by content hash, else decoded (in a
    thread pool; Pillow, rawpy and PyAV release the GIL) and stored for the next time."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from .store import StoredPrint

    store = library.store.duplicates
    hashes = store.content_hashes([f.id for f in files])
    cached = store.prints((h for h in hashes.values() if h), FINGERPRINT_VERSION)
    by_hash: dict[str, Fingerprint | None] = {}
    reasons: dict[str, str] = {}
    for h, row in cached.items():
        by_hash[h] = None if row.thumb is None else Fingerprint.from_bytes(row.thumb, int(row.phash or "0", 16))
        if row.error:
            reasons[h] = row.error
    todo: dict[str, FileInfo] = {}
    for f in files:
        fh = hashes.get(f.id)
        if fh and fh not in by_hash and fh not in todo:
            todo[fh] = f

    def make(item: tuple[str, FileInfo]) -> StoredPrint:
        h, f = item
        try:
            fp = fingerprint_file(f.path)
        except ImageError as e:
            return StoredPrint(h, None, None, e.reason)
        except OSError as e:
            return StoredPrint(h, None, None, e.strerror or str(e))
        return StoredPrint(h, fp.to_bytes(), f"{fp.phash:016x}", None)

    made: list[StoredPrint] = []
    total = len(todo)
    if total:
        n = workers or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=n) as pool:
            for done, row in enumerate(pool.map(make, todo.items()), 1):
                made.append(row)
                if progress is not None:
                    progress(Progress("checking pixels", done, total))
                if cancel is not None and cancel.is_set():
                    pool.shutdown(wait=True, cancel_futures=True)
                    break
    for row in made:
        by_hash[row.content_hash] = (None if row.thumb is None
                                     else Fingerprint.from_bytes(row.thumb, int(row.phash or "0", 16)))
        if row.error:
            reasons[row.content_hash] = row.error
    # A file that vanished is not cached as undecodable: its hash may come back with the file.
    keep = [r for r in made if r.thumb is not None or todo[r.content_hash].path.exists()]
    if keep and not library.read_only:
        store.save_prints(keep, FINGERPRINT_VERSION, time.time())
    out: dict[int, Fingerprint | None] = {}
    unreadable = []
    for f in files:
        fh = hashes.get(f.id)
        out[f.id] = by_hash.get(fh) if fh else None
        if out[f.id] is None:
            unreadable.append((str(f.path), reasons.get(fh or "", "not indexed from its bytes")))
    return Prints(out, unreadable, len(made))
