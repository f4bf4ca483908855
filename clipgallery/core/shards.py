"""Parquet shards of photo vectors: the format `embed` writes and `import` reads (pyarrow, lazily).

One shard is a Parquet file with one row per photo:

    relpath       string    relative to the photo folder, POSIX separators, as `index` records it
    size          int64     bytes, as stat gives it
    mtime_ns      int64     modification time in ns, as stat gives it
    content_hash  string    BLAKE2b-128 hex of the file's bytes (what `index` computes), or null
    width, height int32     pixels, upright, or null
    taken_at      float64   seconds since the epoch (EXIF date), or null
    vector        fixed_size_list<float32>[dim] or list<float32>: the L2-normalised image vector

and the model spec in the file's metadata under `clipgallery.model`. Names that are not UTF-8 are
written as the library stores them (core.names: each undecodable byte as NUL + two hex digits).
`read_shard` checks all of it and says in one sentence what is wrong; nothing is trusted unchecked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ClipGalleryError

MODEL_KEY = b"clipgallery.model"
SUFFIX = ".parquet"
ROWS_PER_SHARD = 100_000  # what `embed` writes to one file (about 200 MB with 512-d vectors)
READ_BATCH = 32_768  # rows per Arrow batch when reading
NORM_TOLERANCE = 1e-3  # a unit vector stored in float32 (or made from float16) is within this of 1

# column -> the Arrow types the format allows for it (by pyarrow's type names).
COLUMNS: dict[str, tuple[str, ...]] = {
    "relpath": ("string", "large_string"),
    "size": ("int64",),
    "mtime_ns": ("int64",),
    "content_hash": ("string", "large_string"),
    "width": ("int32",),
    "height": ("int32",),
    "taken_at": ("double",),
    "vector": ("fixed_size_list<float>", "list<float>", "large_list<float>"),
}
NOT_NULL = ("relpath", "size", "mtime_ns", "vector")


class ShardError(ClipGalleryError):
    """A shard that cannot be imported: unreadable, malformed, another model, a path outside the folder."""


def pyarrow() -> Any:
    """The pyarrow module, or one sentence saying how to install it."""
    try:
        import pyarrow as pa
        import pyarrow.parquet  # noqa: F401  (the submodule must be loaded too)
    except ImportError:
        raise ShardError("reading and writing shards needs pyarrow: pip install pyarrow "
                         "(or pip install 'clipgallery[parquet]')") from None
    return pa


@dataclass(frozen=True)
class ShardInfo:
    path: Path
    model: str
    dim: int
    rows: int


@dataclass
class ShardBatch:
    """A batch of checked rows: relpaths as os functions take them, vectors as one float32 matrix."""

    relpath: list[str]
    size: np.ndarray  # int64
    mtime_ns: np.ndarray  # int64
    content_hash: list[str | None]
    width: list[int | None]
    height: list[int | None]
    taken_at: list[float | None]
    vectors: np.ndarray  # [n, dim] float32


def shard_files(paths: Iterable[Path]) -> list[Path]:
    """Each path a shard file, or a folder whose *.parquet files (not its subfolders) are shards."""
    out: list[Path] = []
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix == SUFFIX and q.is_file() and not q.name.startswith("."))
            if not found:
                raise ShardError(f"no {SUFFIX} files in {p}")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise ShardError(f"shard not found: {p}")
    unique = list(dict.fromkeys(q.resolve() for q in out))
    return unique


def inspect(path: Path) -> ShardInfo:
    """The shard's model, dimension and row count from its footer; ShardError when its columns or
    metadata are not the format's."""
    pa = pyarrow()
    try:
        meta = pa.parquet.ParquetFile(path).metadata
        schema = meta.schema.to_arrow_schema()
    except (OSError, pa.ArrowException) as e:
        raise ShardError(f"{path} is not a readable Parquet file ({_first_line(e)})") from None
    for name, allowed in COLUMNS.items():
        if name not in schema.names:
            raise ShardError(f"{path} has no column '{name}' (a shard needs {', '.join(COLUMNS)})")
        typ = schema.field(name).type
        kind = _type_name(pa, typ)
        if kind not in allowed:
            raise ShardError(f"{path}: column '{name}' is {kind}, the shard format says {' or '.join(allowed)}")
    model = (schema.metadata or {}).get(MODEL_KEY)
    try:
        spec = model.decode("utf-8").strip() if model is not None else ""
    except UnicodeDecodeError:
        spec = ""
    if not spec:
        raise ShardError(f"{path} does not say which model made its vectors (file metadata "
                         f"'{MODEL_KEY.decode()}' is missing or empty)")
    vtype = schema.field("vector").type
    dim = vtype.list_size if pa.types.is_fixed_size_list(vtype) else 0  # 0: known once read
    return ShardInfo(Path(path), spec, dim, meta.num_rows)


