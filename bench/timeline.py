"""Benchmark the timeline grid: 100,000 photos sorted by date over 20 years, grouped by month. Prints
how long grouping and laying them out takes, and the paint time of one screenful while scrolling
through the whole timeline (offscreen); never asserts.

    python bench/timeline.py [--photos 100000] [--frames 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=100_000)
    ap.add_argument("--frames", type=int, default=200)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np

    from clipgallery.gui.app import make_app
    from clipgallery.gui.facade import Facade, Photo
    from clipgallery.gui.gallery_model import GalleryModel
    from clipgallery.gui.gallery_view import GalleryView
    from clipgallery.gui.thumbnails import ThumbnailLoader
    from clipgallery.gui.timeline import date_sections

    print(f"machine: {os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.2f} (1 min) at start")
    rng = np.random.default_rng(0)
    now = time.time()
    dates = np.sort(rng.uniform(now - 20 * 365 * 86400, now, args.photos))[::-1]
    photos = [Photo(f"/nowhere/{i:06d}.jpg", i + 1, float(d)) for i, d in enumerate(dates)]
    t0 = time.perf_counter()
    sections = date_sections(dates, "month")
    print(f"grouping: {len(sections)} month sections of {args.photos:,} photos in "
          f"{1000 * (time.perf_counter() - t0):.1f} ms (numpy over the dates)")
    app = make_app()
    loader = ThumbnailLoader(Facade(), threads=1)
    model = GalleryModel(loader)
    view = GalleryView()
    view.setModel(model)
    view.resize(1200, 800)
    view.show()
    app.processEvents()
    t0 = time.perf_counter()
    view.set_timeline(True)
    model.set_photos(photos)
    t1 = time.perf_counter()
    print(f"showing: {args.photos:,} photos grouped and laid out in {1000 * (t1 - t0):.0f} ms "
          f"(model reset + sections + layout; {view.grid.height:,} px tall)")
    for name in ("timeline", "flat grid"):
        if name == "flat grid":
            view.set_timeline(False)  # the same photos without headers: what the grouping costs to paint
        bar = view.verticalScrollBar()
        times = []
        for f in range(args.frames):
            bar.setValue(int(bar.maximum() * f / max(1, args.frames - 1)))
            t = time.perf_counter()
            view.viewport().repaint()
            times.append(time.perf_counter() - t)
        times.sort()
        print(f"scrolling the {name}: {args.frames} screenfuls from top to bottom; paint median "
              f"{1000 * statistics.median(times):.1f} ms, worst {1000 * times[-1]:.1f} ms "
              f"({len(view.visible_rows())} cells on screen, thumbnails not loaded)")
    loader.shutdown()


if __name__ == "__main__":
    main()
