"""The People tab on the shared real face photos: turned on in Settings, named in place, merged,
a person's photos in the grid, faces outlined in the viewer, turned off (everything deleted)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import screenshot_dir
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QMessageBox

pytest.importorskip("pytestqt")
pytest.importorskip("dlib", reason="the faces extra (dlib-bin, face-recognition-models) is not installed")
FACES = next((d / "shared" / "testdata" / "faces" for d in Path(__file__).resolve().parents
              if (d / "shared" / "testdata" / "faces").is_dir()),
             Path(__file__).resolve().parents[2] / "shared" / "testdata" / "faces")
if not FACES.is_dir():
    pytest.skip(f"the shared face photos are not at {FACES}", allow_module_level=True)

INDEX_TIMEOUT_MS = 180_000


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for name in ("obama3.jpg", "obama-480p.jpg", "obama_small.jpg", "biden.jpg", "two_people.jpg"):
        shutil.copy(FACES / name, root / name)
    return root


def names(w) -> set[str]:
    return {Path(p.path).name for p in w.model.photos}


def drag_person(panel, source: str, target: str, drop: bool = True) -> bool | None:
    """Drag the person named `source` over the one named `target` in the People list, as Qt delivers
    it to the view (the mime data the view makes for the dragged item); drop it there, or only say
    whether the view would take it."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QDragMoveEvent, QDropEvent

    view = panel.list
    items = {view.item(i).data(Qt.ItemDataRole.UserRole + 1): view.item(i) for i in range(view.count())}
    view.doItemsLayout()
    mime = view.mimeData([items[source]])
    at = view.visualItemRect(items[target]).center()
    if not drop:
        move = QDragMoveEvent(at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                              Qt.KeyboardModifier.NoModifier)
        view.dragMoveEvent(move)
        return move.isAccepted()
    view.dropEvent(QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                              Qt.KeyboardModifier.NoModifier))
    return None