def read_shard(info: ShardInfo, batch_rows: int = READ_BATCH) -> Iterator[ShardBatch]:
    """The checked rows of a shard, a batch at a time. Raises ShardError at the first bad row: a null
    where the format allows none, a path that escapes the folder or is not written as `index` writes
    it, a malformed hash, vectors of another length, not finite or not of unit length."""
    pa = pyarrow()
    dim = info.dim
    start = 0
    try:
        batches = pa.parquet.ParquetFile(info.path).iter_batches(batch_size=batch_rows, columns=list(COLUMNS))
        for batch in batches:
            checked = _check_batch(pa, info, batch, start, dim)
            dim = checked.vectors.shape[1]
            start += batch.num_rows
            yield checked
    except (OSError, pa.ArrowException) as e:
        raise ShardError(f"{info.path} cannot be read past row {start} ({_first_line(e)})") from None


def _check_batch(pa: Any, info: ShardInfo, batch: Any, start: int, dim: int) -> ShardBatch:
    import pyarrow.compute as pc

    where = info.path
    for name in NOT_NULL:
        col = batch.column(name)
        if col.null_count:
            row = start + _first_true(pc.is_null(col))
            raise ShardError(f"{where}: row {row} has no {name}")
    rel = batch.column("relpath")
    escaped = _check_relpaths(pc, where, rel, start)
    size = batch.column("size").to_numpy()
    if len(size) and size.min() < 0:
        raise ShardError(f"{where}: row {start + int(np.argmax(size < 0))} has a negative size")
    for name in ("width", "height"):
        col = batch.column(name)
        bad = pc.less_equal(col, 0)
        if pc.any(bad).as_py():
            raise ShardError(f"{where}: row {start + _first_true(bad)} has a {name} that is not positive")
    taken = batch.column("taken_at")
    if taken.null_count < len(taken) and not pc.all(pc.is_finite(taken)).as_py():
        raise ShardError(f"{where}: row {start + _first_true(pc.invert(pc.is_finite(taken)))} has a taken_at that "
                         "is not a finite number")
    hash_col = batch.column("content_hash")
    bad_hash = pc.invert(pc.match_substring_regex(hash_col, "^[0-9a-f]{32}$"))  # null stays null: allowed
    if pc.any(bad_hash).as_py():
        i = _first_true(bad_hash)
        raise ShardError(f"{where}: row {start + i} has content_hash {str(hash_col[i].as_py())[:40]!r}, not the 32 "
                         "lowercase hex digits of BLAKE2b-128 (write null when it is not known)")
    hashes = hash_col.to_pylist()
    vectors = _vectors(pa, pc, where, batch.column("vector"), start, dim)
    relpaths = rel.to_pylist()
    if escaped:
        from .names import from_db

        relpaths = [from_db(r) for r in relpaths]
    return ShardBatch(relpaths, size.astype(np.int64), batch.column("mtime_ns").to_numpy().astype(np.int64),
                      hashes, batch.column("width").to_pylist(), batch.column("height").to_pylist(),
                      taken.to_pylist(), vectors)


