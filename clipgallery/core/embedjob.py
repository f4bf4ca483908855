"""`embed`: a photo folder's vectors written as Parquet shards (core.shards), for `import`.

The work per file is indexing's own (`indexer.prepare_file`: bounded read, hash, decode, the model's
preprocessing; `indexer.encode_prepared`: one batch through the model, a video's frames averaged),
so the vectors are those `index` stores. Two engines run it: `local`, decoding threads and the model
in this process; `ray`, a Ray Data job where CPU tasks decode and a pool of encoder actors (one GPU
each where the cluster has GPUs, else a few CPU threads each) encode, sized from the cluster's
resources. Either way the shards are written here, by this process, as the vectors stream back.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ClipGalleryError
from .progress import Progress, ProgressFn
from .scan import ScannedFile
from .shards import SUFFIX, ShardRow, ShardWriter, pyarrow

DECODE_MEMORY = 512 * 2**20  # bytes a Ray decoding task reserves: a 100-megapixel photo decoded, and its batch
REPORT_NAME = "embed-report.json"  # beside the shards: what was embedded, and what failed and why


class EmbedError(ClipGalleryError):
    """An embed request that cannot run (folder, output folder, engine)."""


@dataclass
class EmbedReport:
    model: str
    engine: str
    out: Path
    dim: int = 0
    embedded: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # {"path", "error"}
    shards: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False
    plan: dict[str, Any] = field(default_factory=dict)  # a Ray job: how it was sized

    def to_json(self) -> dict[str, Any]:
        data = {"embedded": self.embedded, "failed": self.failed, "shards": [str(p) for p in self.shards],
                "model": self.model, "dim": self.dim, "engine": self.engine, "out": str(self.out),
                "seconds": round(self.seconds, 3), "cancelled": self.cancelled}
        if self.plan:
            data["plan"] = self.plan
        return data


@dataclass(frozen=True)
class ModelInput:
    """A model's preprocessing without the model: what decoding tasks on other machines need (picklable)."""

    image_size: int
    transform: Any

    def preprocess(self, image: Any) -> Any:
        return self.transform(image)


def embed_folder(source: Path, out: Path, spec: str, engine: str = "local", address: str | None = None,
                 device: str = "auto", batch_size: int | None = None, workers: int | None = None,
                 progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> EmbedReport:
    """Encode every photo under `source` into shards in `out` (a new or empty folder, never inside
    `source`). Photos that cannot be read are listed in the report (and in out/embed-report.json)."""
    t0 = time.perf_counter()
    notify = progress or (lambda p: None)
    cancel = cancel or threading.Event()
    source, out = _check_folders(source, out)
    pyarrow()  # says how to install it before any work
    ray = _ray() if engine == "ray" else None
    if ray is not None and address:
        _check_reachable(address)  # before the model loads: Ray itself retries for minutes
    from .embed import Embedder

    files = _photos(source)
    # The Ray driver needs the model only for its spec, size and preprocessing: on the CPU.
    embedder = Embedder.load(spec, "cpu" if ray is not None else device)
    report = EmbedReport(embedder.spec, engine, out, dim=embedder.dim)
    writer = ShardWriter(out, embedder.spec, embedder.dim)
    try:
        if ray is None:
            rows = _local(source, files, embedder, batch_size, workers, cancel, report)
        else:
            rows = _on_ray(ray, source, files, embedder, address, batch_size, cancel, report)
        for chunk in rows:
            writer.write(chunk)
            report.embedded = writer.rows
            notify(Progress("embedding", report.embedded + len(report.failed), len(files)))
    except BaseException:
        writer.abort()
        report.shards = writer.close()
        raise
    report.shards = writer.close()
    report.cancelled = cancel.is_set()
    report.failed.sort(key=lambda f: f["path"])
    report.seconds = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_NAME).write_text(json.dumps(report.to_json(), ensure_ascii=True, indent=2), encoding="utf-8")
    return report


def _check_folders(source: Path, out: Path) -> tuple[Path, Path]:
    source = Path(source).expanduser().resolve()
    if not source.is_dir():
        raise EmbedError(f"not a folder: {source}" if source.exists() else f"folder not found: {source}")
    out = Path(out).expanduser().resolve()
    if out == source or source in out.parents:
        raise EmbedError(f"the output folder {out} is inside the photo folder {source}; clipgallery never writes "
                         "into a photo folder, so choose one elsewhere")
    if out.exists() and not out.is_dir():
        raise EmbedError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(p.suffix == SUFFIX or p.name == REPORT_NAME for p in out.iterdir()):
        raise EmbedError(f"{out} already holds shards: choose a new or empty folder (shards are never overwritten)")
    return source, out


def _photos(source: Path) -> list[ScannedFile]:
    """The files `index` would encode: the scan's, without a RAW that has its JPEG beside it."""
    from . import media
    from .scan import walk

    files = list(walk(source))
    pairs = media.pair_raws(f.relpath for f in files)
    return [f for f in files if f.relpath not in pairs]


