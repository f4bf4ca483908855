"""The vectors of one (library, model) as memory-mapped .npy files beside the SQLite file.

A fresh process then reaches every vector without reading a row of SQLite: the matrix is mapped,
and only the pages a search touches are read. The files are a cache: SQLite stays the source of
truth, and the files are trusted only when their key (the library's uid and generation, the model
and its dimension) matches the library now; otherwise they are rebuilt from SQLite. Deleting them
is always safe.

  matrix-<model>.json                 the key and the names of the three arrays (written last)
  matrix-<model>-<token>.npy          vectors [n, dim] float32, rows sorted by file id
  matrix-<model>-<token>-ids.npy      file ids [n] int64, sorted
  matrix-<model>-<token>-dates.npy    when taken, else modified [n] float64 POSIX seconds

The app's listing of the folder (every readable file in relpath order, its date, the count per
folder) is kept the same way, so a library of a million photos shows its grid without a million
SQLite rows read one at a time while torch is imported beside it:

  listing.json                        the key, the counts per folder and the names of the arrays
  listing-<token>-ids.npy             file ids [n] int64, in relpath order
  listing-<token>-dates.npy           when taken, else modified [n] float64, aligned with ids
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1


@dataclass(frozen=True)
class Matrix:
    """The library's vectors of one model at one generation, with what filters need per row."""

    generation: int
    ids: np.ndarray  # int64 file ids, sorted
    dates: np.ndarray  # float64 POSIX seconds (NaN: unknown), aligned with ids
    mat: np.ndarray  # float32 [n, dim] unit vectors, aligned with ids (read-only; often a memory map)
    source: str  # "memory" | "mapped" (from the files) | "sqlite" (read from SQLite just now)


def stem(model_id: int) -> str:
    return f"matrix-{int(model_id)}"


def key(library: Any, model_id: int, dim: int) -> dict[str, Any] | None:
    """What a cache must match to be trusted now; None when the library has no uid (cannot tell)."""
    uid = library.uid
    if uid is None:
        return None
    return {"format": FORMAT, "uid": uid, "generation": int(library.generation), "model_id": int(model_id),
            "dim": int(dim)}


def _file(base: str, field: str) -> str:
    return f"{base}.npy" if field == "vectors" else f"{base}-{field}.npy"


def _load_arrays(folder: Path, name: str, want: dict[str, Any], fields: tuple[str, ...]
                 ) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """(meta, mapped arrays) of the cache `name` when its json holds every key of `want` and its
    arrays open, else None."""
    try:
        meta = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        if any(meta.get(k) != v for k, v in want.items()):
            return None
        return meta, {field: np.load(folder / meta[field], mmap_mode="r") for field in fields}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError):
        return None


def _save_arrays(folder: Path, name: str, arrays: dict[str, np.ndarray], meta: dict[str, Any],
                 token: str | None = None, written: tuple[str, ...] = ()) -> None:
    """Write the arrays under fresh names, then point `<name>.json` at them (the atomic step), then
    drop older ones. With `token`, the `written` fields are already in their files (through a map)."""
    token = token or secrets.token_hex(6)
    base = f"{name}-{token}"
    names = {field: _file(base, field) for field in (*arrays, *written)}
    try:
        for field, arr in arrays.items():
            with open(folder / names[field], "wb") as f:
                np.save(f, np.ascontiguousarray(arr))
        tmp = folder / f"{name}.json.{token}.tmp"
        tmp.write_text(json.dumps({**meta, **names, "saved_at": time.time()}), encoding="utf-8")  # ASCII
        os.replace(tmp, folder / f"{name}.json")
    except BaseException:
        for file in names.values():
            with contextlib.suppress(OSError):
                (folder / file).unlink()
        raise
    remove_others(folder, name, keep=set(names.values()))


def load(folder: Path, model_id: int, want: dict[str, Any]) -> Matrix | None:
    """The cached matrix when its key equals `want` and its files are whole, else None."""
    got = _load_arrays(folder, stem(model_id), want, ("vectors", "ids", "dates"))
    if got is None:
        return None
    meta, a = got
    mat, ids, dates = a["vectors"], a["ids"], a["dates"]
    n, dim = meta.get("count"), want["dim"]
    if mat.dtype != np.float32 or mat.shape != (n, dim) or ids.shape != (n,) or dates.shape != (n,) \
            or ids.dtype != np.int64 or dates.dtype != np.float64:
        return None
    return Matrix(int(want["generation"]), ids, dates, mat, "mapped")


def save(folder: Path, model_id: int, matrix: Matrix, info: dict[str, Any], token: str | None = None) -> None:
    """Save the matrix's arrays for the next process. With `token`, the vectors are already in
    `matrix-<model>-<token>.npy` (written through a map)."""
    arrays = {"ids": matrix.ids, "dates": matrix.dates}
    if token is None:
        arrays["vectors"] = matrix.mat
    _save_arrays(folder, stem(model_id), arrays, {**info, "count": len(matrix.ids)}, token,
                 written=("vectors",) if token is not None else ())


