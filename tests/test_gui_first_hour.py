"""What a newcomer meets in the first hour, each as a person would do it through the real widgets."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import photo
from PySide6.QtCore import QDate, Qt

pytest.importorskip("pytestqt")

INDEX_TIMEOUT_MS = 120_000


def photo_folder(root: Path, n: int, size: tuple[int, int] = (160, 120), seed: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        photo(seed + i, size).save(root / f"p{i:03d}.jpg", "JPEG", quality=85)
    return root


def search(qtbot, w, text: str) -> None:
    scored = lambda n: w.search_bar.text == text  # noqa: E731
    with qtbot.waitSignal(w.results_shown, timeout=60_000, check_params_cb=scored):
        w.search_bar.field.setText(text)
        w.search_bar.search_now()


def test_the_welcome_text_is_not_clipped(gui_window):
    w = gui_window("tiny-random")
    page = w.welcome
    hint, title = page.hint, page.title
    assert hint.height() >= hint.heightForWidth(hint.width())  # every wrapped line has room
    assert hint.geometry().top() >= title.geometry().bottom()  # nothing runs into the title


def test_the_default_search_shows_the_matches_and_show_all_is_one_click(qtbot, gui_window, shapes_folder):
    root, truth = shapes_folder
    w = gui_window("shapes-tiny")
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.open_folder(root)
    qtbot.waitUntil(lambda: not w._search_busy and w.model.rowCount() == len(truth), timeout=20_000)
    search(qtbot, w, "red circle")
    shown = [truth[Path(p.path)] for p in w.model.photos]
    wanted = sum(1 for c in truth.values() if c == ("red", "circle"))
    # Every red circle, and little else (the model scores one red square among them): not 120 photos.
    assert shown.count(("red", "circle")) == wanted and wanted >= 0.8 * len(shown), shown
    assert "Show all" in w.count_label.text()
    # Newest first orders those matches by date; it does not turn the search into a listing.
    with qtbot.waitSignal(w.results_shown, timeout=30_000):
        w.search_bar.set_sort("date")
    assert [truth[Path(p.path)] for p in w.model.photos].count(("red", "circle")) == wanted
    assert w.model.rowCount() == len(shown)
    dates = [p.date for p in w.model.photos]
    assert dates == sorted(dates, reverse=True)
    # Show all, from the status bar's link: every photo, best first, and back.
    with qtbot.waitSignal(w.results_shown, timeout=30_000):
        w.search_bar.set_sort("score")
    with qtbot.waitSignal(w.results_shown, timeout=30_000):
        w.count_label.linkActivated.emit("all")
    assert w.model.rowCount() == len(truth)
    with qtbot.waitSignal(w.results_shown, timeout=30_000):
        w.count_label.linkActivated.emit("best")
    assert w.model.rowCount() == len(shown)


def test_a_second_folder_shows_its_own_photos_not_the_first_ones_search(qtbot, gui_window, tmp_path):
    first = photo_folder(tmp_path / "first", 6)
    second = photo_folder(tmp_path / "second", 9, seed=100)
    w = gui_window("tiny-random", batch_size=4)
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.open_folder(first)
    search(qtbot, w, "a dog")
    w.search_bar.set_restrict(frozenset({1, 2}), "Duplicates of p000.jpg")
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.open_folder(second)
    assert w.search_bar.text == "" and w.search_bar.restrict_label == ""
    qtbot.waitUntil(lambda: w.model.rowCount() == 9 and all(p.file_id for p in w.model.photos), timeout=20_000)
    assert all(Path(p.path).parent == second for p in w.model.photos)
    assert not w.search_bar.error_label.isVisible()


def test_stop_keeps_every_photo_in_view(qtbot, gui_window, tmp_path):
    n = 120
    folder = photo_folder(tmp_path / "photos", n)
    w = gui_window("tiny-random", batch_size=4)

    def stop_early(p):
        if p.phase == "indexing" and p.done >= 8:
            w.indexer.progress.disconnect(stop_early)
            w.cancel_indexing()

    w.indexer.progress.connect(stop_early)
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS) as done:
        w.open_folder(folder)
    assert done.args[0].cancelled and done.args[0].indexed < n
    qtbot.wait(500)
    qtbot.waitUntil(lambda: not w._search_busy and not w.jobs.busy, timeout=20_000)
    assert w.model.rowCount() == n  # indexed or not, the folder's photos stay on screen


def test_a_typed_date_applies_and_the_calendar_opens_at_this_month(qtbot, gui_window, tmp_path):
    folder = photo_folder(tmp_path / "photos", 4)
    w = gui_window("tiny-random")
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.open_folder(folder)
    bar = w.search_bar
    bar.filters_button.setChecked(True)
    edit = bar.date_from
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus, timeout=5_000)
    tomorrow = QDate.currentDate().addDays(1)
    with qtbot.waitSignal(w.results_shown, timeout=30_000, check_params_cb=lambda k: k == 0):
        qtbot.keyClicks(edit, tomorrow.toString("yyyy-MM-dd"))
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert edit.date() == tomorrow and bar.options().after is not None
    # Back to "any", then the popup: it shows the current month, not January 1900.
    edit.setDate(edit.minimumDate())
    cal = edit.calendarWidget()
    popup = cal.window()  # the calendar's popup, as the arrow button shows it
    popup.show()
    qtbot.waitUntil(lambda: (cal.yearShown(), cal.monthShown()) == (QDate.currentDate().year(),
                                                                    QDate.currentDate().month()), timeout=5_000)
    popup.hide()


def test_an_invalid_query_leaves_no_stale_results(qtbot, gui_window, tmp_path):
    folder = photo_folder(tmp_path / "photos", 6)
    w = gui_window("tiny-random")
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.open_folder(folder)
    search(qtbot, w, "a dog")
    assert w.model.rowCount() > 0
    with qtbot.waitSignal(w.search_failed, timeout=30_000):
        w.search_bar.field.setText("-")
        w.search_bar.search_now()
    assert w.model.rowCount() == 0 and "could not run" in w.count_label.text()
    assert w.search_bar.error_label.text()


def test_shared_objects_are_offered_only_with_region_vectors(qtbot, gui_window, tmp_path):
    folder = photo_folder(tmp_path / "photos", 4)
    w = gui_window("tiny-random")
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.open_folder(folder)
    assert not w.shared_action.isEnabled() and w.similar_action.isEnabled()
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.set_regional(True)
    assert w.shared_action.isEnabled()


def test_the_eta_after_a_pause_counts_only_time_spent_indexing(tmp_path):
    """A pause of several seconds must not show up as a slow rate (and a long ETA) afterwards."""
    from clipgallery.core.indexer import _Pipeline

    seen = []
    p = _Pipeline(None, None, 0, {}, {}, None, seen.append, 100)
    p.rates.clear()
    p.rates.append((time.perf_counter() - 60, 0))  # started a minute ago, paused most of it
    p.done = 10
    p.restart_rate()
    assert list(p.rates) == [(p.rates[0][0], 10)] and time.perf_counter() - p.rates[0][0] < 1


@pytest.mark.slow
def test_the_app_quits_during_indexing_with_status_0(tmp_path):
    """Ctrl+Q while a folder indexes: the process ends, status 0, every thread stopped."""
    folder = photo_folder(tmp_path / "photos", 200, size=(320, 240))
    script = tmp_path / "quit.py"
    script.write_text(f"""
import sys, threading, time
from pathlib import Path
from PySide6.QtCore import QTimer
from clipgallery.gui.app import make_app
from clipgallery.gui.main_window import MainWindow
from clipgallery.gui.settings import Settings
app = make_app()
s = Settings.at(Path({str(tmp_path / 's.ini')!r}))
s.model, s.device, s.library_location = "tiny-random", "cpu", {str(tmp_path / 'libs')!r}
w = MainWindow(s)
w.show()
t = {{}}
def progress(p):
    if p.phase == "indexing" and p.done >= 16 and "quit" not in t:
        t["quit"] = time.monotonic()
        w.close()
        app.quit()
w.indexer.progress.connect(progress)
QTimer.singleShot(0, lambda: w.open_folder(Path({str(folder)!r})))
code = app.exec()
alive = [th.name for th in threading.enumerate() if th is not threading.main_thread() and not th.daemon]
print("QUIT_S", round(time.monotonic() - t.get("quit", time.monotonic()), 3), "ALIVE", alive, flush=True)
sys.exit(code)
""")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "terminate called" not in r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("QUIT_S"))
    assert line.endswith("ALIVE []"), line  # no thread left behind
