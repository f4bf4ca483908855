"""The desktop app in use, on drawn shapes with the bundled shapes-tiny model: search, similar, tags, groups,
duplicates, export and the viewer, driven through the real widgets."""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from conftest import hash_tree
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

pytest.importorskip("pytestqt")

MODEL = "shapes-tiny"
INDEX_TIMEOUT_MS = 120_000


def classes(window, truth, n: int) -> list[tuple[str, str]]:
    return [truth[Path(p.path)] for p in window.model.photos[:n]]


def wait_results(qtbot, window, action, timeout: int = 30_000) -> int:
    with qtbot.waitSignal(window.results_shown, timeout=timeout) as shown:
        action()
    return shown.args[0]


@pytest.fixture
def indexed(qtbot, gui_window, shapes_library):
    """A window on the shapes folder, with a copy of the session's indexed library (no re-encoding)."""
    lib, truth = shapes_library
    w = gui_window(MODEL)
    dest = w.settings.library_dir_for(lib.root)
    dest.mkdir(parents=True)
    src, dst = sqlite3.connect(lib.db_path), sqlite3.connect(dest / "library.sqlite")
    src.backup(dst)
    src.close()
    dst.close()
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS) as done:
        w.open_folder(lib.root)
    assert done.args[0].indexed == 0 and done.args[0].unchanged == len(truth)
    qtbot.waitUntil(lambda: not w._search_busy and w.model.rowCount() == len(truth)
                    and all(p.file_id for p in w.model.photos), timeout=10_000)
    return w, truth


def test_open_index_and_search_as_you_type(qtbot, gui_window, shapes_folder):
    root, truth = shapes_folder
    w = gui_window(MODEL)
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS) as done:
        w.open_folder(root)
    assert done.args[0].indexed == len(truth) and not done.args[0].failed
    qtbot.waitUntil(lambda: not w._search_busy and not w.jobs.busy and w.model.rowCount() == len(truth)
                    and all(p.file_id for p in w.model.photos), timeout=10_000)
    # Typing fires one search after a short pause, not one per key.
    searches = []
    w.search_bar.changed.connect(lambda: searches.append(w.search_bar.text))
    scored = lambda n: bool(w.model.photos) and w.model.photos[0].score is not None  # noqa: E731
    with qtbot.waitSignal(w.results_shown, timeout=30_000, check_params_cb=scored):
        qtbot.keyClicks(w.search_bar.field, "red circle")
    assert searches == ["red circle"]
    top = classes(w, truth, 5)
    assert top[:3] == [("red", "circle")] * 3 and top.count(("red", "circle")) >= 4, top
    tip = w.model.data(w.model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert f"relevance: {w.model.photos[0].score:.3f}" in tip
    assert w.model.photos[0].score >= w.model.photos[-1].score
    assert "match" in w.count_label.text()
    # A threshold keeps only the best matches; the slider's range fits this search's scores.
    best = w.model.photos[0].score
    slider_top = w.search_bar.threshold.maximum() * 0.005
    assert best <= slider_top <= best + 0.07
    n = wait_results(qtbot, w, lambda: (w.search_bar.set_threshold(best - 0.02), w.search_bar.search_now()))
    cut = w.search_bar.threshold_value()
    assert cut is not None and abs(cut - (best - 0.02)) <= 0.0026
    assert 1 <= n < len(truth) and all(p.score >= cut for p in w.model.photos)
    # Esc clears the search: the whole folder again.
    n = wait_results(qtbot, w, lambda: qtbot.keyClick(w.search_bar.field, Qt.Key.Key_Escape))
    assert n == len(truth) and w.search_bar.text == ""


def test_find_similar_from_the_context_menu(qtbot, indexed):
    w, truth = indexed
    row = next(i for i, p in enumerate(w.model.photos) if truth[Path(p.path)] == ("blue", "star"))
    chosen = w.model.photo(row).path
    menu = w.context_menu(row)
    action = next(a for a in menu.actions() if a.text() == "Find similar")
    wait_results(qtbot, w, action.trigger)
    assert w.model.photos[0].path == chosen
    assert w.search_bar.similar_chip.isVisible() and Path(chosen).name in w.search_bar.similar_chip.text()
    assert Counter(classes(w, truth, 4)).most_common(1)[0][0] == ("blue", "star")
    # Back to everything.
    n = wait_results(qtbot, w, w.search_bar.similar_chip.click)
    assert n == len(truth)


def test_an_image_dropped_on_the_search_bar_finds_photos_like_it(qtbot, indexed, tmp_path):
    w, truth = indexed
    source = next(p for p, c in truth.items() if c == ("green", "square"))
    outside = tmp_path / "example.jpg"
    shutil.copy(source, outside)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(outside))])
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    wait_results(qtbot, w, lambda: w.search_bar.field.dropEvent(drop))
    assert Path(w.model.photos[0].path) == source  # the same picture, found from a file outside the library
    assert "example.jpg" in w.search_bar.similar_chip.text()


