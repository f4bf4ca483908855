"""The Tags tab's context menu: rename and delete a hand-made tag, take a wrong zero-shot tag off the
selected photos, and tagging again keeps both decisions."""

from __future__ import annotations

import json
import os

import pytest
from conftest import photo
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox

pytest.importorskip("pytestqt")


def tree_counts(panel) -> dict[tuple[str, str], int]:
    """(label set, label) -> photos, as the Tags tab shows them."""
    out = {}
    for i in range(panel.tree.topLevelItemCount()):
        top = panel.tree.topLevelItem(i)
        for j in range(top.childCount()):
            child = top.child(j)
            label_set, label = child.data(0, Qt.ItemDataRole.UserRole)
            out[(label_set, label)] = int(child.text(1).replace(",", ""))
    return out


def item(panel, label_set: str, label: str):
    for i in range(panel.tree.topLevelItemCount()):
        top = panel.tree.topLevelItem(i)
        for j in range(top.childCount()):
            if top.child(j).data(0, Qt.ItemDataRole.UserRole) == (label_set, label):
                return top.child(j)
    raise AssertionError(f"no {label_set}/{label} in the Tags tab")


def action(menu, starts: str):
    found = [a for a in menu.actions() if a.text().startswith(starts)]
    assert found, [a.text() for a in menu.actions()]
    return found[0]


def select(w, names: list[str]) -> list:
    sel = w.view.selectionModel()
    sel.clearSelection()
    rows = [r for r in range(w.model.rowCount()) if os.path.basename(w.model.photo(r).path) in names]
    for r in rows:
        sel.select(w.model.index(r), sel.SelectionFlag.Select)
    return [w.model.photo(r) for r in rows]


@pytest.mark.slow
def test_rename_delete_and_remove_a_wrong_tag_from_the_tags_tab(qtbot, gui_window, tmp_path, monkeypatch):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(4):
        photo(i).save(root / f"{i}.jpg")
    w = gui_window("tiny-random", watch_folder=False)
    with qtbot.waitSignal(w.indexing_finished, timeout=60_000):
        w.open_folder(root)
    qtbot.waitUntil(lambda: w.model.rowCount() == 4 and all(p.file_id for p in w.model.photos), timeout=20_000)
    tags, albums = w.side_panel.tags, w.side_panel.albums
    albums.add_tag("grandma", select(w, ["0.jpg", "1.jpg"]))
    qtbot.waitUntil(lambda: tree_counts(tags).get(("hand-made", "grandma")) == 2, timeout=10_000)
    # A closed set with threshold 0: every label on every photo (the random model's scores say nothing).
    (tmp_path / "moods.json").write_text(json.dumps({"name": "moods", "labels": ["happy", "sad", "calm"],
                                                     "none": [], "threshold": 0}))
    tags.choose_label_set(tmp_path / "moods.json")
    with qtbot.waitSignal(tags.task_finished, timeout=60_000, check_params_cb=lambda n: n == "tag"):
        tags.run_tagging()  # zero-shot
    qtbot.waitUntil(lambda: tree_counts(tags).get(("moods", "sad")) == 4, timeout=10_000)

    # Rename, from the hand-made tag's menu.
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Granny", True))
    action(tags.item_menu(item(tags, "hand-made", "grandma")), "Rename “grandma”").trigger()
    qtbot.waitUntil(lambda: tree_counts(tags).get(("hand-made", "Granny")) == 2, timeout=10_000)
    assert ("hand-made", "grandma") not in tree_counts(tags)

    # A zero-shot label has no rename or delete; it can be taken off the selected photos.
    lib = w.library

    def zero_shot(name: str) -> set[str]:
        return {lab for s, lab, _ in w.facade.details(lib, root / name).tags if s == "moods"}

    target, wrong = "2.jpg", "sad"
    others = ["0.jpg", "1.jpg", "3.jpg"]
    assert all(wrong in zero_shot(n) for n in [target, *others])
    tags.show_tag("moods", wrong)  # the grid narrowed to that tag follows the removal
    qtbot.waitUntil(lambda: w.search_bar.restrict_label == f"Tag: {wrong}" and w.model.rowCount() == 4,
                    timeout=10_000)
    select(w, [target])
    menu = tags.item_menu(item(tags, "moods", wrong))
    assert not [a for a in menu.actions() if a.text().startswith(("Rename", "Delete"))]
    remove = action(menu, f"Remove “{wrong}” from the 1 selected photo")
    assert remove.isEnabled()
    remove.trigger()
    qtbot.waitUntil(lambda: tree_counts(tags).get(("moods", wrong)) == 3, timeout=10_000)
    qtbot.waitUntil(lambda: sorted(os.path.basename(p.path) for p in w.model.photos) == others, timeout=10_000)
    assert wrong not in zero_shot(target)
    assert all(wrong in zero_shot(n) for n in others)  # only that photo

    with qtbot.waitSignal(tags.task_finished, timeout=60_000, check_params_cb=lambda n: n == "tag"):
        tags.run_tagging()  # tagging again keeps both the hand-made tag and the removal
    qtbot.waitUntil(lambda: tree_counts(tags).get(("hand-made", "Granny")) == 2, timeout=10_000)
    assert tree_counts(tags)[("moods", wrong)] == 3 and tree_counts(tags)[("moods", "happy")] == 4
    assert wrong not in zero_shot(target)

    # Delete, after a confirmation.
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Yes)
    action(tags.item_menu(item(tags, "hand-made", "Granny")), "Delete “Granny”").trigger()
    qtbot.waitUntil(lambda: not any(s == "hand-made" for s, _ in tree_counts(tags)), timeout=10_000)
    assert len(asked) == 1
    assert w.facade.organized(lib) is not None
    assert not any(s == "hand-made" for s, _, _ in w.facade.details(lib, root / "0.jpg").tags)
