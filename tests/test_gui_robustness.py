"""Issue 13 in the app: a folder with names that are not UTF-8 is indexed and shown (U+FFFD)."""

from __future__ import annotations

import os

import pytest
from conftest import hash_tree, photo
from PySide6.QtCore import Qt

pytest.importorskip("pytestqt")


def test_app_indexes_and_shows_non_utf8_names(qtbot, gui_window, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    latin1 = os.fsdecode(b"caf\xe9")
    photo(1).save(folder / f"{latin1}.jpg", "JPEG")
    photo(2).save(folder / "plain.jpg", "JPEG")
    before = hash_tree(folder)
    w = gui_window("tiny-random", batch_size=4)
    with qtbot.waitSignal(w.indexing_finished, timeout=60_000) as blocker:
        w.open_folder(folder)
    report = blocker.args[0]
    assert report.indexed == 2 and not report.failed
    qtbot.waitUntil(lambda: w.model.rowCount() == 2 and all(p.file_id for p in w.model.photos))
    names = sorted(w.model.data(w.model.index(r, 0), Qt.ItemDataRole.DisplayRole) for r in range(2))
    assert names == ["caf\ufffd.jpg", "plain.jpg"]
    # Its thumbnail arrives too (a Qt string would have dropped the odd byte and lost the tile).
    loader = w.model.loader
    qtbot.waitUntil(lambda: all(loader.get(p.path) is not None for p in w.model.photos), timeout=20_000)
    assert not any(loader.error(p.path) for p in w.model.photos)
    w.resize(700, 420)
    w.grab().save(str(tmp_path / "names.png"))
    assert hash_tree(folder) == before
