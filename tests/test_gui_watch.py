"""Watched folders in the app: photos copied in, renamed and deleted show in the grid without F5;
the setting turns it off."""

from __future__ import annotations

import os
import shutil
import time

import pytest
from conftest import hash_tree, photo

pytest.importorskip("pytestqt")

INDEX_TIMEOUT_MS = 60_000
CHANGE_TIMEOUT_MS = 30_000  # a change is indexed within seconds; generous for a loaded machine


def names(w) -> list[str]:
    return sorted(os.path.basename(p.path) for p in w.model.photos)


def open_folder(qtbot, w, folder):
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.open_folder(folder)
    qtbot.waitUntil(lambda: w.folder_watch.watching, timeout=10_000)
    qtbot.waitUntil(lambda: not w._search_busy and all(p.file_id for p in w.model.photos), timeout=10_000)


@pytest.mark.slow
def test_photos_copied_in_renamed_and_deleted_show_without_f5(qtbot, gui_window, tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(3):
        photo(i).save(root / f"p{i}.jpg")
    photo(77).save(tmp_path / "new.jpg")
    w = gui_window("tiny-random")
    open_folder(qtbot, w, root)
    assert names(w) == ["p0.jpg", "p1.jpg", "p2.jpg"]
    before = hash_tree(root)

    shutil.copy(tmp_path / "new.jpg", root / "new.jpg")
    qtbot.waitUntil(lambda: names(w) == ["new.jpg", "p0.jpg", "p1.jpg", "p2.jpg"]
                    and all(p.file_id for p in w.model.photos), timeout=CHANGE_TIMEOUT_MS)
    assert w._last_report.indexed == 1

    ids = {os.path.basename(p.path): p.file_id for p in w.model.photos}
    (root / "p1.jpg").rename(root / "renamed.jpg")
    qtbot.waitUntil(lambda: names(w) == ["new.jpg", "p0.jpg", "p2.jpg", "renamed.jpg"], timeout=CHANGE_TIMEOUT_MS)
    assert w._last_report.indexed == 0 and w._last_report.reused == 1  # moved: its vector kept, not encoded
    assert {os.path.basename(p.path): p.file_id for p in w.model.photos}["renamed.jpg"] == ids["p1.jpg"]

    (root / "p2.jpg").unlink()
    qtbot.waitUntil(lambda: names(w) == ["new.jpg", "p0.jpg", "renamed.jpg"], timeout=CHANGE_TIMEOUT_MS)
    assert w._last_report.removed == 1
    del before["p2.jpg"]
    before["renamed.jpg"] = before.pop("p1.jpg")
    before["new.jpg"] = hash_tree(root)["new.jpg"]
    assert hash_tree(root) == before  # only what the person did; the app wrote nothing there


@pytest.mark.slow
def test_the_setting_turns_watching_off_and_on(qtbot, gui_window, tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    photo(1).save(root / "a.jpg")
    w = gui_window("tiny-random", watch_folder=False)
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.open_folder(root)
    qtbot.waitUntil(lambda: names(w) == ["a.jpg"], timeout=10_000)
    assert not w.folder_watch.watching
    photo(2).save(root / "b.jpg")
    time.sleep(2.5)  # well past the quiet time: a watcher would have started a run by now
    qtbot.wait(200)
    assert names(w) == ["a.jpg"] and not w.indexer.running

    from clipgallery.gui.dialogs.settings_dialog import SettingsDialog

    dialog = SettingsDialog(w.settings, w.facade.model_choices(), w)
    assert not dialog.watch.isChecked()
    dialog.watch.setChecked(True)
    dialog.apply()
    qtbot.waitUntil(lambda: w.folder_watch.watching, timeout=10_000)
    photo(3).save(root / "c.jpg")  # b.jpg is picked up by the same run (the whole folder is compared)
    qtbot.waitUntil(lambda: names(w) == ["a.jpg", "b.jpg", "c.jpg"] and all(p.file_id for p in w.model.photos),
                    timeout=CHANGE_TIMEOUT_MS)
    dialog.close()


@pytest.mark.slow
def test_a_change_during_a_run_is_indexed_by_one_more_run_after_it(qtbot, gui_window, tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(12):
        photo(i).save(root / f"p{i:02d}.jpg")
    photo(99).save(tmp_path / "late.jpg")
    w = gui_window("tiny-random", batch_size=4)
    starts = []
    w.indexer.running_changed.connect(lambda running: running and starts.append(time.monotonic()))
    paused = []

    def pause_after_first_batch(p):
        if p.phase == "indexing" and p.done and not paused:
            paused.append(p.done)
            w.indexer.set_paused(True)  # the run waits before its next batch

    w.indexer.progress.connect(pause_after_first_batch)
    w.open_folder(root)
    qtbot.waitUntil(lambda: bool(paused) and w.folder_watch.watching, timeout=INDEX_TIMEOUT_MS)
    shutil.copy(tmp_path / "late.jpg", root / "late.jpg")  # after the run's walk: it cannot see it
    qtbot.waitUntil(lambda: w.folder_watch.changes_seen >= 1, timeout=CHANGE_TIMEOUT_MS)
    assert w.indexer.running and len(starts) == 1  # not restarted: the run in progress is left alone
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS) as first:
        w.indexer.set_paused(False)
    assert first.args[0].indexed == 12
    qtbot.waitUntil(lambda: "late.jpg" in names(w) and all(p.file_id for p in w.model.photos),
                    timeout=CHANGE_TIMEOUT_MS)
    assert len(starts) == 2 and w._last_report.indexed == 1  # one more run, for the late photo only
