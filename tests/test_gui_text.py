"""Text in photos in the desktop app: the setting reads the folder, a search hit shows its line, the viewer
outlines the words and copies them, and turning the setting off deletes the text (real widgets, RapidOCR)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import photo
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from test_text_in_photos import sign

pytest.importorskip("pytestqt")
pytest.importorskip("rapidocr_onnxruntime", reason="rapidocr-onnxruntime is not installed")

INDEX_TIMEOUT_MS = 240_000


@pytest.mark.slow
def test_text_setting_search_hit_and_viewer(qtbot, gui_window, tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    im = sign(31, "BAKERY", 0, 72, 0, True, (900, 640))
    from PIL import ImageDraw, ImageFont
    from test_text_in_photos import fonts
    d = ImageDraw.Draw(im)
    f = ImageFont.truetype(str(fonts()[0]), 34) if fonts() else ImageFont.load_default(size=34)
    d.rectangle((240, 470, 660, 530), fill=(250, 248, 240))
    d.text((260, 478), "Fresh bread daily", fill=(30, 30, 30), font=f)
    im.save(root / "bakery.jpg", quality=92)
    for i in range(3):
        photo(40 + i, (640, 480)).save(root / f"plain_{i}.jpg", quality=90)

    w = gui_window("tiny-random")
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.open_folder(root)
    qtbot.waitUntil(lambda: not w._search_busy and not w.jobs.busy, timeout=10_000)

    dialog = w.show_settings()
    assert dialog.text.isEnabled() and not dialog.text.isChecked()
    dialog.text.setChecked(True)
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS) as done:
        dialog.accept()
    assert done.args[0].text.with_text == 1
    from clipgallery.gui.main_window import _report_text

    assert "text read in 4 photos (1 with text)" in _report_text(done.args[0])
    qtbot.waitUntil(lambda: not w._search_busy and not w.jobs.busy, timeout=10_000)

    with qtbot.waitSignal(w.results_shown, timeout=30_000):
        qtbot.keyClicks(w.search_bar.field, "text:bread")
    qtbot.waitUntil(lambda: [Path(p.path).name for p in w.model.photos] == ["bakery.jpg"], timeout=10_000)
    tip = w.model.data(w.model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert "text: “Fresh bread daily”" in tip

    viewer = w.open_viewer(0)
    qtbot.waitUntil(lambda: viewer.canvas.pixmap is not None and viewer.text_panel.isVisible(), timeout=20_000)
    lines = viewer.text_panel.lines()
    assert [ln.upper() for ln in lines] == ["BAKERY", "FRESH BREAD DAILY"]
    # Clicking a line outlines it on the photo ...
    viewer.text_panel.list.item(1).setSelected(True)
    assert viewer.canvas.highlighted == {1}
    # ... and a click on the words in the photo selects their line.
    canvas = viewer.canvas
    pic = canvas.picture_rect()
    quad = canvas.text_boxes[0]
    cx = sum(x for x, _ in quad) / 4
    cy = sum(y for _, y in quad) / 4
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton,
                     pos=QPoint(pic.left() + round(cx * pic.width()), pic.top() + round(cy * pic.height())))
    assert viewer.text_panel.selected_text() == lines[0] and canvas.highlighted == {0}
    assert canvas.box is None  # a click is not a part to search for
    # Ctrl+C copies the selection.
    viewer.text_panel.list.setFocus()
    QGuiApplication.clipboard().clear()
    qtbot.keyClick(viewer.text_panel.list, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == lines[0]
    viewer.text_panel.copy_all()
    assert QGuiApplication.clipboard().text() == "\n".join(lines)
    viewer.grab().save(str(tmp_path / "viewer-text.png"))  # docs/screenshots/viewer-text.png was taken so

    dialog = w.show_settings()
    assert dialog.text.isChecked()
    dialog.text.setChecked(False)
    dialog.accept()
    qtbot.waitUntil(lambda: w.library.conn.execute("SELECT COUNT(*) FROM text_lines").fetchone()[0] == 0,
                    timeout=10_000)
    viewer.close()