def _check_relpaths(pc: Any, where: Path, rel: Any, start: int) -> bool:
    """ShardError for a path that is not one `index` would record; whether some hold escaped bytes."""
    # A path that leaves the folder is refused as such; others that `index` would never write
    # ("a//b", "./a", "a/") would never match a scan, so the next index run would drop them.
    escapes = pc.or_(pc.starts_with(rel, "/"), pc.match_substring_regex(rel, r"(^|/)\.\.(/|$)"))
    if pc.any(escapes).as_py():
        i = _first_true(escapes)
        raise ShardError(f"{where}: row {start + i}: relpath {rel[i].as_py()!r} escapes the photo folder")
    odd = pc.match_substring_regex(rel, r"(^|/)\.?(/|$)")
    if pc.any(odd).as_py():
        i = _first_true(odd)
        raise ShardError(f"{where}: row {start + i}: relpath {rel[i].as_py()!r} is not a plain relative path "
                         "(write it as `index` records it: folder/name.jpg)")
    if not pc.any(pc.match_substring(rel, "\x00")).as_py():
        return False
    for i, r in enumerate(rel.to_pylist()):  # rare: names with bytes that are not UTF-8, escaped by core.names
        if re.search("\x00(?![0-9a-f]{2})", r):
            raise ShardError(f"{where}: row {start + i}: relpath {r!r} holds a NUL that is not an escaped byte")
    return True


def _vectors(pa: Any, pc: Any, where: Path, col: Any, start: int, dim: int) -> np.ndarray:
    n = len(col)
    if pa.types.is_fixed_size_list(col.type):
        width = col.type.list_size
        values = col.flatten()  # honours the array's offset (a sliced batch)
    else:
        lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
        width = int(lengths[0]) if n else dim
        if n and (lengths != width).any():
            i = int(np.argmax(lengths != width))
            raise ShardError(f"{where}: row {start + i} has a vector of {int(lengths[i])} numbers, row {start} "
                             f"one of {width}: vectors must all have the same length")
        values = col.flatten()
    if dim and width != dim:
        raise ShardError(f"{where}: row {start} has a vector of {width} numbers, earlier rows {dim}")
    if width == 0:
        raise ShardError(f"{where}: row {start} has an empty vector")
    if values.null_count:
        raise ShardError(f"{where}: a vector near row {start} holds a null number")
    mat = values.to_numpy(zero_copy_only=False).reshape(n, width)
    finite = np.isfinite(mat).all(axis=1)
    if not finite.all():
        raise ShardError(f"{where}: row {start + int(np.argmin(finite))} has a vector with NaN or infinity in it")
    norms = np.sqrt(np.einsum("ij,ij->i", mat, mat, dtype=np.float64))
    bad = np.abs(norms - 1.0) > NORM_TOLERANCE
    if bad.any():
        i = int(np.argmax(bad))
        raise ShardError(f"{where}: row {start + i} has a vector of length {norms[i]:.4g}; vectors must be "
                         "L2-normalised (length 1), as clipgallery's are")
    return np.ascontiguousarray(mat, dtype=np.float32)


def _first_true(mask: Any) -> int:
    import pyarrow.compute as pc

    arr = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    return int(np.argmax(np.asarray(arr, dtype=bool)))


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _type_name(pa: Any, typ: Any) -> str:
    if pa.types.is_fixed_size_list(typ):
        return f"fixed_size_list<{typ.value_type}>"
    if pa.types.is_large_list(typ):
        return f"large_list<{typ.value_type}>"
    if pa.types.is_list(typ):
        return f"list<{typ.value_type}>"
    return str(typ)


def _to_shard(relpath: str) -> str:
    from .names import to_db

    return to_db(relpath)


# -- writing ---------------------------------------------------------------------------------------


