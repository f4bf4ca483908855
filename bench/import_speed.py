"""How fast `import` adds Parquet shards to a library: synthetic rows (512-d unit vectors, no photo files).

    python bench/import_speed.py --rows 100000 1000000

For each size: writing the shards (100,000 rows each), the import into a new library (every row checked,
then written through Library.apply), a second import of the same shards (every row skipped), the
library's size and the peak memory of this process. Prints the machine's load: figures under load
are not comparable.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clipgallery.core.importer import import_shards  # noqa: E402
from clipgallery.core.library import Library  # noqa: E402
from clipgallery.core.shards import ShardRow, ShardWriter  # noqa: E402

SPEC = "ViT-B-32:laion2b_s34b_b79k"


def write_shards(folder: Path, rows: int, dim: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    writer = ShardWriter(folder, SPEC, dim)
    step = 20_000
    for start in range(0, rows, step):
        n = min(step, rows - start)
        mat = rng.standard_normal((n, dim), dtype=np.float32)
        mat /= np.linalg.norm(mat, axis=1, keepdims=True)
        writer.write([ShardRow(f"{i // 1000:04d}/IMG_{i:07d}.jpg", 2_000_000 + i, 1_600_000_000_000_000_000 + i,
                               f"{i:032x}", 4032, 3024, 1.6e9 + i, mat[j])
                      for j, i in enumerate(range(start, start + n))])
    writer.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--tmp", type=Path, default=None, help="where to put shards and libraries (default: $TMPDIR)")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, {args.dim}-d vectors", flush=True)
    for rows in args.rows:
        work = Path(tempfile.mkdtemp(prefix="import-bench-", dir=args.tmp))
        try:
            (work / "photos").mkdir()
            t = time.perf_counter()
            write_shards(work / "shards", rows, args.dim)
            written = time.perf_counter() - t
            shard_bytes = sum(p.stat().st_size for p in (work / "shards").iterdir())
            lib = Library(work / "photos", work / "lib")
            load = os.getloadavg()[0]
            t = time.perf_counter()
            report = import_shards(lib, [work / "shards"])
            first = time.perf_counter() - t
            assert report.imported == rows, report
            t = time.perf_counter()
            again = import_shards(lib, [work / "shards"])
            second = time.perf_counter() - t
            assert again.skipped == rows, again
            lib.close()
            db = sum(p.stat().st_size for p in (work / "lib").iterdir() if p.name.startswith("library.sqlite"))
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{rows:>9,} rows: shards {shard_bytes / 1e6:,.0f} MB written in {written:.1f} s; import "
                  f"{first:.1f} s ({rows / first:,.0f} rows/s, load {load:.2f}); again, all skipped: {second:.1f} s "
                  f"({rows / second:,.0f} rows/s); library {db / 1e6:,.0f} MB ({db / rows:,.0f} B/photo); "
                  f"peak memory {peak:,.0f} MB", flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
