"""Regional vectors in the desktop app: the setting, "Find photos sharing objects", and a box drawn
in the viewer to find that part of a photo elsewhere (real widgets, shapes-tiny)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt

from clipgallery.shapes import scene

pytest.importorskip("pytestqt")

INDEX_TIMEOUT_MS = 120_000


@pytest.fixture
def scenes(tmp_path) -> Path:
    """a: red circle + blue star (top right); b: green square + blue star; c: red circle + yellow triangle;
    and a few unrelated scenes."""
    root = tmp_path / "photos"
    root.mkdir()
    scene(("red", "circle"), ("blue", "star"), 1, (1, 0)).save(root / "a.png")
    scene(("green", "square"), ("blue", "star"), 2, (0, 1)).save(root / "b.png")
    scene(("red", "circle"), ("yellow", "triangle"), 3, (1, 0)).save(root / "c.png")
    scene(("purple", "triangle"), ("orange", "square"), 4, (0, 0)).save(root / "d.png")
    scene(("yellow", "square"), ("green", "circle"), 5, (1, 1)).save(root / "e.png")
    return root


def names(window) -> list[str]:
    return [Path(p.path).name for p in window.model.photos]


def row_of(window, name: str) -> int:
    return names(window).index(name)


def open_indexed(qtbot, gui_window, root):
    w = gui_window("shapes-tiny")
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.open_folder(root)
    qtbot.waitUntil(lambda: not w._search_busy and not w.jobs.busy and w.model.rowCount() == 5
                    and all(p.file_id for p in w.model.photos), timeout=10_000)
    return w


def test_turning_regional_vectors_on_in_settings_indexes_them_and_finds_shared_objects(qtbot, gui_window, scenes):
    w = open_indexed(qtbot, gui_window, scenes)
    assert w.library.region_count(w.library.model_id(w.settings.model)) == 0

    # Asking before the setting is on says where to turn it on.
    w.find_shared(row_of(w, "a.png"))
    qtbot.waitUntil(lambda: "Settings" in w.search_bar.error_label.text(), timeout=10_000)
    w.search_bar.clear_similar()
    qtbot.waitUntil(lambda: not w._search_busy, timeout=10_000)

    dialog = w.show_settings()
    assert dialog.regional.isEnabled() and not dialog.regional.isChecked()
    dialog.regional.setChecked(True)
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS) as done:
        dialog.accept()
    assert done.args[0].indexed == 5  # encoded again, for their regions
    assert w.library.regional and w.library.region_count(w.library.model_id(w.settings.model)) == 5

    qtbot.waitUntil(lambda: not w._search_busy and not w.jobs.busy, timeout=10_000)
    with qtbot.waitSignal(w.results_shown, timeout=30_000):
        w.find_shared(row_of(w, "a.png"))
    assert names(w)[0] == "a.png" and len(names(w)) == 5
    assert w.search_bar.similar_chip.text() == "Sharing objects with a.png"
    assert "most shared objects first" in w.count_label.text()
    # b (shares the star) and c (shares the circle) both come before the scenes sharing nothing
    assert max(row_of(w, "b.png"), row_of(w, "c.png")) < min(row_of(w, "d.png"), row_of(w, "e.png"))

    dialog = w.show_settings()
    assert dialog.regional.isChecked()
    dialog.regional.setChecked(False)
    dialog.accept()
    qtbot.waitUntil(lambda: not w.library.regional, timeout=10_000)
    assert w.library.region_count(w.library.model_id(w.settings.model)) == 0


def test_a_box_drawn_in_the_viewer_finds_that_object_in_other_scenes(qtbot, gui_window, scenes, tmp_path):
    w = open_indexed(qtbot, gui_window, scenes)
    w.library.set_regional(True)
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.start_indexing()
    qtbot.waitUntil(lambda: not w._search_busy and not w.jobs.busy, timeout=10_000)

    viewer = w.open_viewer(row_of(w, "a.png"))
    qtbot.waitUntil(lambda: viewer.canvas.pixmap is not None, timeout=10_000)
    canvas = viewer.canvas
    pic = canvas.picture_rect()
    assert not viewer.part_action.isEnabled()
    # A click is not a box.
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=pic.center())
    assert canvas.box is None
    # Drag across the top right quarter, where a's blue star is.
    start = QPoint(pic.left() + pic.width() // 2, pic.top())
    end = QPoint(pic.right(), pic.top() + pic.height() // 2)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas, end)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)
    left, top, right, bottom = canvas.box
    assert left == pytest.approx(0.5, abs=0.02) and top == pytest.approx(0, abs=0.02)
    assert right == pytest.approx(1, abs=0.02) and bottom == pytest.approx(0.5, abs=0.02)
    assert viewer.part_action.isEnabled()
    canvas.grab().save(str(tmp_path / "viewer-box.png"))

    with qtbot.waitSignal(w.results_shown, timeout=30_000):
        viewer.part_action.trigger()
    assert w.search_bar.similar_chip.text() == "Object from a.png"
    # b holds a blue star too; c shares only a's large red circle, which is outside the box
    assert row_of(w, "b.png") < row_of(w, "c.png")
    assert row_of(w, "b.png") <= 1

    # Esc drops the box first, and only then closes the viewer.
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    assert canvas.box is None and viewer.isVisible()


def test_photos_without_regions_yet_are_left_out_and_the_status_bar_says_so(qtbot, gui_window, scenes):
    w = open_indexed(qtbot, gui_window, scenes)
    w.library.set_regional(True)
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.start_indexing()
    qtbot.waitUntil(lambda: not w._search_busy and not w.jobs.busy, timeout=10_000)
    # As while indexing is still adding them: two photos have no regions yet.
    ids = w.library.file_ids(["d.png", "e.png"])
    with w.library.transaction():
        w.library.store.vectors.delete_regions(ids.values())
        w.library.bump()
    with qtbot.waitSignal(w.results_shown, timeout=30_000):
        w.find_shared(row_of(w, "a.png"))
    assert sorted(names(w)) == ["a.png", "b.png", "c.png"]
    assert "2 photos have no region vectors yet" in w.note_label.text()