@pytest.mark.slow
def test_people_tab_from_settings_to_names_merge_viewer_and_off(qtbot, gui_window, folder, tmp_path):
    w = gui_window("tiny-random")
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.open_folder(folder)
    panel = w.side_panel.people
    w.side_panel.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.turn_on.isVisibleTo(panel), timeout=10_000)
    assert "Faces are off" in panel.info.text() and panel.list.count() == 0

    dialog = w.show_settings()
    assert dialog.faces.isEnabled() and not dialog.faces.isChecked()
    assert "deletes every face" in dialog.faces_note.text()
    dialog.faces.setChecked(True)
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS) as done:
        dialog.accept()
    report = done.args[0]
    assert report.indexed == 0 and report.faces.photos == 5 and report.faces.faces == 6  # no CLIP re-encode
    qtbot.waitUntil(lambda: panel.list.count() == 2, timeout=20_000)
    counts = sorted(len(p.paths) for p in panel.people)
    assert counts == [2, 4]  # Biden twice; Obama in four photos
    qtbot.waitUntil(lambda: all(not panel.list.item(i).icon().isNull() for i in range(2)), timeout=30_000)

    # Name in place: the editor holds only the name, and the name is stored.
    obama = next(p for p in panel.people if len(p.paths) == 4)
    item = next(panel.list.item(i) for i in range(2) if panel.list.item(i).data(Qt.ItemDataRole.UserRole) == obama.id)
    panel.list.setCurrentItem(item)
    panel.list.editItem(item)
    editor = panel.list.findChild(QLineEdit)
    assert editor is not None and editor.text() == ""
    editor.setText("Barack Obama")
    with qtbot.waitSignal(panel.task_finished, timeout=10_000):
        qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: any(p.name == "Barack Obama" for p in panel.people), timeout=10_000)
    item = next(panel.list.item(i) for i in range(2) if panel.list.item(i).data(Qt.ItemDataRole.UserRole) == obama.id)
    assert item.text().startswith("Barack Obama\n4 photos")

    # A person's photos in the grid, and a search by person.
    with qtbot.waitSignal(w.results_shown, timeout=20_000):
        panel.show_person(obama.id)
    assert names(w) == {"obama3.jpg", "obama-480p.jpg", "obama_small.jpg", "two_people.jpg"}
    assert w.search_bar.restrict_label == "Person: Barack Obama"
    assert any(s.key == f"person:{obama.id}" for s in w.export_sources())

    # The viewer outlines the faces, with the person's name.
    row = [Path(p.path).name for p in w.model.photos].index("two_people.jpg")
    viewer = w.open_viewer(row)
    qtbot.waitUntil(lambda: len(viewer.canvas.faces) == 2 and viewer.canvas.pixmap is not None, timeout=20_000)
    assert sorted(str(n) for _, n, _ in viewer.canvas.faces) == ["Barack Obama", "None"]
    viewer.canvas.grab().save(str(screenshot_dir(tmp_path) / "people-viewer.png"))
    viewer.close()
    qtbot.waitUntil(lambda: panel.faces.count() == 4 and all(
        not panel.faces.item(i).icon().isNull() for i in range(4)), timeout=30_000)
    w.resize(1400, 860)
    panel.faces.doItemsLayout()
    qtbot.wait(300)
    w.grab().save(str(screenshot_dir(tmp_path) / "people.png"))
    w.show_photos(None, "")

    # Regrouping keeps the named person as it is.
    with qtbot.waitSignal(panel.task_finished, timeout=10_000):
        panel.regroup_button.click()
    qtbot.waitUntil(lambda: panel.list.count() == 2 and any(p.name == "Barack Obama" for p in panel.people),
                    timeout=10_000)
    assert sorted(len(p.paths) for p in panel.people) == [2, 4]

    # Merge by selection: the named person keeps the name.
    for i in range(2):
        panel.list.item(i).setSelected(True)
    assert panel.merge_button.isEnabled()
    panel.merge_button.click()
    qtbot.waitUntil(lambda: panel.list.count() == 1, timeout=10_000)
    assert panel.people[0].name == "Barack Obama" and len(panel.people[0].paths) == 5

    # Not this person: the face leaves, into a person of its own (seen once: only under Everyone).
    (biden_face,) = [f for f in panel.people[0].faces if f.path.name == "biden.jpg"]
    panel.not_this_person(biden_face.id)
    qtbot.waitUntil(lambda: len(panel.people) == 1 and len(panel.people[0].paths) == 4, timeout=10_000)
    panel.everyone.setChecked(True)
    qtbot.waitUntil(lambda: panel.list.count() == 2, timeout=10_000)

    # Merge by drag: Biden (named now) dropped on Barack Obama. Two names: asked first; No keeps both.
    lone = next(p for p in panel.people if p.name != "Barack Obama")
    panel.rename(lone.id, "Joe Biden")
    qtbot.waitUntil(lambda: {p.name for p in panel.people} == {"Barack Obama", "Joe Biden"}, timeout=10_000)
    assert drag_person(panel, "Joe Biden", "Joe Biden", drop=False) is False  # not onto itself
    assert drag_person(panel, "Joe Biden", "Barack Obama", drop=False) is True
    drag_person(panel, "Joe Biden", "Barack Obama")
    question = panel.merge_question
    assert question is not None and question.isVisible() and "“Joe Biden” into “Barack Obama”" in question.text()
    question.button(QMessageBox.StandardButton.No).click()
    qtbot.wait(200)
    assert panel.merge_question is None and len(w.library.faces.people(min_faces=1)) == 2
    drag_person(panel, "Joe Biden", "Barack Obama")
    with qtbot.waitSignal(panel.task_finished, timeout=10_000):
        panel.merge_question.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: panel.list.count() == 1, timeout=10_000)
    assert panel.people[0].name == "Barack Obama" and len(panel.people[0].paths) == 5
    stored = w.library.faces.people(min_faces=1, hidden=True)
    assert [(p.name, len(p.faces)) for p in stored] == [("Barack Obama", 6)]

    # Off: every face and person is deleted, and the tab says faces are off.
    dialog = w.show_settings()
    assert dialog.faces.isChecked()
    dialog.faces.setChecked(False)
    dialog.accept()
    qtbot.waitUntil(lambda: panel.turn_on.isVisibleTo(panel), timeout=10_000)
    c = w.library.conn
    assert [c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("faces", "people", "face_scans")] == [0, 0, 0]
    assert panel.list.count() == 0
