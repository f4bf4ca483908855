"""How long `clipgallery watch` takes from a change on disk to its line on stdout: photos copied in one
at a time, a burst copied at once (one run), renames and deletions; and how long it takes to stop.

A real subprocess with the bundled tiny-random model (the time is the watcher's quiet period plus a
folder walk and the run, not the model), on a folder of --photos photos. Nothing is downloaded.

  python bench/watch_latency.py [--photos 500] [--changes 5] [--quiet-time 1.0] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=500)
    ap.add_argument("--changes", type=int, default=5)
    ap.add_argument("--quiet-time", type=float, default=1.0)
    ap.add_argument("--workdir", type=Path)
    args = ap.parse_args()
    from conftest import photo

    work = args.workdir or Path(tempfile.mkdtemp(prefix="clipgallery-watch-bench-"))
    root, spare = work / "photos", work / "spare"
    root.mkdir(parents=True)
    spare.mkdir()
    for i in range(args.photos):
        photo(i, (160, 120)).save(root / f"p{i:05d}.jpg", quality=85)
    burst = max(10, args.changes * 4)
    for i in range(args.changes + burst):
        photo(100_000 + i, (160, 120)).save(spare / f"n{i:05d}.jpg", quality=85)

    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "clipgallery.cli", "--library-dir", str(work / "lib"), "watch",
                             str(root), "--model", "tiny-random", "--json", "--quiet-time", str(args.quiet_time)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    t0 = time.monotonic()
    ready = json.loads(proc.stdout.readline())
    print(f"first index of {args.photos} photos: {time.monotonic() - t0:.1f} s "
          f"({ready['index']['indexed']} indexed)")

    def timed(change, lines: int = 1) -> float:
        t = time.monotonic()
        change()
        for _ in range(lines):
            json.loads(proc.stdout.readline())
        return time.monotonic() - t

    added = [timed(lambda i=i: shutil.copy(spare / f"n{i:05d}.jpg", root / f"n{i:05d}.jpg"))
             for i in range(args.changes)]
    names = [f"n{i:05d}.jpg" for i in range(args.changes, args.changes + burst)]
    burst_s = timed(lambda: [shutil.copy(spare / n, root / n) for n in names], lines=burst)
    moved = [timed(lambda i=i: os.rename(root / f"p{i:05d}.jpg", root / f"m{i:05d}.jpg"))
             for i in range(args.changes)]
    removed = [timed(lambda i=i: os.remove(root / f"n{i:05d}.jpg")) for i in range(args.changes)]
    t = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=60)
    stop_s = time.monotonic() - t

    def med(xs: list[float]) -> str:
        return f"median {statistics.median(xs):.2f} s, max {max(xs):.2f} s"

    load = os.getloadavg()[0]
    print(f"quiet time {args.quiet_time} s, {args.photos} photos in the folder, load average {load:.2f}, "
          f"{os.cpu_count()} cores")
    print(f"photo copied in -> its line: {med(added)}")
    print(f"{burst} photos copied at once -> all their lines: {burst_s:.2f} s")
    print(f"rename -> its line (vector kept): {med(moved)}")
    print(f"deletion -> its line: {med(removed)}")
    print(f"SIGINT -> exit {rc}: {stop_s:.2f} s")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