def remove_others(folder: Path, name: str, keep: set[str], suffixes: tuple[str, ...] = (".npy",)) -> None:
    """Drop the files of older caches of `name` (a process may still map one: on Windows it goes
    next time), and temporary files a stopped save left more than an hour ago."""
    for p in folder.glob(f"{name}-*"):
        if p.name not in keep and p.suffix in suffixes:
            with contextlib.suppress(OSError):
                p.unlink()
    for p in folder.glob(f"{name}.json.*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - p.stat().st_mtime > 3600:
                p.unlink()


SPOT_ROWS = 8


def spot_check(library: Any, model_id: int, m: Matrix) -> bool:
    """A few rows of the mapped matrix, picked afresh each time, equal to SQLite's, bit for bit.

    The vectors file is written through a memory map and left to the OS to write back, so a power
    cut could leave the json pointing at pages never written; this catches that (and any other
    damage to the file) for a handful of primary-key lookups."""
    if len(m.ids) == 0:
        return True
    rows = np.random.default_rng().integers(0, len(m.ids), min(SPOT_ROWS, len(m.ids)))
    rows = np.unique(np.concatenate([rows, [0, len(m.ids) - 1]]))
    stored = library.store.vectors.vectors_of(model_id, [int(i) for i in m.ids[rows]])
    try:
        return all(np.array_equal(stored[int(m.ids[r])], m.mat[r]) for r in rows)
    except KeyError:
        return False


def matrix(library: Any, model_id: int, dim: int, write: bool = True) -> Matrix:
    """The library's matrix for a model now: from the cache files when they are current, else read
    from SQLite (and, with `write` on a writable library, written for the next process: straight
    into the mapped cache file as it is read, so the vectors never sit in memory twice and the OS
    writes them back at its own pace)."""
    want = key(library, model_id, dim)
    if want is not None:
        hit = load(library.dir, model_id, want)
        if hit is not None and spot_check(library, model_id, hit):
            return hit
    if not (write and want is not None and not library.read_only):
        gen, ids, dates, mat = library.store.vectors.read_matrix(model_id)
        return Matrix(gen, ids, dates, mat, "sqlite")
    token = secrets.token_hex(6)
    path = library.dir / f"{stem(model_id)}-{token}.npy"

    def alloc(n: int, d: int) -> np.ndarray:
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
        if hasattr(os, "posix_fallocate"):  # the blocks now: a full disk is an OSError, not a SIGBUS later
            with open(path, "r+b") as f:
                os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        return out

    try:
        gen, ids, dates, mat = library.store.vectors.read_matrix(model_id, alloc)
        fresh = Matrix(gen, ids, dates, mat, "sqlite")
        if gen == want["generation"]:
            save(library.dir, model_id, fresh, want, token)
            return fresh
    except OSError:  # a full disk: search still works, from memory
        with contextlib.suppress(OSError):
            path.unlink()
        gen, ids, dates, mat = library.store.vectors.read_matrix(model_id)
        fresh = Matrix(gen, ids, dates, mat, "sqlite")
    with contextlib.suppress(OSError):  # an index run committed meanwhile: this file is not kept
        path.unlink()
    return fresh


LISTING_FORMAT = 1
LISTING = "listing"


@dataclass(frozen=True)
class Listing:
    """The readable files of a library in relpath order, with their dates and the number per folder."""

    generation: int
    ids: np.ndarray  # int64, in relpath order
    dates: np.ndarray  # float64 POSIX seconds (NaN: unknown), aligned with ids
    folder_sizes: dict[str, int]  # folder relpath ("" for the root) -> readable files directly in it
    source: str  # "mapped" (from the files) | "sqlite"


def listing(library: Any, write: bool = True) -> Listing:
    """The library's listing now: from the cache files when their key (uid, generation) matches and a
    few rows agree with SQLite, else read from SQLite in one transaction (and, with `write` on a
    writable library, saved for the next process; a full disk only skips that)."""
    uid = library.uid
    want = None if uid is None else {"format": LISTING_FORMAT, "uid": uid, "generation": int(library.generation)}
    if want is not None:
        hit = _load_listing(library.dir, want)
        if hit is not None and _listing_agrees(library, hit):
            return hit
    gen, ids, dates, sizes = library.store.files.read_listing()
    fresh = Listing(gen, ids, dates, sizes, "sqlite")
    if write and want is not None and not library.read_only and gen == want["generation"]:
        with contextlib.suppress(OSError):
            _save_listing(library.dir, fresh, want)
    return fresh


def _load_listing(folder: Path, want: dict[str, Any]) -> Listing | None:
    got = _load_arrays(folder, LISTING, want, ("ids", "dates"))
    if got is None:
        return None
    meta, a = got
    ids, dates = a["ids"], a["dates"]
    try:
        sizes = {str(k): int(v) for k, v in meta["folder_sizes"]}
    except (KeyError, TypeError, ValueError):
        return None
    n = meta.get("count")
    if ids.shape != (n,) or dates.shape != (n,) or ids.dtype != np.int64 or dates.dtype != np.float64 \
            or sum(sizes.values()) != n:
        return None
    return Listing(int(want["generation"]), ids, dates, sizes, "mapped")


def _listing_agrees(library: Any, cached: Listing) -> bool:
    """A few rows, picked afresh each time, are readable files with the same date in SQLite and
    stand in relpath order (what a half-written or damaged file would get wrong)."""
    n = len(cached.ids)
    if n == 0:
        return True
    rows = np.unique(np.concatenate([np.random.default_rng().integers(0, n, min(SPOT_ROWS, n)), [0, n - 1]]))
    ids = [int(i) for i in cached.ids[rows]]
    stored = library.store.files.listing_spot_rows(ids)
    if len(stored) != len(set(ids)) or len(set(ids)) != len(ids):
        return False
    paths = [stored[i][0] for i in ids]
    if any(a > b for a, b in zip(paths, paths[1:])):
        return False
    for i, r in zip(ids, rows):
        date = stored[i][1]
        if not (np.isnan(cached.dates[r]) if date is None else cached.dates[r] == date):
            return False
    return True


def _save_listing(folder: Path, fresh: Listing, info: dict[str, Any]) -> None:
    # Folder names that are not UTF-8 keep their lone surrogates in the json as \udcXX escapes.
    _save_arrays(folder, LISTING, {"ids": fresh.ids, "dates": fresh.dates},
                 {**info, "count": len(fresh.ids), "folder_sizes": sorted(fresh.folder_sizes.items())})