def _row(f: ScannedFile, r: Any, vec: np.ndarray) -> ShardRow:
    return ShardRow(f.relpath, f.size, f.mtime_ns, r.content_hash, r.width, r.height, r.taken_at, vec)


def _local(source: Path, files: list[ScannedFile], embedder: Any, batch_size: int | None, workers: int | None,
           cancel: threading.Event, report: EmbedReport) -> Iterator[list[ShardRow]]:
    """Decoding threads feed the model a batch at a time (as indexing does); yields each batch's rows."""
    from .indexer import default_batch_size, default_workers, encode_prepared, prepare_file

    batch = batch_size or default_batch_size(embedder.device)
    n_workers = workers or default_workers()
    pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="embed-decode")
    pending: deque[Future] = deque()
    it = iter(files)
    try:
        while not cancel.is_set():
            while len(pending) < batch * 2 + n_workers:
                f = next(it, None)
                if f is None:
                    break
                pending.append(pool.submit(prepare_file, source, f, embedder))
            if not pending:
                return
            results = [pending.popleft().result() for _ in range(min(batch, len(pending)))]
            yield _rows(source, results, encode_prepared(embedder, results), report)
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _rows(source: Path, results: list[Any], vecs: list[np.ndarray | None], report: EmbedReport) -> list[ShardRow]:
    rows = []
    for r, v in zip(results, vecs):
        f = r.item.scanned
        if v is None:
            report.failed.append({"path": str(source / f.relpath), "error": r.error or "not encoded"})
        else:
            rows.append(_row(f, r, v))
    return rows


# -- Ray ---------------------------------------------------------------------------------------------


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise EmbedError("--engine ray needs Ray: pip install 'clipgallery[cluster]'") from None
    return ray


@dataclass(frozen=True)
class RayPlan:
    """How a Ray job is sized from the cluster's resources."""

    encoders: int  # encoder actors
    gpus_per_encoder: float
    cpus_per_encoder: float
    encode_batch: int  # photos per model call
    decode_batch: int  # files per decoding task call
    blocks: int  # how the file list is split


