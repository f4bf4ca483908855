""""Why this result" in the viewer: the heatmap laid over the photo and the concepts listed (real widgets,
shapes-tiny)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from clipgallery.shapes import scene

pytest.importorskip("pytestqt")

SHOTS = os.environ.get("CLIPGALLERY_SCREENSHOTS")  # set: the screenshots for the README are written there


@pytest.mark.slow
def test_why_this_result_overlays_the_heatmap_and_lists_the_concepts(qtbot, gui_window, tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    scene(("blue", "square"), ("red", "circle"), 3, (1, 0)).save(root / "a.png")  # circle top right
    scene(("green", "triangle"), ("yellow", "star"), 4, (0, 1)).save(root / "b.png")
    w = gui_window("shapes-tiny")
    with qtbot.waitSignal(w.indexing_finished, timeout=120_000):
        w.open_folder(root)
    qtbot.waitUntil(lambda: not w._search_busy and not w.jobs.busy and w.model.rowCount() == 2, timeout=10_000)
    with qtbot.waitSignal(w.results_shown, timeout=60_000, check_params_cb=lambda n: w.search_bar.text == "red circle"):
        w.search_bar.field.setText("red circle")
        w.search_bar.search_now()
    row = [Path(p.path).name for p in w.model.photos].index("a.png")
    viewer = w.open_viewer(row)
    qtbot.waitUntil(lambda: viewer.canvas.pixmap is not None, timeout=20_000)
    plain = viewer.canvas.pixmap.toImage()
    assert viewer.why_action.isEnabled()
    viewer.why_action.trigger()
    qtbot.waitUntil(lambda: bool(viewer.why_panel.words), timeout=120_000)
    assert {"red", "circle"} & set(viewer.why_panel.words[:2])
    assert "red circle" in viewer.why_panel.title.text()
    shown = viewer.canvas.pixmap.toImage()
    assert shown.size() == plain.size() and shown != plain  # the overlay, at the photo's size

    def warmth(img, x, y):  # red minus blue of the overlay over the photo's, around (x, y)
        c, p = img.pixelColor(x, y), plain.pixelColor(x, y)
        return (c.red() - c.blue()) - (p.red() - p.blue())

    wd, ht = shown.width(), shown.height()
    circle = np.mean([warmth(shown, int(wd * fx), int(ht * fy)) for fx in (0.7, 0.75, 0.8) for fy in (0.2, 0.25, 0.3)])
    far = np.mean([warmth(shown, int(wd * fx), int(ht * fy)) for fx in (0.05, 0.1) for fy in (0.9, 0.95)])
    assert circle > far + 30
    viewer.resize(1000, 560)
    qtbot.wait(50)
    assert viewer.grab().save(str(Path(SHOTS or tmp_path) / "why-this-result.png"))

    viewer.why_action.trigger()  # off: the photo again, the panel hidden
    assert viewer.canvas.pixmap.toImage() == plain and viewer.why_panel.isHidden()
