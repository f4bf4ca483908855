"""Benchmark the desktop app: time to the window shown, and UI-thread stalls while scrolling 50,000 photos
during indexing. Prints figures; never asserts.

    python bench/gui_startup.py [--quick] [--model SPEC] [--rows 50000] [--seconds 20]

Startup is measured in a subprocess (`clipgallery gui --benchmark`), from spawning it until it reports
its window shown. The stall is measured in this process: a real folder is being indexed while a
50,000-row grid (rows pointing at a few thousand paths, links to a few hundred real photos, so
thumbnails really are decoded) is scrolled quickly; a 10 ms timer records the largest gap.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MARKER = "clipgallery-window-shown"


def measure_startup(runs: int) -> None:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    walls, inner = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "clipgallery.cli", "gui", "--benchmark"], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = ""
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.startswith(MARKER):
                walls.append(time.perf_counter() - t0)
                break
        proc.wait(timeout=60)
        fields = dict(p.split("=") for p in line.split()[1:]) if line.startswith(MARKER) else {}
        if fields.get("process_s", "-1") != "-1":
            inner.append(float(fields["process_s"]))
        if fields.get("torch_imported") != "False":
            print(f"  warning: torch was imported before the window was shown ({line.strip()})")
    print(f"startup: window shown after {statistics.median(walls):.3f} s (median of {runs}; "
          f"min {min(walls):.3f} s, spawn to marker)"
          + (f"; the app itself reports {statistics.median(inner):.3f} s since process start" if inner else ""))


def make_photos(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    """n distinct JPEGs (different bytes, so each is really decoded and encoded), quickly."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bases = []
    for _ in range(min(n, 24)):
        a, b, c = rng.uniform(0.003, 0.03, 3)
        bases.append(np.stack([127 + 100 * np.sin(a * xx + b * yy + c * k) for k in (1, 5, 9)], -1).astype(np.uint8))
    out = []
    for i in range(n):
        img = bases[i % len(bases)].copy()
        x, y = int(rng.integers(0, w - 64)), int(rng.integers(0, h - 64))
        img[y:y + 64, x:x + 64] = rng.integers(0, 255, 3)  # a patch: a different photo
        p = folder / f"img{i:05d}.jpg"
        Image.fromarray(img).save(p, quality=85)
        out.append(p)
    return out


def measure_scroll(model: str, rows: int, seconds: float, photos: int, links: int) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from clipgallery.gui.app import make_app
    from clipgallery.gui.facade import Photo
    from clipgallery.gui.main_window import MainWindow
    from clipgallery.gui.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="clipgallery-bench-"))
    print(f"scroll: drawing {photos} photos to index and 100 to show…", flush=True)
    to_index = make_photos(tmp / "index-me", photos, (1024, 768))
    shown = make_photos(tmp / "shown", 100, (1600, 1200))
    link_dir = tmp / "links"
    link_dir.mkdir()
    paths = []
    for i in range(links):  # distinct paths, so thumbnails miss every cache as they would with real photos
        p = link_dir / f"l{i:05d}.jpg"
        p.symlink_to(shown[i % len(shown)])
        paths.append(str(p))

    app = make_app()
    settings = Settings.at(tmp / "settings.ini")
    settings.model, settings.device, settings.library_location = model, "auto", str(tmp / "libs")
    w = MainWindow(settings)
    w.resize(1280, 800)
    w.show()
    state = {"progress": None, "started": False, "t0": 0.0}
    gaps: list[float] = []
    indexing_gaps: list[float] = []
    last = [0.0]

    def tick() -> None:
        now = time.perf_counter()
        if state["started"]:
            gaps.append(now - last[0])
            if w.indexer.running:
                indexing_gaps.append(now - last[0])
        last[0] = now

    def fill_and_scroll(p) -> None:
        state["progress"] = p
        if state["started"] or p.phase != "indexing" or p.done == 0:
            return
        # Indexing is under way (model loaded): swap in the big grid and start scrolling.
        w.model.set_photos([Photo(paths[i % len(paths)], None, None) for i in range(rows)])
        w.loader.set_cache_dir(tmp / "thumbs")
        state["started"], state["t0"] = True, time.perf_counter()
        last[0] = time.perf_counter()
        scroller.start()

    def scroll() -> None:
        bar = w.view.verticalScrollBar()
        if time.perf_counter() - state["t0"] > seconds:
            scroller.stop()
            app.quit()
            return
        step = bar.pageStep() // 2  # a fast flick: half a screen every frame
        bar.setValue(bar.value() + step if bar.value() + step <= bar.maximum() else 0)

    ticker = QTimer(interval=10, timeout=tick)
    scroller = QTimer(interval=16, timeout=scroll)
    w.indexer.progress.connect(fill_and_scroll)
    w.indexing_failed.connect(lambda m: (print(f"scroll: indexing failed: {m}"), app.quit()))
    ticker.start()
    w.open_folder(to_index[0].parent)
    QTimer.singleShot(int((seconds + 300) * 1000), app.quit)
    app.exec()
    ticker.stop()
    loaded = len(w.loader._lru)
    w.close()
    QApplication.processEvents()
    if not gaps:
        print("scroll: indexing never started; no figures")
        return
    p = state["progress"]
    share = 100 * sum(indexing_gaps) / max(1e-9, sum(gaps))
    print(f"scroll: {rows:,} rows over {links:,} distinct photos, {sum(gaps):.1f} s of fast scrolling; indexing "
          f"({model}) ran during {share:.0f}% of it and reached {p.done if p else 0}/{p.total if p else 0}; "
          f"{loaded:,} thumbnails in memory at the end")
    for name, values in (("while indexing", indexing_gaps), ("overall", gaps)):
        if values:
            g = sorted(values)
            print(f"scroll: {name}: largest UI-thread stall {1000 * g[-1]:.0f} ms; 99th percentile "
                  f"{1000 * g[int(0.99 * (len(g) - 1))]:.0f} ms; median {1000 * statistics.median(g):.0f} ms "
                  f"(10 ms timer, {len(g)} ticks)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short run to check that it works")
    ap.add_argument("--model", default=None, help="model to index with (default: shapes-tiny when bundled, "
                                                  "else tiny-random)")
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--skip-startup", action="store_true")
    args = ap.parse_args()
    from clipgallery.core.models import bundled_models

    model = args.model or ("shapes-tiny" if "shapes-tiny" in bundled_models() else "tiny-random")
    print(f"machine: {os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.2f} (1 min) at start")
    if not args.skip_startup:
        measure_startup(1 if args.quick else 5)
    measure_scroll(model, args.rows, args.seconds or (5 if args.quick else 20),
                   photos=200 if args.quick else 1500, links=600 if args.quick else 3000)


if __name__ == "__main__":
    main()