def test_group_then_export_a_group(qtbot, indexed, tmp_path):
    w, truth = indexed
    groups = w.side_panel.groups
    before = hash_tree(groups.library.root)
    with qtbot.waitSignal(groups.task_finished, timeout=60_000, check_params_cb=lambda name: name == "group"):
        groups.run_grouping(k=4)
    assert groups.list.count() == 4 and groups.grouping.k == 4
    assert sum(len(g.file_ids) for g in groups.grouping.groups) == len(truth)
    g = groups.grouping.groups[1]
    item = groups.list.item(1)
    assert g.name in item.text() and f"{len(g.file_ids)} photos" in item.text()
    n = wait_results(qtbot, w, lambda: groups._clicked(item))
    assert n == len(g.file_ids) and {p.file_id for p in w.model.photos} == set(g.file_ids)
    assert g.name in w.search_bar.restrict_chip.text()
    # Shapes-tiny groups by shape: a group is mostly one shape.
    shapes = Counter(truth[Path(p.path)][1] for p in w.model.photos)
    assert shapes.most_common(1)[0][1] >= 0.8 * n

    dialog = w.export(f"group:{g.cluster}")
    assert dialog.source.currentData() == f"group:{g.cluster}"
    out = tmp_path / "export"
    dialog.dest.setText(str(out))
    with qtbot.waitSignal(dialog.previewed, timeout=20_000) as previewed:
        dialog.start_preview()
    assert len(previewed.args[0].files) == n and not out.exists()  # a preview writes nothing
    assert dialog.preview.topLevelItemCount() == 1
    with qtbot.waitSignal(dialog.exported, timeout=30_000) as exported:
        dialog.start_export()
    result = exported.args[0]
    written = sorted(p for p in out.rglob("*.jpg"))
    assert len(written) == n == len(result.written)
    assert all(p.parent.parent == out for p in written)  # DEST/<group>/<file>
    for f in result.written:
        assert f.dest.read_bytes() == f.source.read_bytes()
    assert (out / "clipgallery-export.csv").is_file()
    assert dialog.open_button.isVisible()
    assert hash_tree(groups.library.root) == before  # originals untouched
    dialog.close()


def test_tag_with_a_label_set_file_and_filter_by_a_tag(qtbot, indexed, tmp_path):
    w, truth = indexed
    tags = w.side_panel.tags
    label_file = tmp_path / "shapes.json"
    label_file.write_text('{"name": "shapes", "labels": ["circle", "square", "triangle", "star"]}')
    tags.choose_label_set(label_file)
    assert "shapes" in tags.label_set.currentText()
    with qtbot.waitSignal(tags.task_finished, timeout=60_000, check_params_cb=lambda name: name == "tag"):
        tags.run_tagging()
    qtbot.waitUntil(lambda: tags.tree.topLevelItemCount() == 1, timeout=10_000)
    top = tags.tree.topLevelItem(0)
    assert top.text(0) == "shapes" and not tags.empty.isVisible()
    counts = {top.child(i).text(0): int(top.child(i).text(1).replace(",", "")) for i in range(top.childCount())}
    assert set(counts) == {"circle", "square", "triangle", "star"}
    assert sum(counts.values()) >= len(truth)  # every photo has at least its best label
    circle = next(top.child(i) for i in range(top.childCount()) if top.child(i).text(0) == "circle")
    n = wait_results(qtbot, w, lambda: tags._clicked(circle, 0))
    assert n == counts["circle"]
    shapes = Counter(truth[Path(p.path)][1] for p in w.model.photos)
    assert shapes["circle"] >= 0.8 * n and shapes["circle"] >= 0.8 * 30

    # The viewer shows the photo large, with its details and tags; arrow keys move through the result.
    viewer = w.open_viewer(0)
    first = w.model.photo(0).path
    qtbot.waitUntil(lambda: viewer.canvas.pixmap is not None and "×" in viewer.info.value("Dimensions"),
                    timeout=10_000)
    assert viewer.info.value("Name") == Path(first).name
    assert "circle" in viewer.info.value("Tags")
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.row == 1 and viewer.info.value("Name") == Path(w.model.photo(1).path).name
    qtbot.waitUntil(lambda: viewer.canvas.pixmap is not None, timeout=10_000)
    assert w.view.currentIndex().row() == 1
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: w._viewer is None)


def test_duplicates_are_grouped_with_the_keeper_marked(qtbot, gui_window, tmp_path, shapes_folder):
    root, truth = shapes_folder
    folder = tmp_path / "photos"
    folder.mkdir()
    picks = [p for p, c in truth.items() if c[1] == "star"][:6]
    for p in picks:
        shutil.copy(p, folder / p.name)
    from PIL import Image

    big = Image.open(picks[0])
    big.resize((big.width * 2, big.height * 2)).save(folder / "enlarged copy.jpg", quality=95)
    w = gui_window(MODEL)
    with qtbot.waitSignal(w.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        w.open_folder(folder)
    dupes = w.side_panel.duplicates
    with qtbot.waitSignal(dupes.task_finished, timeout=30_000):
        dupes.find()
    groups = dupes.report.groups
    assert any({m.path.name for m in g.members} >= {picks[0].name, "enlarged copy.jpg"} for g in groups)
    g = next(g for g in groups if picks[0].name in {m.path.name for m in g.members})
    assert g.keep.path.name == "enlarged copy.jpg"  # more pixels: the suggested keeper
    top = dupes.tree.topLevelItem(groups.index(g))
    marked = [top.child(i).text(0) for i in range(top.childCount()) if top.child(i).text(2) == "★ keep"]
    assert marked == ["enlarged copy.jpg"]
    n = wait_results(qtbot, w, lambda: dupes._clicked(top, 0))
    assert n == len(g.members)