@dataclass
class ShardRow:
    """One photo's row, as `embed` makes it."""

    relpath: str
    size: int
    mtime_ns: int
    content_hash: str | None
    width: int | None
    height: int | None
    taken_at: float | None
    vector: np.ndarray


def schema(dim: int, model: str) -> Any:
    pa = pyarrow()
    return pa.schema([
        ("relpath", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64()), ("content_hash", pa.string()),
        ("width", pa.int32()), ("height", pa.int32()), ("taken_at", pa.float64()),
        ("vector", pa.list_(pa.float32(), dim)),
    ], metadata={MODEL_KEY: model.encode("utf-8")})


class ShardWriter:
    """Writes rows into `folder/shard-00000.parquet`, ... (a new file every `rows_per_shard` rows).

    Each file is written under a hidden temporary name and renamed when complete, so `import` never
    sees half a shard. Never overwrites: a name already taken is skipped."""

    def __init__(self, folder: Path, model: str, dim: int, rows_per_shard: int = ROWS_PER_SHARD):
        self.folder, self.model, self.dim, self.rows_per_shard = Path(folder), model, dim, rows_per_shard
        self.written: list[Path] = []
        self.rows = 0
        self._writer: Any = None
        self._tmp: Path | None = None
        self._in_file = 0
        self._next = 0

    def write(self, rows: Sequence[ShardRow]) -> None:
        if not rows:
            return
        pa = pyarrow()
        mat = np.stack([np.asarray(r.vector, np.float32).reshape(-1) for r in rows])
        if mat.shape[1] != self.dim:
            raise ValueError(f"vector of {mat.shape[1]} numbers, the shard's model gives {self.dim}")
        i = 0
        while i < len(rows):
            if self._writer is None:
                self._open()
            take = min(len(rows) - i, self.rows_per_shard - self._in_file)
            part = rows[i:i + take]
            vec = pa.FixedSizeListArray.from_arrays(pa.array(mat[i:i + take].reshape(-1), pa.float32()), self.dim)
            table = pa.table([
                pa.array([_to_shard(r.relpath) for r in part], pa.string()),
                pa.array([r.size for r in part], pa.int64()),
                pa.array([r.mtime_ns for r in part], pa.int64()),
                pa.array([r.content_hash for r in part], pa.string()),
                pa.array([r.width for r in part], pa.int32()),
                pa.array([r.height for r in part], pa.int32()),
                pa.array([r.taken_at for r in part], pa.float64()),
                vec,
            ], schema=schema(self.dim, self.model))
            self._writer.write_table(table)
            self._in_file += take
            self.rows += take
            i += take
            if self._in_file >= self.rows_per_shard:
                self._close_file()

    def close(self) -> list[Path]:
        self._close_file()
        return self.written

    def abort(self) -> None:
        """Drop the file being written (after a failure)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def _open(self) -> None:
        pa = pyarrow()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._tmp = self.folder / f".writing-{os.getpid()}-{self._next}{SUFFIX}"
        # Vectors neither repeat nor compress: no dictionary, no compression for them (faster both ways).
        self._writer = pa.parquet.ParquetWriter(self._tmp, schema(self.dim, self.model), use_dictionary=False,
                                                compression={"relpath": "snappy", "content_hash": "snappy",
                                                             "vector": "none"})
        self._in_file = 0

    def _close_file(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        assert self._tmp is not None
        while (self.folder / f"shard-{self._next:05d}{SUFFIX}").exists():
            self._next += 1
        final = self.folder / f"shard-{self._next:05d}{SUFFIX}"
        try:
            os.link(self._tmp, final)  # fails rather than replace a file that appeared meanwhile
            self._tmp.unlink()
        except FileExistsError:
            raise
        except OSError:  # a filesystem without hard links
            os.rename(self._tmp, final)
        self._tmp = None
        self._next += 1
        self.written.append(final)