def plan_ray(resources: dict[str, float], files: int, batch_size: int | None = None) -> RayPlan:
    """One encoder per GPU (batches of 128) when the cluster has GPUs, the CPUs decoding. On CPUs
    alone encoding is the slow part: about three quarters of the CPUs encode (up to 4 torch threads
    per actor), the rest decode."""
    cpus = max(1, int(resources.get("CPU", 1)))
    gpus = int(resources.get("GPU", 0))
    if gpus >= 1:
        encoders, per_gpu, per_cpu, batch = gpus, 1.0, 1.0, batch_size or 128
    else:
        threads = min(4, max(1, cpus // 2))
        encoders, per_gpu, per_cpu, batch = max(1, (cpus * 3 // 4) // threads), 0.0, float(threads), batch_size or 16
    decode_batch = 16
    blocks = max(1, min(files, max(cpus * 4, math.ceil(files / 2000))))
    return RayPlan(encoders, per_gpu, per_cpu, batch, decode_batch, blocks)


def _decode_batch(batch: dict[str, np.ndarray], source: str, model: ModelInput) -> dict[str, np.ndarray]:
    """A Ray Data batch function (CPU tasks): indexing's read + hash + decode + preprocessing per file."""
    from .indexer import prepare_file

    root = Path(source)
    out: dict[str, list[Any]] = {k: [] for k in ("relpath", "size", "mtime_ns", "content_hash", "width", "height",
                                                 "taken_at", "error", "frames", "shape", "pixels")}
    for rel, size, mtime in zip(batch["relpath"], batch["size"], batch["mtime_ns"]):
        r = prepare_file(root, ScannedFile(str(rel), int(size), int(mtime)), model)
        t = None if r.tensor is None else (r.tensor if r.frame_times is not None else r.tensor[None]).numpy()
        out["relpath"].append(str(rel))
        out["size"].append(int(size))
        out["mtime_ns"].append(int(mtime))
        out["content_hash"].append(r.content_hash or "")
        out["width"].append(r.width if r.width is not None else -1)
        out["height"].append(r.height if r.height is not None else -1)
        out["taken_at"].append(r.taken_at if r.taken_at is not None else math.nan)
        out["error"].append(r.error or ("" if t is not None else "not decoded"))
        # -1: failed; 0: a photo (one row); n: a video's n frames
        out["frames"].append(-1 if t is None else (len(t) if r.frame_times is not None else 0))
        out["shape"].append(json.dumps(list(t.shape) if t is not None else []))
        out["pixels"].append(b"" if t is None else np.ascontiguousarray(t, np.float32).tobytes())
    cols: dict[str, np.ndarray] = {k: np.array(v, dtype=object) for k, v in out.items()}
    for k, dt in (("size", np.int64), ("mtime_ns", np.int64), ("width", np.int64), ("height", np.int64),
                  ("taken_at", np.float64), ("frames", np.int64)):
        cols[k] = np.asarray(out[k], dtype=dt)
    return cols


class _Encode:
    """A Ray Data actor: the model, loaded once on its GPU (or CPU threads); indexing's batch encode."""

    def __init__(self, spec: str, threads: int):
        import torch

        from .embed import Embedder

        gpu = bool(torch.cuda.is_available())
        if not gpu:
            torch.set_num_threads(max(1, threads))
        self.embedder = Embedder.load(spec, "cuda" if gpu else "cpu")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        from .indexer import _Item, _Result, encode_prepared

        results = []
        for i in range(len(batch["relpath"])):
            r = _Result(_Item(ScannedFile(str(batch["relpath"][i]), 0, 0), None))
            frames = int(batch["frames"][i])
            if frames >= 0:
                shape = json.loads(batch["shape"][i])
                t = torch.from_numpy(np.frombuffer(batch["pixels"][i], np.float32).reshape(shape).copy())
                r.tensor = t if frames > 0 else t[0]
                r.frame_times = [0.0] * frames if frames > 0 else None
            results.append(r)
        vecs = encode_prepared(self.embedder, results)
        dim = self.embedder.dim
        mat = np.stack([v if v is not None else np.zeros(dim, np.float32) for v in vecs]) if vecs else \
            np.zeros((0, dim), np.float32)
        keep = ("relpath", "size", "mtime_ns", "content_hash", "width", "height", "taken_at", "error")
        return {**{k: batch[k] for k in keep}, "vector": mat.astype(np.float32)}


def _on_ray(ray: Any, source: Path, files: list[ScannedFile], embedder: Any, address: str | None,
            batch_size: int | None, cancel: threading.Event, report: EmbedReport) -> Iterator[list[ShardRow]]:
    """The Ray Data job; yields the rows as their vectors come back to this process."""
    started = _ray_init(ray, address)
    try:
        plan = plan_ray(ray.cluster_resources(), len(files), batch_size)
        report.plan = {"encoders": plan.encoders, "gpus_per_encoder": plan.gpus_per_encoder,
                       "cpus_per_encoder": plan.cpus_per_encoder, "encode_batch": plan.encode_batch,
                       "decode_batch": plan.decode_batch}
        if not files:
            return
        model = ModelInput(embedder.image_size, embedder._m.preprocess)
        items = [{"relpath": f.relpath, "size": f.size, "mtime_ns": f.mtime_ns} for f in files]
        ds = ray.data.from_items(items, override_num_blocks=plan.blocks)
        # A decoding task reserves the memory of a large decoded photo. That also keeps decoding in
        # CPU tasks of its own: Ray fuses a task stage into the actor stage after it when their
        # resource requests match (a CPU-only cluster), and the encoders would then decode too.
        ds = ds.map_batches(_decode_batch, fn_kwargs={"source": str(source), "model": model},
                            batch_size=plan.decode_batch, num_cpus=1, memory=DECODE_MEMORY)
        ds = ds.map_batches(_Encode, fn_constructor_args=(embedder.spec, int(plan.cpus_per_encoder)),
                            batch_size=plan.encode_batch, num_gpus=plan.gpus_per_encoder or None,
                            num_cpus=plan.cpus_per_encoder, compute=ray.data.ActorPoolStrategy(size=plan.encoders))
        for b in ds.iter_batches(batch_size=256, batch_format="numpy", prefetch_batches=2):
            if cancel.is_set():
                return
            rows = []
            for i in range(len(b["relpath"])):
                rel, err = str(b["relpath"][i]), str(b["error"][i])
                if err:
                    report.failed.append({"path": str(source / rel), "error": err})
                    continue
                width, height, taken = int(b["width"][i]), int(b["height"][i]), float(b["taken_at"][i])
                rows.append(ShardRow(rel, int(b["size"][i]), int(b["mtime_ns"][i]), str(b["content_hash"][i]) or None,
                                     width if width >= 0 else None, height if height >= 0 else None,
                                     None if math.isnan(taken) else taken, b["vector"][i]))
            yield rows
    finally:
        if started:
            ray.shutdown()


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """A TCP connection to HOST:PORT (or ray://HOST:PORT) first: Ray itself retries an unreachable
    address for minutes. "auto" and other forms are left to Ray."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise EmbedError(f"cannot reach the Ray cluster at {address}: {e.strerror or e}") from None


def _ray_init(ray: Any, address: str | None) -> bool:
    """Join the cluster at `address` (shipping this clipgallery to its workers), else start one on this
    machine; whether this call started the connection (and so shuts it down)."""
    if ray.is_initialized():
        return False
    import logging

    import clipgallery

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the CLI shows its own bar; Ray's would fill stderr
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING,
                              "configure_logging": True}
    if address:
        kwargs["runtime_env"] = {"py_modules": [clipgallery]}
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise EmbedError(f"cannot reach the Ray cluster at {address}: {str(e).splitlines()[0] if str(e) else e}") \
                from None
    else:
        # A cluster of this machine: its workers import this clipgallery from the same paths.
        path = os.pathsep.join(p for p in (str(Path(clipgallery.__file__).parent.parent),
                                           os.environ.get("PYTHONPATH", "")) if p)
        ray.init(runtime_env={"env_vars": {"PYTHONPATH": path}}, **kwargs)
    return True
