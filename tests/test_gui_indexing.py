"""The desktop app while it indexes: progress, cancel and resume, bad files, bad models, a UI that never freezes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import hash_tree, photo
from PySide6.QtCore import QTimer

pytest.importorskip("pytestqt")

INDEX_TIMEOUT_MS = 60_000


def photo_folder(root: Path, n: int, size: tuple[int, int] = (160, 120)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sub = root / ("2023" if i % 2 else "2024")
        sub.mkdir(exist_ok=True)
        photo(i, size).save(sub / f"p{i:03d}.jpg", "JPEG", quality=85)
    return root


def open_and_index(qtbot, window, folder: Path):
    with qtbot.waitSignal(window.indexing_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        window.open_folder(folder)
    return blocker.args[0]


def test_open_shows_photos_indexes_and_reports_progress(qtbot, gui_window, tmp_path):
    folder = photo_folder(tmp_path / "photos", 24)
    before = hash_tree(folder)
    w = gui_window("tiny-random", batch_size=4)
    progress = []
    w.indexer.progress.connect(progress.append)
    # The photos are on screen (from a walk of the folder) before indexing has finished.
    with qtbot.waitSignal(w.results_shown, timeout=10_000,
                          check_params_cb=lambda n: n == 24) as shown:
        w.open_folder(folder)
    assert shown.args[0] == 24
    qtbot.waitUntil(lambda: not w.indexer.running, timeout=INDEX_TIMEOUT_MS)
    assert w._last_report.indexed == 24 and not w._last_report.failed
    done = [p.done for p in progress if p.phase == "indexing"]
    assert done == sorted(done) and done[-1] == 24 and len(done) >= 6  # a batch of 4 at a time
    assert "Up to date" in w.index_status.label.text()
    qtbot.waitUntil(lambda: w.model.rowCount() == 24 and all(p.file_id for p in w.model.photos))
    # The subfolder filter narrows the grid.
    w.search_bar.folder.setCurrentIndex(w.search_bar.folder.findData("2023"))
    qtbot.waitUntil(lambda: w.model.rowCount() == 12)
    assert all("/2023/" in p.path for p in w.model.photos)
    # A date range narrows it too (dates are the files' times here: today).
    from PySide6.QtCore import QDate

    w.search_bar.date_from.setDate(QDate.currentDate().addDays(1))
    qtbot.waitUntil(lambda: w.model.rowCount() == 0)
    w.search_bar.date_from.setDate(QDate.currentDate().addDays(-1))
    qtbot.waitUntil(lambda: w.model.rowCount() == 12)
    # Another model indexes again in the background; the first model's vectors are kept.
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS) as done:
        w.settings.model = "shapes-tiny"
    assert done.args[0].model == "shapes-tiny" and done.args[0].indexed == 24
    assert sorted((spec, n) for _, spec, _, n in w.library.models()) == [("shapes-tiny", 24), ("tiny-random", 24)]
    assert hash_tree(folder) == before  # the photo folder is never written to
    assert not any(folder.rglob("*.sqlite"))


def _record_check_and_load(w, monkeypatch, events, wait_for_check):
    """Record when the folder check begins and when the model load ends; with wait_for_check, the
    load holds until the check has begun (it fails the test if it never does)."""
    import threading
    import time

    checked = threading.Event()
    known_files = w.library.known_files

    def checking(*args, **kwargs):
        events.append("check")
        checked.set()
        return known_files(*args, **kwargs)

    monkeypatch.setattr(w.library, "known_files", checking)
    load = w.facade.embedder

    def recorded_load(*args, **kwargs):
        if wait_for_check:
            events.append(("check began during the load", checked.wait(10)))
        else:
            time.sleep(0.5)  # a load that takes a while: a check that does not wait for it begins first
        model = load(*args, **kwargs)
        events.append("loaded")
        return model

    monkeypatch.setattr(w.facade, "embedder", recorded_load)


def test_a_model_at_hand_loads_before_the_folder_check(qtbot, gui_window, tmp_path, monkeypatch):
    """Weights on disk load in seconds, and the first search needs them: the check of an indexed
    folder waits for them rather than compete with torch's import for the interpreter (at a million
    photos that doubled the time to the first result). The run ends up to date, the model loaded."""
    folder = photo_folder(tmp_path / "photos", 6)
    w = gui_window("tiny-random")
    open_and_index(qtbot, w, folder)
    w.facade._embedders.clear()  # as in a fresh app: the model is not loaded yet
    events: list = []
    _record_check_and_load(w, monkeypatch, events, wait_for_check=False)
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS) as done:
        w.start_indexing()
    report = done.args[0]
    assert events[:2] == ["loaded", "check"]
    assert report is not None and report.unchanged == 6 and not report.indexed and not report.failed
    assert w.facade.is_loaded("tiny-random", w.settings.device) and "Up to date" in w.index_status.label.text()


def test_a_model_to_download_is_fetched_while_the_folder_is_checked(qtbot, gui_window, tmp_path, monkeypatch):
    """A download takes minutes and does not compete for the interpreter: the check of an indexed
    folder runs beside it, and the run still ends with the model loaded for the search."""
    folder = photo_folder(tmp_path / "photos", 6)
    w = gui_window("tiny-random")
    open_and_index(qtbot, w, folder)
    w.facade._embedders.clear()
    monkeypatch.setattr(w.facade, "model_at_hand", lambda spec: False)  # as for hub weights not yet cached
    events: list = []
    _record_check_and_load(w, monkeypatch, events, wait_for_check=True)
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS) as done:
        w.start_indexing()
    report = done.args[0]
    assert ("check began during the load", True) in events
    assert report is not None and report.unchanged == 6 and not report.indexed and not report.failed
    assert w.facade.is_loaded("tiny-random", w.settings.device) and "Up to date" in w.index_status.label.text()


@pytest.mark.parametrize("at_hand", [True, False])
def test_the_model_loads_while_the_folder_is_listed_when_it_needs_no_download(qtbot, gui_window, tmp_path,
                                                                               monkeypatch, at_hand):
    """Opening a folder starts loading a model at hand beside the library's listing (seconds each at
    a million photos), so a search typed once the grid shows waits only for what is left of the load.
    A model still to download is left to the index run, which shows the download and can cancel it."""
    folder = photo_folder(tmp_path / "photos", 4)
    w = gui_window("tiny-random")
    if not at_hand:
        monkeypatch.setattr(w.facade, "model_at_hand", lambda spec: False)
    seen = []
    listing = w.facade.listing

    def slow_listing(lib):
        deadline = time.monotonic() + (10 if at_hand else 1)
        while time.monotonic() < deadline and not w.facade.is_loaded("tiny-random", "cpu"):
            time.sleep(0.02)
        seen.append(w.facade.is_loaded("tiny-random", "cpu"))
        return listing(lib)

    monkeypatch.setattr(w.facade, "listing", slow_listing)
    report = open_and_index(qtbot, w, folder)
    assert seen[0] == at_hand  # the listing at open (the one after indexing may come before its end)
    assert report.indexed == 4 and w.facade.is_loaded("tiny-random", "cpu")


def test_pause_holds_indexing_until_resumed(qtbot, gui_window, tmp_path):
    # Progress reaches the UI thread through a queued signal: the folder must be large enough that
    # the worker is still busy when the pause arrives (24 photos were sometimes all done by then).
    N = 160
    folder = photo_folder(tmp_path / "photos", N)
    w = gui_window("tiny-random", batch_size=4)
    with qtbot.waitSignal(w.indexer.progress, timeout=INDEX_TIMEOUT_MS,
                          check_params_cb=lambda p: p.phase == "indexing" and p.done >= 4):
        w.open_folder(folder)
    moved = [time.monotonic()]
    w.indexer.progress.connect(lambda p: moved.append(time.monotonic()))
    w.index_status.pause.click()
    assert w.indexer.paused and w.index_status.label.text().endswith("paused")
    # The batch in flight still lands (slower on a loaded machine): wait for half a second of quiet.
    qtbot.waitUntil(lambda: time.monotonic() - moved[-1] > 0.5, timeout=20_000)
    seen = []
    w.indexer.progress.connect(seen.append)
    qtbot.wait(700)
    assert seen == [] and w.indexer.running  # nothing moves while paused
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS) as done:
        w.index_status.pause.click()
    assert not done.args[0].cancelled and done.args[0].indexed == N


def test_cancel_midway_then_reopen_resumes(qtbot, gui_window, tmp_path):
    # Progress reaches the UI thread through a queued signal: with a tiny model the folder must be
    # large enough that the worker is still busy when the cancel arrives, even on a loaded machine.
    N = 160
    folder = photo_folder(tmp_path / "photos", N)
    w = gui_window("tiny-random", batch_size=4)

    def stop_midway(p):
        if p.phase == "indexing" and 8 <= p.done < N // 2:
            w.indexer.progress.disconnect(stop_midway)
            w.cancel_indexing()

    w.indexer.progress.connect(stop_midway)
    report = open_and_index(qtbot, w, folder)
    assert report.cancelled
    first = report.indexed
    assert 8 <= first < N
    assert "stopped" in w.index_status.label.text()
    # Reopening goes on where it stopped: only what is left is encoded.
    report = open_and_index(qtbot, w, folder)
    assert not report.cancelled
    assert report.indexed == N - first and report.unchanged == first
    qtbot.waitUntil(lambda: w.model.rowCount() == N and all(p.file_id for p in w.model.photos))


def test_closing_during_indexing_stops_cleanly_and_keeps_what_was_done(qtbot, gui_window, tmp_path):
    folder = photo_folder(tmp_path / "photos", 40)
    w = gui_window("tiny-random", batch_size=4)
    with qtbot.waitSignal(w.indexer.progress, timeout=INDEX_TIMEOUT_MS,
                          check_params_cb=lambda p: p.phase == "indexing" and p.done >= 8):
        w.open_folder(folder)
    lib_dir = w.library.dir
    t0 = time.perf_counter()
    w.close()
    assert not w.indexer.running  # the thread was waited for
    assert time.perf_counter() - t0 < 20
    from clipgallery.core.library import Library

    lib = Library(folder, lib_dir)
    assert 8 <= lib.count() <= 40  # committed batches stay
    lib.close()


def test_bad_files_are_listed_and_the_window_says_so(qtbot, gui_window, tmp_path):
    folder = photo_folder(tmp_path / "photos", 6)
    (folder / "notes.jpg").write_text("this is not a picture\n")
    good = folder / "2024" / "p000.jpg"
    (folder / "cut.jpg").write_bytes(good.read_bytes()[:400])
    w = gui_window("tiny-random")
    report = open_and_index(qtbot, w, folder)
    assert len(report.failed) == 2
    qtbot.waitUntil(lambda: w.failed_button.isVisible())
    assert w.failed_button.text() == "2 files could not be read"
    dialog = w.show_failed_files()
    rows = {dialog.table.item(r, 0).text(): dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())}
    assert set(rows) == {"notes.jpg", "cut.jpg"}
    assert "text file" in rows["notes.jpg"] and "truncated" in rows["cut.jpg"]
    dialog.close()
    qtbot.waitUntil(lambda: w.model.rowCount() == 6)  # the good photos are all shown


@pytest.mark.parametrize("spec", ["ViT-B-32:no-such-tag", "no-such-architecture"])
def test_a_model_that_cannot_load_is_an_error_message_and_the_window_stays_usable(qtbot, gui_window, tmp_path,
                                                                                     spec):
    folder = photo_folder(tmp_path / "photos", 5)
    w = gui_window(spec)
    with qtbot.waitSignal(w.indexing_failed, timeout=INDEX_TIMEOUT_MS) as failed:
        w.open_folder(folder)
    message = failed.args[0]
    assert ("no-such-tag" in message) if ":" in spec else ("no-such-architecture" in message)
    assert w.banner.isVisible() and "Indexing could not run" in w.banner.message()
    qtbot.waitUntil(lambda: w.model.rowCount() == 5)  # still browsable
    # Searching says why it cannot, instead of failing silently.
    with qtbot.waitSignal(w.search_failed, timeout=10_000) as search:
        w.search_bar.field.setText("a dog")
    assert "indexed" in search.args[0]
    assert w.search_bar.error_label.isVisible()
    # Choosing a working model indexes at once.
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.settings.model = "tiny-random"
    assert w._last_report.indexed == 5


def test_an_offline_real_model_fails_with_a_clear_message(qtbot, gui_window, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = photo_folder(tmp_path / "photos", 3)
    w = gui_window("ViT-B-32:laion2b_s34b_b79k")
    with qtbot.waitSignal(w.indexing_failed, timeout=INDEX_TIMEOUT_MS) as failed:
        w.open_folder(folder)
    assert "not downloaded yet" in failed.args[0] and "Connect to the internet once" in failed.args[0]
    assert w.isVisible() and w.open_action.isEnabled()


def test_a_missing_folder_is_an_error_message(qtbot, gui_window, tmp_path):
    w = gui_window("tiny-random")
    with qtbot.waitSignal(w.open_failed, timeout=5_000) as failed:
        w.open_folder(tmp_path / "nowhere")
    assert "does not exist" in failed.args[0] and w.banner.isVisible()


def test_the_ui_thread_is_never_blocked_for_long_while_indexing(qtbot, gui_window, tmp_path):
    folder = photo_folder(tmp_path / "photos", 60, size=(640, 480))
    w = gui_window("tiny-random", batch_size=8)
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer(interval=10, timeout=tick)
    timer.start()
    report = open_and_index(qtbot, w, folder)
    # Scroll and repaint meanwhile, as a person would.
    for _ in range(20):
        w.view.verticalScrollBar().setValue(w.view.verticalScrollBar().value() + 40)
        qtbot.wait(10)
    timer.stop()
    assert report.indexed == 60
    worst = max(gaps[1:]) * 1000
    print(f"\nlargest UI-thread gap while indexing 60 photos: {worst:.0f} ms over {len(gaps)} ticks")
    assert worst < 500
