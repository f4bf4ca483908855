"""Albums, stars and favourites in the app: keys, badges, the Albums tab, the filter row, the viewer."""

from __future__ import annotations

import os

import pytest
from conftest import screenshot_dir
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from clipgallery.gui.gallery_model import MarksRole

pytest.importorskip("pytestqt")

MODEL = "shapes-tiny"


@pytest.fixture
def window(qtbot, gui_window, tmp_path):
    from clipgallery.shapes import write_folder

    root = tmp_path / "shapes"
    write_folder(root, per_class=1, seed=4242, classes=[("red", "circle"), ("blue", "square"), ("green", "star"),
                                                        ("yellow", "triangle"), ("purple", "circle"),
                                                        ("orange", "square")])
    w = gui_window(MODEL)
    with qtbot.waitSignal(w.indexing_finished, timeout=120_000):
        w.open_folder(root)
    qtbot.waitUntil(lambda: not w._search_busy and w.model.rowCount() == 6
                    and all(p.file_id for p in w.model.photos), timeout=20_000)
    return w


def select(w, rows: list[int]) -> list:
    sel = w.view.selectionModel()
    sel.clearSelection()
    sel.setCurrentIndex(w.model.index(rows[0]), sel.SelectionFlag.NoUpdate)
    for r in rows:
        sel.select(w.model.index(r), sel.SelectionFlag.Select)
    assert len(w.selected_photos()) == len(rows)
    return [w.model.photo(r) for r in rows]


def marks(w, row: int):
    return w.model.data(w.model.index(row), MarksRole)


def shown(w) -> set[str]:
    return {os.path.basename(p.path) for p in w.model.photos}


def test_keys_rate_and_favourite_the_selection_and_badges_show_it(qtbot, window):
    w = window
    select(w, [0, 1])
    w.view.setFocus()
    QTest.keyClick(w.view, Qt.Key.Key_3)
    qtbot.waitUntil(lambda: marks(w, 0) == (3, False) and marks(w, 1) == (3, False), timeout=10_000)
    assert marks(w, 2) is None
    select(w, [1, 2])
    QTest.keyClick(w.view, Qt.Key.Key_Period)
    qtbot.waitUntil(lambda: marks(w, 1) == (3, True) and marks(w, 2) == (0, True), timeout=10_000)
    QTest.keyClick(w.view, Qt.Key.Key_Period)  # all already favourites: the key takes it off again
    qtbot.waitUntil(lambda: marks(w, 1) == (3, False) and marks(w, 2) is None, timeout=10_000)
    QTest.keyClick(w.view, Qt.Key.Key_0)  # 0 clears the rating
    qtbot.waitUntil(lambda: marks(w, 1) is None, timeout=10_000)
    assert marks(w, 0) == (3, False)
    # A digit typed into the search field is text: it rates nothing.
    QTest.keyClicks(w.search_bar.field, "5")
    qtbot.wait(300)
    assert w.search_bar.field.text() == "5"
    assert w.facade.organized(w.library).marks == {w.model.photo(0).file_id: (3, False)}


def test_albums_tab_filters_and_context_menu(qtbot, window):
    w = window
    panel = w.side_panel.albums
    names = [os.path.basename(p.path) for p in w.model.photos]
    trip = select(w, [0, 2, 4])
    panel.create_album("Trip", trip)
    qtbot.waitUntil(lambda: panel.albums == [("Trip", 3)], timeout=10_000)
    assert panel.tree.topLevelItem(0).text(0) == "Trip" and panel.tree.topLevelItem(0).text(1) == "3"
    assert w.search_bar.album.findData("Trip") > 0  # the filter row offers it

    # The context menu of a selection has the marks and albums.
    menu = w.context_menu(0)
    texts = [a.text() for a in menu.actions()]
    assert {"Add to album", "Rate", "Favourite", "Add a tag…", "Remove a tag…"} <= set(texts)
    add_to = next(a for a in menu.actions() if a.text() == "Add to album").menu()
    assert [a.text() for a in add_to.actions() if a.text()] == ["Trip", "New album…"]

    # Clicking the album shows its photos.
    item = panel.tree.topLevelItem(0)
    with qtbot.waitSignal(w.results_shown, timeout=10_000):
        panel.tree.itemClicked.emit(item, 0)
    assert shown(w) == {names[0], names[2], names[4]} and "Trip" in w.search_bar.restrict_label
    with qtbot.waitSignal(w.results_shown, timeout=10_000):
        w.search_bar.set_restrict(None, "")

    # Stars and favourites narrow the grid from the filter row, with the album or alone.
    panel.rate([w.model.photo(r) for r in (0, 1)], 4)
    panel.set_favourite([w.model.photo(4)], True)
    qtbot.waitUntil(lambda: len(panel.marks) == 3, timeout=10_000)
    with qtbot.waitSignal(w.results_shown, timeout=10_000):
        w.search_bar.min_stars.setCurrentIndex(w.search_bar.min_stars.findData(4))
    assert shown(w) == {names[0], names[1]}
    with qtbot.waitSignal(w.results_shown, timeout=10_000):
        w.search_bar.album.setCurrentIndex(w.search_bar.album.findData("Trip"))
    assert shown(w) == {names[0]}
    with qtbot.waitSignal(w.results_shown, timeout=10_000):
        w.search_bar.min_stars.setCurrentIndex(0)
    with qtbot.waitSignal(w.results_shown, timeout=10_000):
        w.search_bar.favourites.setChecked(True)
    assert shown(w) == {names[4]}
    # A text search honours the same filters.
    with qtbot.waitSignal(w.results_shown, timeout=30_000):
        w.search_bar.field.setText("a circle")
        w.search_bar.search_now()
    assert shown(w) <= {names[4]}

    # Rename, then delete: the filter falls back to any album and the photos stay.
    panel.rename_album("Trip", "Holiday")
    qtbot.waitUntil(lambda: panel.albums == [("Holiday", 3)], timeout=10_000)
    panel.delete_album("Holiday")
    qtbot.waitUntil(lambda: panel.albums == [] and panel.empty.isVisibleTo(panel), timeout=10_000)
    assert w.search_bar.album.currentData() == "" and len(os.listdir(w.library.root)) == 6


