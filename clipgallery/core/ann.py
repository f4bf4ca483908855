"""Approximate nearest-neighbour search (hnswlib) over a library's vectors, kept as a disk cache.

SQLite stays the source of truth: the index files beside it are trusted when they were saved for
this library (its uid) at its current generation, else only after their id set and vector
fingerprints match what the library holds now; they are updated or rebuilt otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .annproc import AnnProcessError
from .vectorcache import remove_others

FORMAT = 1
TARGET_RECALL = 0.97  # calibrated on sample queries, with margin over the 0.95 we promise
EF_LADDER = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
CALIBRATION_QUERIES = 100
REBUILD_DELETED_FRACTION = 0.25  # more dead slots than this slows queries: build afresh
_FP_SEED = 20240611
_FP_TOL = 1e-4  # fingerprints of an unchanged vector agree to float rounding; a changed one moves far more
# From this many photos a long-lived process (the app) keeps its index in a process of its own
# (core.annproc): loading or saving it there holds no lock the app's threads wait for. 50,000
# photos make a 110 MB index, loaded in about 0.12 s.
PROCESS_MIN = 50_000


def _hnsw(dim: int, remote: bool) -> Any:
    """A fresh hnswlib inner-product index, here or in a process of its own."""
    if remote:
        from .annproc import RemoteIndex

        return RemoteIndex(dim)
    import hnswlib

    return hnswlib.Index(space="ip", dim=dim)


@dataclass(frozen=True)
class AnnParams:
    M: int = 16
    ef_construction: int = 128
    threads: int = 0  # 0: all cores, for building


def fingerprints(mat: np.ndarray) -> np.ndarray:
    """[n, 4] random projections of each vector: tell a changed vector from an unchanged one."""
    rng = np.random.default_rng(_FP_SEED)
    proj = rng.standard_normal((mat.shape[1], 4)).astype(np.float32)
    return mat @ proj if len(mat) else np.zeros((0, 4), np.float32)


BUILD_CHUNK = 2048  # vectors added per step of a build: a stop request waits at most this long


class BuildStopped(Exception):
    """A build ended early because its process is closing the library."""


class AnnIndex:
    """An hnswlib inner-product index over unit vectors labelled by file id, with a calibrated ef."""

    def __init__(self, index: Any, ids: np.ndarray, fps: np.ndarray, ef: int, recall: float,
                 calibrated_count: int):
        self.index = index
        self.ids = ids  # sorted int64 labels that are live (not marked deleted)
        self.fps = fps  # fingerprints aligned with ids
        self.ef = ef
        self.recall = recall  # recall@10 on the calibration queries at `ef`
        self.calibrated_count = calibrated_count
        self._lock = threading.Lock()

    @property
    def reliable(self) -> bool:
        """False when even the largest ef missed the recall target: exact search is the better choice."""
        return self.recall >= TARGET_RECALL

    @property
    def alive(self) -> bool:
        """False once the process holding the index has ended (core.annproc)."""
        return bool(getattr(self.index, "alive", True))

    @property
    def dead(self) -> int:
        return int(self.index.element_count) - len(self.ids)

    @classmethod
    def build(cls, ids: np.ndarray, mat: np.ndarray, params: AnnParams = AnnParams(),
              probes: np.ndarray | None = None, stop: threading.Event | None = None,
              remote: bool = False) -> AnnIndex:
        """Build the graph (in a process of its own with `remote`); `stop` ends a build between
        chunks (BuildStopped), so a process that quits never leaves hnswlib's threads running
        under an exiting interpreter."""
        ids = np.asarray(ids, dtype=np.int64)
        index = _hnsw(mat.shape[1], remote)
        try:
            return cls._build(index, ids, mat, params, probes, stop)
        except BaseException:
            _close(index)
            raise

    @classmethod
    def _build(cls, index: Any, ids: np.ndarray, mat: np.ndarray, params: AnnParams,
               probes: np.ndarray | None, stop: threading.Event | None) -> AnnIndex:
        index.init_index(max_elements=max(len(ids), 16), M=params.M, ef_construction=params.ef_construction,
                         random_seed=100)
        index.set_num_threads(params.threads or os.cpu_count() or 1)
        for start in range(0, len(ids), BUILD_CHUNK):
            if stop is not None and stop.is_set():
                raise BuildStopped("the search index build was stopped")
            index.add_items(mat[start:start + BUILD_CHUNK], ids[start:start + BUILD_CHUNK])
        ann = cls(index, ids, fingerprints(mat), EF_LADDER[-1], 0.0, 0)
        ann.calibrate(mat, probes)
        return ann

    def close(self) -> None:
        """End the process holding the index, if it has one (an index in this process is freed
        with its last reference)."""
        _close(self.index)

    def query(self, q: np.ndarray, k: int, ef: int | None = None) -> np.ndarray | None:
        """Labels of the (about) k nearest vectors to q, best first; None if the graph could not
        produce k live ones (possible with many deleted slots): the caller then searches exactly."""
        k = min(k, len(self.ids))
        if k <= 0:
            return np.zeros(0, np.int64)
        with self._lock:  # set_ef and knn_query must not interleave with another query's set_ef
            return self._knn(q, k, ef)

    def _knn(self, q: np.ndarray, k: int, ef: int | None) -> np.ndarray | None:
        self.index.set_ef(max(ef or self.ef, k))
        try:
            labels, _ = self.index.knn_query(np.asarray(q, np.float32).reshape(1, -1), k=k, num_threads=1)
        except RuntimeError:  # "Cannot return the results in a contiguous 2D array"
            return None
        return labels[0].astype(np.int64)

    def calibrate(self, mat: np.ndarray, probes: np.ndarray | None = None) -> None:
        with self._lock:
            self._calibrate(mat, probes)

    def _calibrate(self, mat: np.ndarray, probes: np.ndarray | None) -> None:
        """Choose the smallest ef whose recall@10 on sample queries meets TARGET_RECALL.

        Half the sample queries are stored vectors with noise ("more like this"), half are
        `probes`: real text queries of the model, which sit apart from the images (the modality
        gap) and are the harder case for a graph index. Without probes, random directions stand
        in for them (the worst case, and the true distribution of random test data).
        """
        n = len(self.ids)
        self.calibrated_count = n
        if n == 0:
            self.ef, self.recall = EF_LADDER[0], 1.0
            return
        queries = _calibration_queries(mat, CALIBRATION_QUERIES, probes)
        k = min(10, n)
        truth = exact_top(mat, queries, k)
        truth_ids = [set(self.ids[row].tolist()) for row in truth]
        half = len(queries) // 2
        for ef in EF_LADDER:
            got = [set(_as_list(self._knn(q, k, ef))) for q in queries]
            rec = np.array([len(g & t) / k for g, t in zip(got, truth_ids)])
            recall = float(min(rec[:half].mean(), rec[half:].mean()))
            if recall >= TARGET_RECALL or ef == EF_LADDER[-1]:
                self.ef, self.recall = ef, recall
                return

    def update(self, ids: np.ndarray, mat: np.ndarray, probes: np.ndarray | None = None,
               stop: threading.Event | None = None) -> str:
        """Bring the index in line with (ids, mat): 'same', 'updated' or 'rebuild' (caller rebuilds).
        `stop` ends it between chunks (BuildStopped); the index is then half updated: drop it."""
        with self._lock:  # no query may run through a half-applied update (resize is not thread-safe)
            return self._update(ids, mat, probes, stop)

    def _update(self, ids: np.ndarray, mat: np.ndarray, probes: np.ndarray | None,
                stop: threading.Event | None = None) -> str:
        fps = fingerprints(mat)
        if np.array_equal(ids, self.ids) and np.allclose(fps, self.fps, atol=_FP_TOL, rtol=0):
            return "same"
        common, in_old, in_new = np.intersect1d(self.ids, ids, assume_unique=True, return_indices=True)
        changed = common[np.abs(self.fps[in_old] - fps[in_new]).max(axis=1) > _FP_TOL] if len(common) else common
        removed = np.setdiff1d(self.ids, ids, assume_unique=True)
        added = np.setdiff1d(ids, self.ids, assume_unique=True)
        dead_after = self.dead + len(removed)
        if len(removed) + len(added) + len(changed) > max(len(ids), 1) // 2 or \
                dead_after > REBUILD_DELETED_FRACTION * (len(ids) + dead_after):
            return "rebuild"
        for label in removed:
            self.index.mark_deleted(int(label))
        fresh = np.concatenate([added, changed])
        if len(fresh):
            # A label deleted earlier and now back (SQLite reuses the highest id) is revived by
            # add_items, which unmarks and overwrites it; only labels never seen need new slots.
            need = int(self.index.element_count) + len(added)
            if need > self.index.get_max_elements():
                self.index.resize_index(max(need, int(self.index.get_max_elements() * 1.5)))
            rows = np.searchsorted(ids, fresh)
            for start in range(0, len(fresh), BUILD_CHUNK):  # hnswlib's threads never outlive a stop
                if stop is not None and stop.is_set():
                    raise BuildStopped("the search index update was stopped")
                self.index.add_items(mat[rows[start:start + BUILD_CHUNK]], fresh[start:start + BUILD_CHUNK])
        self.ids, self.fps = np.asarray(ids, np.int64).copy(), fps
        if not 0.5 <= len(ids) / max(self.calibrated_count, 1) <= 2.0:
            self._calibrate(mat, probes)
        return "updated"

    # -- persistence -----------------------------------------------------------------------------

    def save(self, folder: Path, stem: str, info: dict[str, Any]) -> None:
        """Write index + ids under fresh names, then point <stem>.json at them (the atomic step)."""
        token = secrets.token_hex(6)
        bin_path, ids_path = folder / f"{stem}-{token}.bin", folder / f"{stem}-{token}.npz"
        self.index.save_index(str(bin_path))
        with open(ids_path, "wb") as f:
            np.savez(f, ids=self.ids, fps=self.fps)
        meta = {**info, "format": FORMAT, "bin": bin_path.name, "ids": ids_path.name,
                "bin_size": bin_path.stat().st_size, "count": len(self.ids), "dim": int(self.index.dim),
                "ef": self.ef, "recall": self.recall, "calibrated_count": self.calibrated_count,
                "saved_at": time.time()}
        tmp = folder / f"{stem}.json.{token}.tmp"
        tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
        os.replace(tmp, folder / f"{stem}.json")
        remove_others(folder, stem, keep={bin_path.name, ids_path.name}, suffixes=(".bin", ".npz"))

    @classmethod
    def load(cls, folder: Path, stem: str, dim: int, remote_from: int | None = None
             ) -> tuple[AnnIndex, dict[str, Any]] | None:
        """The saved index, or None when it is missing, damaged or of another shape. With
        `remote_from`, an index of at least that many photos is loaded in a process of its own."""
        index = None
        try:
            meta = json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT or meta.get("dim") != dim:
                return None
            bin_path, ids_path = folder / meta["bin"], folder / meta["ids"]
            if bin_path.stat().st_size != meta["bin_size"]:
                return None
            with np.load(ids_path) as z:
                ids, fps = z["ids"].astype(np.int64), z["fps"].astype(np.float32)
            if len(ids) != meta["count"] or fps.shape != (len(ids), 4):
                return None
            index = _hnsw(dim, remote_from is not None and len(ids) >= remote_from)
            index.load_index(str(bin_path))
            if int(index.element_count) < len(ids):
                _close(index)
                return None
        except AnnProcessError:
            raise  # not the file's fault: the caller loads it here instead
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, json.JSONDecodeError):
            _close(index)
            return None
        ann = cls(index, ids, fps, int(meta["ef"]), float(meta["recall"]), int(meta["calibrated_count"]))
        return ann, meta


def _close(index: Any) -> None:
    close = getattr(index, "close", None)  # a RemoteIndex; hnswlib's own index has none
    if close is not None:
        close()


def _as_list(labels: np.ndarray | None) -> list[int]:
    return [] if labels is None else labels.tolist()


def exact_top(mat: np.ndarray, queries: np.ndarray, k: int, chunk: int = 65536) -> np.ndarray:
    """Row numbers of the k best rows of mat for each query (inner product), best first."""
    queries = np.atleast_2d(queries).astype(np.float32)
    best_s = np.full((len(queries), 0), -np.inf, np.float32)
    best_r = np.zeros((len(queries), 0), np.int64)
    for start in range(0, len(mat), chunk):
        s = queries @ mat[start:start + chunk].T
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        best_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], axis=1)
        best_r = np.concatenate([best_r, part + start], axis=1)
        if best_s.shape[1] > k:
            keep = np.argpartition(-best_s, k - 1, axis=1)[:, :k]
            best_s, best_r = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_r, keep, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_r, order, 1)


def _calibration_queries(mat: np.ndarray, count: int, probes: np.ndarray | None) -> np.ndarray:
    rng = np.random.default_rng(7)
    half = count // 2
    picks = mat[rng.integers(0, len(mat), half)]
    near = picks + rng.standard_normal(picks.shape).astype(np.float32) * (0.5 / np.sqrt(mat.shape[1]))
    if probes is not None and len(probes):
        far = np.asarray(probes, np.float32)[rng.permutation(len(probes))[:count - half]]
    else:
        far = rng.standard_normal((count - half, mat.shape[1])).astype(np.float32)
    q = np.concatenate([near, far])
    return q / np.linalg.norm(q, axis=1, keepdims=True)


class LibraryAnn:
    """The ANN cache of one (library, model): loaded lazily, verified, updated, saved."""

    def __init__(self, library: Any, model_id: int, params: AnnParams = AnnParams(),
                 notify: Callable[[str], None] | None = None,
                 probes: Callable[[], np.ndarray | None] | None = None, remote_from: int | None = None):
        """`remote_from`: from this many photos, keep the index in a process of its own (a
        long-lived process whose threads must not wait while hnswlib loads or saves it)."""
        self.library = library
        self.remote_from = remote_from
        self.model_id = model_id
        self.params = params
        self.notify = notify or (lambda message: None)
        self.probes = probes or (lambda: None)
        self.stem = f"ann-{model_id}"
        self._ann: AnnIndex | None = None
        self._generation: int | None = None
        self._unbuilt: int | None = None  # a generation known to need a full build (not yet allowed)
        self._disk_stamp: int | None = None  # mtime of the json last read: re-read only when it changes
        self._lock = threading.Lock()
        self.last_action = ""  # 'cached', 'loaded', 'updated', 'built' (for tests and logs)
        self.history: list[str] = []  # every action but 'cached', in order

    def get(self, generation: int, ids: np.ndarray, mat: np.ndarray, build: bool = True,
            stop: threading.Event | None = None) -> AnnIndex | None:
        """An index covering exactly (ids, mat), the library's vectors at `generation`.

        None when it would take a full build and `build` is False, or (for a caller that may not
        build) while another thread is busy with it: that caller searches exactly meanwhile.
        """
        if not self._lock.acquire(blocking=build):
            return None
        try:
            return self._get(generation, ids, mat, build, stop)
        except BuildStopped:
            # Possibly half updated: never used again; the saved one is read afresh next time.
            self._drop()
            return None
        except AnnProcessError as e:
            # No process for it (or it died): searches go exact, and the next attempt keeps the
            # index in this process, as a short-lived process does.
            self.notify(f"{e}: searching exactly meanwhile")
            self._drop()
            self.remote_from = None
            return None
        finally:
            self._lock.release()

    def _drop(self) -> None:
        if self._ann is not None:
            with contextlib.suppress(AnnProcessError, RuntimeError, OSError):
                self._ann.close()
        self._ann, self._generation, self._disk_stamp = None, None, None

    def close(self, timeout: float = 10.0) -> None:
        """Free the index now (ending its process, if it has one; killed when a call still holds it
        after `timeout`)."""
        got = self._lock.acquire(timeout=timeout)
        try:
            self._drop()
        finally:
            if got:
                self._lock.release()

    def current(self, generation: int, ids: np.ndarray) -> AnnIndex | None:
        """The index in memory when it covers exactly the library at `generation`; never waits
        (None while another thread loads, updates or builds it)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            ann = self._ann
            if ann is not None and not ann.alive:  # its process ended: load it again, here
                self._drop()
                self.remote_from = None
                return None
            if ann is not None and self._generation == generation and np.array_equal(ann.ids, ids):
                return ann
            return None
        finally:
            self._lock.release()

    def _get(self, generation: int, ids: np.ndarray, mat: np.ndarray, build: bool,
             stop: threading.Event | None = None) -> AnnIndex | None:
        if self._ann is not None and self._generation == generation and np.array_equal(self._ann.ids, ids):
            self.last_action = "cached"
            return self._ann
        known_unbuilt = not build and self._unbuilt == generation
        if self._ann is None or known_unbuilt:
            fresh = self._load_if_new(mat.shape[1])  # another process or thread may have saved one
            if fresh is not None:
                if self._ann is not None:
                    self._ann.close()
                self._ann, meta = fresh
                if self._saved_for(meta, generation) and np.array_equal(self._ann.ids, ids):
                    # Saved for this very library at this generation: trusted without fingerprinting
                    # every vector (which would read the whole matrix).
                    self.last_action = "loaded"
                    self.history.append(self.last_action)
                    self._generation = generation
                    return self._ann
            elif known_unbuilt:
                return None  # still needs a build: do not diff a million vectors again for each query
        outcome = self._ann.update(ids, mat, self._probes_for(self._ann, ids), stop) \
            if self._ann is not None else "rebuild"
        if outcome == "rebuild":
            if not build:
                self._unbuilt = generation
                return None
            self.notify(f"Building the search index for {len(ids)} photos (once; it is kept for next time)...")
            t0 = time.perf_counter()
            old, self._ann = self._ann, None
            if old is not None:
                old.close()
            remote = self.remote_from is not None and len(ids) >= self.remote_from
            self._ann = AnnIndex.build(ids, mat, self.params, self.probes(), stop, remote=remote)
            self.notify(f"Search index built in {time.perf_counter() - t0:.1f} s")
            self.last_action = "built"
        else:
            self.last_action = "loaded" if outcome == "same" else "updated"
        self.history.append(self.last_action)
        if outcome != "same":
            self._save(generation)
        self._generation = generation
        return self._ann

    def saved_current(self, generation: int, count: int) -> bool:
        """Whether the index saved beside the library was made for it at `generation` (reads only
        the small json: an unchanged library needs no load to know its index is ready)."""
        try:
            meta = json.loads((self.library.dir / f"{self.stem}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(meta, dict) and self._saved_for(meta, generation) and meta.get("count") == count

    def _saved_for(self, meta: dict[str, Any], generation: int) -> bool:
        uid = getattr(self.library, "uid", None)
        return uid is not None and meta.get("uid") == uid and meta.get("generation") == generation

    def _load_if_new(self, dim: int) -> tuple[AnnIndex, dict[str, Any]] | None:
        """The saved index, if one appeared (another process or thread may have saved it) since last time."""
        try:
            stamp = (self.library.dir / f"{self.stem}.json").stat().st_mtime_ns
        except OSError:
            return None
        if stamp == self._disk_stamp:
            return None
        self._disk_stamp = stamp
        return AnnIndex.load(self.library.dir, self.stem, dim, remote_from=self.remote_from)

    def _probes_for(self, ann: AnnIndex, ids: np.ndarray) -> np.ndarray | None:
        # Encoding probes costs a text-encoder pass: only when an update will recalibrate.
        return None if 0.5 <= len(ids) / max(ann.calibrated_count, 1) <= 2.0 else self.probes()

    def _save(self, generation: int) -> None:
        try:
            self._ann.save(self.library.dir, self.stem, {"generation": generation, "model_id": self.model_id,
                                                         "uid": getattr(self.library, "uid", None),
                                                         "M": self.params.M,
                                                         "ef_construction": self.params.ef_construction})
        except OSError as e:  # a read-only library still searches; it just rebuilds next time
            self.notify(f"could not save the search index in {self.library.dir}: {e.strerror or e}")
