"""Search by sketch: the canvas (pen, colours, eraser, undo) and its sketch as an image term of the query
(real widgets, shapes-tiny)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtGui import QColor

from clipgallery.shapes import compose

pytest.importorskip("pytestqt")

SHOTS = os.environ.get("CLIPGALLERY_SCREENSHOTS")  # set: the screenshots for the README are written there


def disk(canvas, cx: int, cy: int, r: int) -> None:
    """A filled disk, drawn as strokes a person would make."""
    canvas.width = 14
    for dy in range(-r, r + 1, 8):
        half = int((r * r - dy * dy) ** 0.5)
        canvas.stroke([QPoint(cx - half, cy + dy), QPoint(cx + half, cy + dy)])


def test_canvas_pen_eraser_and_undo(qtbot, tmp_path):
    from clipgallery.gui.sketch_dialog import SketchDialog

    d = SketchDialog(tmp_path / "sketches")
    qtbot.addWidget(d)
    c = d.canvas
    assert c.empty and not d.ok.isEnabled()
    d.swatches.button(1).click()  # red
    c.stroke([QPoint(20, 20), QPoint(200, 20)])
    assert c.image.pixelColor(100, 20) == QColor("#d7261e") and d.ok.isEnabled()
    d.eraser.setChecked(True)
    c.stroke([QPoint(100, 10), QPoint(100, 30)])
    assert c.image.pixelColor(100, 20) == QColor("white") and c.image.pixelColor(30, 20) == QColor("#d7261e")
    d.undo_button.click()  # the eraser stroke goes
    assert c.image.pixelColor(100, 20) == QColor("#d7261e")
    d.undo_button.click()  # and the red one
    assert c.empty and not d.ok.isEnabled()
    # a mouse drag is one stroke, undone in one step
    d.eraser.setChecked(False)
    qtbot.mousePress(c, qtbot_button(), pos=QPoint(40, 100))
    for x in range(40, 200, 20):
        qtbot.mouseMove(c, QPoint(x, 100))
    qtbot.mouseRelease(c, qtbot_button(), pos=QPoint(200, 100))
    assert c.image.pixelColor(120, 100) != QColor("white")
    d.undo_button.click()
    assert c.empty


def qtbot_button():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


@pytest.mark.slow
def test_a_sketch_becomes_an_image_term_combinable_with_words(qtbot, gui_window, tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    for i, (colour, shape) in enumerate([("red", "circle"), ("red", "circle"), ("blue", "square"),
                                         ("green", "triangle"), ("yellow", "star"), ("blue", "circle")]):
        compose([(colour, shape, 0.5, 0.5, 0.3)], 40 + i, background="white").save(root / f"{i}-{colour}-{shape}.png")
    w = gui_window("shapes-tiny")
    with qtbot.waitSignal(w.indexing_finished, timeout=120_000):
        w.open_folder(root)
    qtbot.waitUntil(lambda: not w._search_busy and not w.jobs.busy and w.model.rowCount() == 6, timeout=10_000)
    before = sorted(p.name for p in root.iterdir())

    dialog = w.search_bar.open_sketch()
    dialog.swatches.button(1).click()  # red
    disk(dialog.canvas, 160, 160, 90)
    if SHOTS:
        dialog.grab().save(str(Path(SHOTS) / "sketch-canvas.png"))
    with qtbot.waitSignal(w.results_shown, timeout=60_000):
        dialog.ok.click()
    sketch = dialog.path
    assert sketch is not None and sketch.is_file() and sketch.parent == w.library.dir / "sketches"
    assert str(sketch) in w.search_bar.text
    assert sorted(p.name for p in root.iterdir()) == before  # never written into the photo folder
    names = [Path(p.path).name for p in w.model.photos]
    assert names and all("red-circle" in n for n in names[:2]), names

    # words join the sketch: "+blue" moves the blue circle up
    with qtbot.waitSignal(w.results_shown, timeout=60_000):
        w.search_bar.field.setText(w.search_bar.text + " +blue")
        w.search_bar.search_now()
    assert not w.search_bar.error_label.isVisible()
    mixed = [Path(p.path).name for p in w.model.photos]
    assert "5-blue-circle.png" in mixed and (
        "5-blue-circle.png" not in names or mixed.index("5-blue-circle.png") < names.index("5-blue-circle.png"))