def test_hand_tags_from_the_selection_and_the_viewer_rates_and_removes_a_tag(qtbot, window):
    w = window
    panel, tags = w.side_panel.albums, w.side_panel.tags
    photos = select(w, [1, 3])
    panel.add_tag("picnic", photos)
    qtbot.waitUntil(lambda: any(s.name == "hand-made" and s.counts == {"picnic": 2} for s in tags.summaries),
                    timeout=10_000)
    viewer = w.open_viewer(1)
    qtbot.waitUntil(lambda: viewer.details is not None and "picnic" in viewer.info.value("Tags"), timeout=10_000)
    QTest.keyClick(viewer, Qt.Key.Key_5)
    qtbot.waitUntil(lambda: viewer.details.stars == 5 and "\u2605" * 5 in viewer.info.value("Rating"),
                    timeout=10_000)
    QTest.keyClick(viewer, Qt.Key.Key_Period)
    qtbot.waitUntil(lambda: viewer.details.favourite, timeout=10_000)
    qtbot.waitUntil(lambda: marks(w, 1) == (5, True), timeout=10_000)  # the grid's badge follows
    viewer.info.fields["Tags"].linkActivated.emit("remove:picnic")  # the tag's ✕
    qtbot.waitUntil(lambda: viewer.details is not None and "picnic" not in viewer.info.value("Tags"),
                    timeout=10_000)
    qtbot.waitUntil(lambda: any(s.name == "hand-made" and s.counts == {"picnic": 1} for s in tags.summaries),
                    timeout=10_000)
    viewer.close()


def test_groups_rename_and_merge_in_the_groups_tab(qtbot, window):
    w = window
    groups = w.side_panel.groups
    with qtbot.waitSignal(groups.task_finished, timeout=60_000):
        groups.run_grouping(3)
    qtbot.waitUntil(lambda: groups.grouping is not None and len(groups.grouping.groups) == 3, timeout=10_000)
    first, second, third = groups.grouping.groups
    with qtbot.waitSignal(groups.task_finished, timeout=10_000):
        groups.rename_group(second.cluster, "Squares and such")
    assert groups.grouping.groups[1].name == "Squares and such"
    assert groups.list.item(1).text().startswith("Squares and such")
    with qtbot.waitSignal(groups.task_finished, timeout=10_000):
        groups.merge_groups(third.cluster, first.cluster)
    assert len(groups.grouping.groups) == 2
    assert set(groups.grouping.groups[0].file_ids) == set(first.file_ids) | set(third.file_ids)


def test_screenshot_of_albums_and_badges(qtbot, window, tmp_path):
    w = window
    w.resize(1280, 760)
    w.side_panel.setCurrentWidget(w.side_panel.albums)
    panel = w.side_panel.albums
    panel.create_album("Summer 2024", [w.model.photo(r) for r in (0, 1, 2, 3)])
    qtbot.waitUntil(lambda: panel.albums == [("Summer 2024", 4)], timeout=10_000)
    panel.create_album("Best of", [w.model.photo(r) for r in (1, 4)])
    qtbot.waitUntil(lambda: len(panel.albums) == 2, timeout=10_000)
    panel.rate([w.model.photo(1)], 5)
    panel.rate([w.model.photo(0), w.model.photo(4)], 3)
    panel.set_favourite([w.model.photo(1), w.model.photo(5)], True)
    qtbot.waitUntil(lambda: marks(w, 1) == (5, True) and marks(w, 5) == (0, True) and marks(w, 4) == (3, False),
                    timeout=10_000)
    w.search_bar.filters_button.setChecked(True)
    qtbot.wait(300)
    assert w.grab().save(str(screenshot_dir(tmp_path) / "albums.png"))
