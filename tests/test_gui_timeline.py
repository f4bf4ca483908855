"""The timeline: photos sorted by date grouped under day/month headers, the header of the section at the
top pinned there, a scrubber that jumps through the years; oldest-first and by-name orders; reopening
the last folder at start."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import photo, screenshot_dir
from PySide6.QtCore import QPoint, Qt

from clipgallery.gui.timeline import GridLayout, date_sections, granularity

pytest.importorskip("pytestqt")

# relpath -> local date and time it was taken (its mtime)
DATES = {
    "trips/paris/louvre.jpg": "2024-03-10 15:00", "trips/paris/eiffel.jpg": "2024-03-10 09:30",
    "trips/paris/seine.jpg": "2024-03-09 18:00", "home/cat.jpg": "2024-01-20 12:00",
    "home/dog.jpg": "2024-01-20 08:00", "home/garden.jpg": "2023-11-02 10:00",
    "img_10.jpg": "2023-11-01 10:00", "IMG_2.jpg": "2022-06-15 10:00",
}


def ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").timestamp()


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "photos"
    for i, (rel, when) in enumerate(DATES.items()):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        photo(i, (96, 72)).save(p, "JPEG")
        os.utime(p, (ts(when), ts(when)))
    return root


def open_window(qtbot, gui_window, folder: Path, **settings):
    w = gui_window("tiny-random", **settings)
    w.resize(900, 560)
    with qtbot.waitSignal(w.indexing_finished, timeout=120_000):
        w.open_folder(folder)
    qtbot.waitUntil(lambda: not w._search_busy and w.model.rowCount() == len(DATES)
                    and all(p.file_id for p in w.model.photos), timeout=20_000)
    return w


def names(w) -> list[str]:
    return [os.path.basename(p.path) for p in w.model.photos]


def test_date_sorted_photos_are_grouped_under_dated_headers(qtbot, gui_window, folder):
    w = open_window(qtbot, gui_window, folder, sort="date")
    view = w.view
    assert view.timeline and view.granularity == "day"  # few photos: a header per day
    assert [(s.label, s.count) for s in view.sections] == [
        ("Sun, 10 Mar 2024", 2), ("Sat, 9 Mar 2024", 1), ("Sat, 20 Jan 2024", 2), ("Thu, 2 Nov 2023", 1),
        ("Wed, 1 Nov 2023", 1), ("Wed, 15 Jun 2022", 1)]
    assert names(w)[:3] == ["louvre.jpg", "eiffel.jpg", "seine.jpg"]
    # Each header lies above its photos, and each photo's cell below its own header.
    for i, s in enumerate(view.sections):
        header = view.header_rect(i)
        for row in range(s.start, s.start + s.count):
            cell = view.visualRect(w.model.index(row))
            assert cell.top() >= header.bottom()
            if i + 1 < len(view.sections):
                assert cell.bottom() < view.header_rect(i + 1).top()
    # Arrow keys cross from one section into the next (same column, else its last photo) and back.
    view.setFocus()
    view.setCurrentIndex(w.model.index(1))
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert view.currentIndex().row() == 2  # 9 Mar holds one photo: the first column
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert view.currentIndex().row() == 3
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert view.currentIndex().row() == 2
    qtbot.keyClick(view, Qt.Key.Key_End)
    assert view.currentIndex().row() == len(DATES) - 1
    assert view.visualRect(view.currentIndex()).bottom() <= view.viewport().height()  # scrolled into view
    # Best match (the folder's own order) is a flat grid again: no headers, no scrubber.
    w.search_bar.set_sort("score")
    qtbot.waitUntil(lambda: not view.sections, timeout=10_000)
    assert not view.scrubber.isVisible()


def test_the_top_section_header_stays_pinned_and_selects_its_photos(qtbot, gui_window, folder):
    w = open_window(qtbot, gui_window, folder, sort="date", thumbnail_size=224)
    view = w.view
    qtbot.waitUntil(lambda: view.verticalScrollBar().maximum() > 0, timeout=5_000)
    g = view.grid
    # Scroll into the middle of the third section (20 Jan): its own header is above the top edge now.
    view.verticalScrollBar().setValue(g.section_top(2) + g.header_h + 20)
    assert view.header_rect(2).bottom() < 0
    assert view.section_at_top() == 2
    assert view._header_under(QPoint(10, 5)) == 2  # the pinned header is drawn (and hit) at the top
    image = view.viewport().grab().toImage()
    back = view.palette().color(view.palette().ColorRole.Base)
    assert image.pixelColor(view.viewport().width() - 20, 4).red() == pytest.approx(back.red(), abs=12)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(10, 5))
    assert sorted(os.path.basename(p.path) for p in w.selected_photos()) == ["cat.jpg", "dog.jpg"]
    # Just below the top of a section, its own header is at the top edge, not pinned over it.
    view.verticalScrollBar().setValue(g.section_top(1))
    assert view.section_at_top() == 1 and view.header_rect(1).top() == 0


def test_the_scrubber_jumps_to_a_year_and_names_the_month_while_dragging(qtbot, gui_window, folder):
    w = open_window(qtbot, gui_window, folder, sort="date", thumbnail_size=224)
    view, scrubber = w.view, w.view.scrubber
    qtbot.waitUntil(lambda: scrubber.isVisible() and view.verticalScrollBar().maximum() > 0, timeout=5_000)
    years = dict(scrubber.year_positions())
    assert list(years) == [2024, 2023, 2022]  # newest first, like the grid
    qtbot.mouseClick(scrubber, Qt.MouseButton.LeftButton, pos=QPoint(scrubber.width() // 2, int(years[2023])))
    first_2023 = next(i for i, s in enumerate(view.sections) if s.year == 2023)
    bar = view.verticalScrollBar()
    assert bar.value() == min(bar.maximum(), view.grid.section_top(first_2023))
    assert view.sections[view.section_at_top()].year == 2023 or bar.value() == bar.maximum()
    # Dragging scrolls through the timeline, and a bubble says which month is under the pointer.
    qtbot.mousePress(scrubber, Qt.MouseButton.LeftButton, pos=QPoint(10, scrubber.height() - 12))
    assert scrubber.bubble.isVisible() and scrubber.bubble.text() == "June 2022"
    qtbot.mouseMove(scrubber, QPoint(10, 2))  # above the track: its top
    assert bar.value() == 0 and scrubber.bubble.text() == "March 2024"
    qtbot.mouseRelease(scrubber, Qt.MouseButton.LeftButton, pos=QPoint(10, 12))
    assert not scrubber.bubble.isVisible()


def test_oldest_first_is_a_timeline_too_and_by_name_is_natural_and_flat(qtbot, gui_window, folder):
    w = open_window(qtbot, gui_window, folder, sort="date")
    w.search_bar.set_sort("oldest")
    qtbot.waitUntil(lambda: names(w)[0] == "IMG_2.jpg", timeout=10_000)
    dates = [p.date for p in w.model.photos]
    assert dates == sorted(dates)
    assert [s.label for s in w.view.sections][:2] == ["Wed, 15 Jun 2022", "Wed, 1 Nov 2023"]
    assert w.settings.sort == "oldest"
    w.search_bar.set_sort("name")
    qtbot.waitUntil(lambda: names(w)[0] == "cat.jpg", timeout=10_000)
    assert names(w) == ["cat.jpg", "dog.jpg", "eiffel.jpg", "garden.jpg", "IMG_2.jpg", "img_10.jpg",
                        "louvre.jpg", "seine.jpg"]
    assert not w.view.sections


def test_sections_and_layout_arithmetic():
    d = np.array([ts("2024-03-10 15:00"), ts("2024-03-01 00:00"), ts("2024-02-29 23:59"), np.nan])
    assert [(s.label, s.start, s.count) for s in date_sections(d, "month")] == [
        ("March 2024", 0, 2), ("February 2024", 2, 1), ("Unknown date", 3, 1)]
    assert [s.label for s in date_sections(d, "day")] == [
        "Sun, 10 Mar 2024", "Fri, 1 Mar 2024", "Thu, 29 Feb 2024", "Unknown date"]
    # Out of order, a month met again gets a header again: the grid never hides its order.
    assert len(date_sections(np.array([ts("2024-03-01 10:00"), ts("2023-01-01 10:00"),
                                       ts("2024-03-02 10:00")]), "month")) == 3
    assert granularity(40, 160) == "day" and granularity(5000, 160) == "month" and granularity(5000, 224) == "day"
    # 100,000 photos over 20 years: no per-photo work beyond numpy.
    many = np.sort(np.random.default_rng(0).uniform(ts("2005-01-01 00:00"), ts("2025-01-01 00:00"), 100_000))[::-1]
    sections = date_sections(many, "month")
    assert len(sections) == 240 and sum(s.count for s in sections) == 100_000
    g = GridLayout([s.count for s in sections], 7, 100, 100, 30, 8)
    for row in (0, 6, 7, 99_999, sections[100].start):
        x, y = g.cell(row)
        assert g.row_at(x + 50, y + 50) == row
    assert g.row_at(10, g.section_top(5) + 5) is None and g.header_at(g.section_top(5) + 5) == 5
    rows = g.rows_between(g.section_top(3), g.section_top(3) + 150)
    assert rows.start == sections[3].start
    assert g.row_below(sections[0].start + sections[0].count - 1) == sections[1].start + (
        (sections[0].count - 1) % 7 if (sections[0].count - 1) % 7 < sections[1].count else sections[1].count - 1)


def test_the_last_folder_is_reopened_at_start_unless_turned_off(qtbot, tmp_path, folder):
    from clipgallery.gui.dialogs.settings_dialog import SettingsDialog
    from clipgallery.gui.settings import Settings

    settings = Settings.at(tmp_path / "s.ini")
    assert settings.reopen_last and settings.folder_to_reopen() is None  # nothing opened yet
    settings.add_recent_folder(tmp_path)
    settings.add_recent_folder(folder)
    assert settings.folder_to_reopen() == folder.resolve()
    dialog = SettingsDialog(settings, [("tiny-random", "")])
    qtbot.addWidget(dialog)
    assert dialog.reopen.isChecked()
    dialog.reopen.setChecked(False)
    dialog.apply()
    assert Settings.at(tmp_path / "s.ini").reopen_last is False and settings.folder_to_reopen() is None
    settings.reopen_last = True
    folder.rename(tmp_path / "gone")  # a folder that went away is not opened (the welcome page shows)
    assert settings.folder_to_reopen() is None


def test_the_folder_tree_counts_subtrees_and_filters_the_grid(qtbot, gui_window, folder):
    w = open_window(qtbot, gui_window, folder, sort="date")
    panel = w.side_panel.folders
    qtbot.waitUntil(lambda: panel.counts.get("") == len(DATES), timeout=10_000)
    assert panel.counts == {"": 8, "trips": 3, "trips/paris": 3, "home": 3}
    tree = panel.tree
    top = tree.topLevelItem(0)
    assert (top.text(0), top.text(1)) == ("All photos", "8")
    shown = {top.child(i).text(0): top.child(i).text(1) for i in range(top.childCount())}
    assert shown == {"home": "3", "trips": "3"}
    paris = tree.findItems("paris", Qt.MatchFlag.MatchRecursive)[0]
    assert paris.parent().text(0) == "trips" and paris.text(1) == "3"
    with qtbot.waitSignal(w.results_shown, timeout=10_000):
        tree.itemClicked.emit(paris.parent(), 0)  # a click on "trips": its subtree, still as a timeline
    assert sorted(names(w)) == ["eiffel.jpg", "louvre.jpg", "seine.jpg"]
    assert w.search_bar.options().folder == "trips" and [s.count for s in w.view.sections] == [2, 1]
    with qtbot.waitSignal(w.results_shown, timeout=10_000):
        tree.itemClicked.emit(top, 0)
    assert len(names(w)) == 8 and w.search_bar.options().folder is None
    w.search_bar.set_folder("home")  # the filter row's folder choice shows in the tree too
    assert tree.currentItem().text(0) == "home"


def test_the_folder_tree_of_a_library_is_counted_by_sqlite_without_a_photo_record_each(qtbot, gui_window, folder):
    """A million photos once took 11 s of the UI thread here: the tree walked every row of the
    listing, making a Photo record of each. Now the listing brings its counts per folder."""
    from clipgallery.gui.facade import Photo, PhotoColumns

    w = open_window(qtbot, gui_window, folder)
    w.facade._listings.clear()  # the next listing is read again, not the memo
    fresh = w.facade.listing(w.library)
    assert isinstance(fresh.photos, PhotoColumns) and fresh.photos._pages == {}
    w.listing = fresh
    panel = w.side_panel.folders
    panel.counts = {}
    panel.reload()
    qtbot.waitUntil(lambda: panel.counts.get("") == len(DATES), timeout=10_000)
    assert panel.counts == {"": 8, "trips": 3, "trips/paris": 3, "home": 3}
    assert fresh.photos._pages == {}  # no row of the listing was made into a Photo for the counts
    # The same counts as from the photos' paths; a photo found on disk, not indexed yet, counts too.
    assert w.facade.folder_counts(w.library, list(fresh.photos)) == panel.counts
    new = Photo(str(folder / "trips" / "rome" / "colosseum.jpg"), None, 0.0)
    assert w.facade.folder_counts(w.library, fresh.photos + [new]) == {
        "": 9, "trips": 4, "trips/paris": 3, "trips/rome": 1, "home": 3}
    # A filtered part of a listing has no counts of its own: its paths are counted.
    part = fresh.photos.take(np.array([0, 1]))
    assert part.folder_sizes is None
    assert w.facade.folder_counts(w.library, part)[""] == 2


@pytest.mark.slow
def test_screenshot_of_the_timeline(qtbot, gui_window, tmp_path):
    root = tmp_path / "Pictures"
    events = [("2024/Ski trip", "2024-03-%02d 11:00", 12), ("2024/Birthday", "2024-01-%02d 18:00", 9),
              ("2023/Christmas", "2023-12-%02d 17:00", 14), ("2023/Summer", "2023-08-%02d 14:00", 10),
              ("2022/Wedding", "2022-07-%02d 16:00", 8), ("Phone", "2021-05-%02d 09:00", 7)]
    seed = 0
    for folder, pattern, n in events:
        (root / folder).mkdir(parents=True)
        for i in range(n):
            p = root / folder / f"IMG_{seed:04d}.jpg"
            photo(seed, (320, 240)).save(p, "JPEG", quality=90)
            when = ts(pattern % (1 + (i * 3) % 27))
            os.utime(p, (when, when))
            seed += 1
    w = gui_window("tiny-random", sort="date")
    w.resize(1280, 800)
    with qtbot.waitSignal(w.indexing_finished, timeout=120_000):
        w.open_folder(root)
    qtbot.waitUntil(lambda: not w._search_busy and w.model.rowCount() == seed
                    and all(p.file_id for p in w.model.photos), timeout=20_000)
    view = w.view
    assert view.granularity == "month" and [s.label for s in view.sections][:3] == [
        "March 2024", "January 2024", "December 2023"]
    w.side_panel.setCurrentWidget(w.side_panel.folders)
    qtbot.waitUntil(lambda: w.side_panel.folders.counts.get("") == seed, timeout=10_000)
    view.verticalScrollBar().setValue(view.grid.section_top(1) + view.grid.header_h + 60)  # the pinned header
    scrubber = view.scrubber
    y = int(dict(scrubber.year_positions())[2023]) + 14
    qtbot.mouseMove(scrubber, QPoint(20, y))  # hovering the scrubber names the month under the pointer
    qtbot.waitUntil(lambda: scrubber.bubble.isVisible(), timeout=5_000)
    qtbot.waitUntil(lambda: not w.loader.busy and all(w.loader.has(w.model.photo(r).path)
                                                      for r in view.visible_rows()), timeout=30_000)
    view.viewport().update()
    qtbot.wait(200)
    assert w.grab().save(str(screenshot_dir(tmp_path) / "timeline.png"))


@pytest.mark.parametrize("reopen", [True, False])
def test_starting_without_a_folder_opens_the_last_one_when_the_setting_says_so(qtbot, monkeypatch, tmp_path,
                                                                                folder, reopen):
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    import clipgallery.gui.app as app_module
    from clipgallery.gui.settings import Settings

    settings = Settings.at(tmp_path / "s.ini")
    settings.add_recent_folder(folder)
    settings.reopen_last = reopen
    opened: list[Path] = []

    class Window:  # the real window is tested above; here: what run() asks it to open
        def __init__(self, *args, **kwargs):
            pass

        def show(self):
            pass

        def open_folder(self, f):
            opened.append(Path(f))

    monkeypatch.setattr(app_module, "Settings", lambda overrides=None: settings)
    monkeypatch.setattr(app_module, "MainWindow", Window)
    monkeypatch.setattr(app_module, "install_excepthook", lambda: None)
    monkeypatch.setattr(QApplication, "exec", lambda self: (QTest.qWait(50), 0)[1])
    assert app_module.run() == 0
    assert opened == ([folder.resolve()] if reopen else [])
    opened.clear()
    assert app_module.run(folder=tmp_path) == 0  # a folder given on the command line always wins
    assert opened == [tmp_path]


def test_a_search_sorted_by_date_is_a_timeline_and_by_relevance_a_flat_grid(qtbot, gui_window, folder):
    w = open_window(qtbot, gui_window, folder, sort="date")
    w.search_bar.show_all()  # every photo, whatever tiny-random's scores
    with qtbot.waitSignal(w.results_shown, timeout=20_000):
        w.search_bar.field.setText("a photo")
        w.search_bar.search_now()
    assert w.search_bar.searching() and w.model.rowCount() == len(DATES)
    dates = [p.date for p in w.model.photos]
    assert dates == sorted(dates, reverse=True)
    assert [s.count for s in w.view.sections] == [2, 1, 2, 1, 1, 1] and w.view.scrubber.isVisible()
    with qtbot.waitSignal(w.results_shown, timeout=20_000):
        w.search_bar.set_sort("score")
    scores = [p.score for p in w.model.photos]
    assert scores == sorted(scores, reverse=True) and not w.view.sections and not w.view.scrubber.isVisible()


def test_a_rubber_band_selects_the_photos_it_crosses_in_the_flat_grid(qtbot, gui_window, folder):
    w = open_window(qtbot, gui_window, folder, sort="name")
    view = w.view
    assert not view.sections and view.grid.columns >= 2
    first, second = view.visualRect(w.model.index(0)), view.visualRect(w.model.index(1))
    start = QPoint(first.left() + 2, first.top() + 2)
    end = QPoint(second.center().x(), first.center().y())
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    for i in range(1, 6):
        qtbot.mouseMove(view.viewport(), start + (end - start) * i / 5)
    assert view._rubber is not None  # drawn while dragging
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=end)
    assert sorted(names(w)[:2]) == sorted(os.path.basename(p.path) for p in w.selected_photos())
    assert view._rubber is None
