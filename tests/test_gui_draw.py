"""CLIPDraw in the app: a group's name drawn as its cover, with progress and Stop (real widgets, shapes-tiny)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog

from clipgallery.shapes import compose

pytest.importorskip("pytestqt")

SHOTS = os.environ.get("CLIPGALLERY_SCREENSHOTS")  # set: the screenshots for the README are written there


@pytest.mark.slow
def test_draw_a_cover_for_a_group_then_stop_a_second_drawing(qtbot, gui_window, tmp_path):
    steps = int(os.environ.get("CLIPGALLERY_DRAW_STEPS", "6"))  # more for the README's screenshot
    root = tmp_path / "photos"
    root.mkdir()
    for i, (colour, shape) in enumerate([("red", "circle"), ("red", "circle"), ("blue", "square"), ("blue", "square")]):
        compose([(colour, shape, 0.5, 0.5, 0.3)], 60 + i, background="white").save(root / f"{i}.png")
    w = gui_window("shapes-tiny")
    with qtbot.waitSignal(w.indexing_finished, timeout=120_000):
        w.open_folder(root)
    qtbot.waitUntil(lambda: not w._search_busy and not w.jobs.busy, timeout=10_000)
    groups = w.side_panel.groups
    with qtbot.waitSignal(groups.task_finished, timeout=60_000, check_params_cb=lambda name: name == "group"):
        groups.run_grouping(k=2)
    g = groups.grouping.groups[0]
    item = groups.list.item(0)
    groups.list.setCurrentItem(item)
    qtbot.waitUntil(lambda: not item.icon().isNull(), timeout=20_000)  # the photo cover first
    photo_cover = item.icon().pixmap(56, 56).toImage()

    dialog = groups.draw_cover(steps=steps, strokes=6 if steps < 20 else 16)
    assert dialog.text.text() == g.name
    steps_seen = []
    dialog.progress.valueChanged.connect(steps_seen.append)
    with qtbot.waitSignal(dialog.drawn, timeout=120_000):
        dialog.draw_button.click()
    assert dialog.image is not None and dialog.image.size == (256, 256)
    assert steps_seen and max(steps_seen) == steps
    assert "scores its drawing" in dialog.status.text() and dialog.save_button.isEnabled()
    assert item.icon().pixmap(56, 56).toImage() != photo_cover  # the drawing is the cover now
    assert "drawn by the model" in item.toolTip()
    if SHOTS:
        w.side_panel.setCurrentWidget(groups)
        dialog.grab().save(str(Path(SHOTS) / "drawn-cover-dialog.png"))
        w.resize(1200, 700)
        qtbot.wait(50)
        w.side_panel.grab().save(str(Path(SHOTS) / "drawn-cover.png"))

    # A long drawing stops on Stop, with a plain sentence
    dialog.steps.setValue(2000)
    dialog.draw_button.click()
    qtbot.waitUntil(lambda: dialog.progress.value() >= 1, timeout=60_000)
    dialog.stop_button.click()
    qtbot.waitUntil(lambda: dialog.draw_button.isEnabled(), timeout=60_000)
    assert "stopped after" in dialog.status.text()
    dialog.close()


def test_draw_my_query_draws_the_words_of_the_search(qtbot, gui_window):
    w = gui_window("tiny-random")
    w.search_bar.field.setText('red circle +beach "/tmp/sketch.png"')
    w.search_bar.draw_query_action.trigger()
    dialog = next(d for d in w.findChildren(QDialog) if type(d).__name__ == "DrawDialog")
    assert dialog.text.text() == "red circle" and not dialog.draw_button.isEnabled()  # started at once
    dialog.stop_button.click()
    qtbot.waitUntil(lambda: dialog.draw_button.isEnabled(), timeout=60_000)
    assert "stopped after" in dialog.status.text() or "scores its drawing" in dialog.status.text()
    dialog.close()
