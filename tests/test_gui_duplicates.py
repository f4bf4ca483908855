"""The Duplicates tab acting on duplicates: the compare view, choosing another keeper, the Trash
confirmation that lists the files (cancel moves nothing, accept moves them), and the grid after it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import hash_tree
from PIL import Image
from test_duplicates import desktop_trash, sha256  # noqa: F401 (desktop_trash is a fixture)

from clipgallery import shapes

INDEX_TIMEOUT_MS = 120_000


@pytest.mark.slow  # indexes, finds, plans and moves in a real window
def test_compare_view_and_trash_after_confirmation(qtbot, gui_window, tmp_path, desktop_trash):  # noqa: F811
    folder = tmp_path / "photos"
    folder.mkdir()
    image = shapes.draw([("red", "circle")], shapes.held_out_seed(8_700_000, 1), size=(240, 200))
    image.save(folder / "a.png")
    image.resize((160, 133), Image.Resampling.LANCZOS).save(folder / "a small.jpg", quality=90)
    shapes.draw([("red", "circle")], shapes.held_out_seed(8_700_000, 2), size=(240, 200)).save(folder / "b.png")
    w = gui_window("shapes-tiny")
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.open_folder(folder)
    dupes = w.side_panel.duplicates
    with qtbot.waitSignal(dupes.task_finished, timeout=30_000):
        dupes.find()
    assert [sorted(m.path.name for m in g.members) for g in dupes.report.groups] == [["a small.jpg", "a.png"]]
    # b.png is another drawing of a red circle: only similar, listed on request, never trashable.
    assert dupes.tree.topLevelItemCount() == 1
    assert [sorted(m.path.name for m in g.members) for g in dupes.report.similar] == [["a small.jpg", "a.png", "b.png"]]
    dupes.show_similar.setChecked(True)
    assert dupes.tree.topLevelItemCount() == 2 and "not the same picture" in dupes.tree.topLevelItem(1).text(0)
    look = dupes.compare(("similar", 0))
    assert not look.trash_button.isEnabled() and not any(c.keep.isEnabled() for c in look.columns)
    look.close()

    dialog = dupes.compare(("duplicate", 0))
    assert dialog is not None and dialog.isVisible()
    shown = {c.member.path.name: c for c in dialog.columns}
    assert shown["a.png"].dimensions.text() == "240 × 200 px"
    assert shown["a small.jpg"].dimensions.text() == "160 × 133 px"
    assert shown["a.png"].mark.text() == "★ suggested keeper" and shown["a small.jpg"].mark.text() == ""
    assert shown["a.png"].keep.isChecked()
    for name, column in shown.items():
        assert column.size_label.text().endswith("KB") and column.path.text() == str(folder / name)
        qtbot.waitUntil(lambda c=column: c.picture.pixmap() is not None and not c.picture.pixmap().isNull(),
                        timeout=15_000)
    before = hash_tree(folder)

    # Keep the small copy instead: the confirmation lists the other one. Cancel moves nothing.
    dialog.choose(shown["a small.jpg"].member.id)
    dialog.trash_button.click()
    qtbot.waitUntil(lambda: dupes.confirm_dialog is not None and dupes.confirm_dialog.isVisible(), timeout=30_000)
    listed = dupes.confirm_dialog.listed()
    assert len(listed) == 1 and listed[0].startswith(str(folder / "a.png"))
    assert "Move 1 photo to the Trash" in dupes.confirm_dialog.question.text()
    dupes.confirm_dialog.reject()
    qtbot.wait(200)
    assert hash_tree(folder) == before and not desktop_trash.exists()

    # The tab's button keeps the suggested keeper; accepting moves the small copy to the Trash.
    dupes.confirm_dialog = None
    dupes.trash_button.click()
    qtbot.waitUntil(lambda: dupes.confirm_dialog is not None and dupes.confirm_dialog.isVisible(), timeout=30_000)
    assert [t.split("   ")[0] for t in dupes.confirm_dialog.listed()] == [str(folder / "a small.jpg")]
    with qtbot.waitSignal(dupes.task_finished, timeout=30_000, check_params_cb=lambda name: name == "trash"):
        dupes.confirm_dialog.move_button.click()
    trashed = desktop_trash / "files" / "a small.jpg"
    assert trashed.is_file() and (desktop_trash / "info" / "a small.jpg.trashinfo").is_file()
    assert sha256(trashed) == before["a small.jpg"]
    assert hash_tree(folder) == {k: v for k, v in before.items() if k != "a small.jpg"}
    assert "Moved 1 photo to the Trash" in w.note_label.text() and str(desktop_trash) in w.note_label.text()
    qtbot.waitUntil(lambda: sorted(Path(p.path).name for p in w.model.photos) == ["a.png", "b.png"],
                    timeout=30_000)
    qtbot.waitUntil(lambda: dupes.report is not None and dupes.report.groups == [], timeout=30_000)
