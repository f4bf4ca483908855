"""The app with a phone's camera roll: videos show a poster with a length badge and play in the desktop's
player; a RAW beside its JPEG is one photo with a RAW badge; a search says where in a video it matched."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from clipgallery import samples, shapes
from clipgallery.core import formats
from clipgallery.gui import viewer as viewer_module
from clipgallery.gui.gallery_model import media_badges, tooltip

INDEX_TIMEOUT_MS = 120_000


@pytest.fixture
def roll(tmp_path):
    for name in ("video", "raw"):
        if not formats.available()[name]:
            pytest.skip(f"{name} is not readable in this installation")
    root = tmp_path / "roll"
    root.mkdir()
    pictures = [shapes.draw([o], seed=7_200_000 + i, size=(320, 240), background="white")
                for i, o in enumerate([("green", "triangle"), ("blue", "square")])]
    samples.write_video(root / "clip.mp4", pictures, seconds_each=2.0)
    star = shapes.draw([("yellow", "star")], seed=7_200_010, size=(320, 240))
    star.save(root / "IMG_0003.JPG", quality=92)
    (root / "IMG_0003.DNG").write_bytes(samples.dng_bytes(star))
    shapes.draw([("red", "circle")], seed=7_200_011, size=(320, 240)).save(root / "circle.heic", "HEIF")
    return root


@pytest.mark.slow
def test_videos_and_raw_pairs_in_the_grid_and_the_viewer(qtbot, gui_window, roll, monkeypatch, tmp_path):
    w = gui_window("shapes-tiny")
    w.open_folder(roll)
    qtbot.waitUntil(lambda: not w.indexer.running and w._last_report is not None, timeout=INDEX_TIMEOUT_MS)
    qtbot.waitUntil(lambda: w.model.rowCount() == 3 and all(p.file_id for p in w.model.photos))
    by_name = {p.path.rsplit("/", 1)[-1]: p for p in w.model.photos}
    assert set(by_name) == {"clip.mp4", "IMG_0003.JPG", "circle.heic"}  # the DNG is shown with its JPEG
    clip, pair = by_name["clip.mp4"], by_name["IMG_0003.JPG"]
    assert media_badges(clip) == ("▶ 0:04", "") and media_badges(pair) == ("", "RAW")
    assert "also saved as RAW: IMG_0003.DNG" in tooltip(pair)
    qtbot.waitUntil(lambda: all(w.loader.has(p.path) for p in w.model.photos), timeout=30_000)
    assert w.loader.error(clip.path) is None  # the poster frame was decoded
    w.grab().save(str(tmp_path / "grid.png"))

    w.search_bar.field.setText("blue square")
    w.search_bar.search_now()
    qtbot.waitUntil(lambda: w.model.rowCount() > 0 and w.model.photo(0).score is not None, timeout=30_000)
    assert w.model.photo(0).path == clip.path  # the best matches (the app's default cut)
    with qtbot.waitSignal(w.results_shown, timeout=30_000):
        w.count_label.linkActivated.emit("all")  # Show all: the RAW pair too, for the viewer below
    assert w.model.rowCount() == 3
    top = w.model.photo(0)
    assert top.path == clip.path and 2.0 <= top.at < 4.0
    assert media_badges(top)[0] == f"▶ 0:0{round(top.at)} / 0:04"
    grid = w.grab()

    played = []
    monkeypatch.setattr(viewer_module, "open_with_default_app", lambda path: played.append(path) or True)
    v = w.open_viewer(0)
    qtbot.waitUntil(lambda: v.info.value("Length").startswith("0:04 (shown: the best match, at 0:0"),
                    timeout=10_000)
    qtbot.waitUntil(lambda: v.canvas.pixmap is not None, timeout=10_000)
    assert v.play_action.isVisible() and v.canvas.video
    # The viewer shows the frame where the search matched: at 0.5 s the clip shows the green triangle.
    def green_minus_blue(at: float) -> float:
        a = np.asarray(v.facade.decode_for_display(clip.path, 320, at=at), np.float32)
        return float((a[..., 1] - a[..., 2]).mean())

    assert green_minus_blue(0.5) > green_minus_blue(3.0) + 5
    v.play_action.trigger()
    assert [str(p) for p in played] == [clip.path]
    qtbot.wait(100)  # the info panel lays out its new, longer lines before the screenshot
    v.grab().save(str(tmp_path / "viewer.png"))
    v.go(v.photos.index(next(p for p in v.photos if p.path == pair.path)))
    qtbot.waitUntil(lambda: v.info.value("RAW") == "IMG_0003.DNG", timeout=10_000)
    assert not v.play_action.isVisible() and not v.canvas.video
    import os

    shots = os.environ.get("CLIPGALLERY_SCREENSHOTS")  # docs/screenshots are made by running with this set
    if shots:
        grid.save(os.path.join(shots, "video-search.png"))
        Image.open(tmp_path / "viewer.png").save(os.path.join(shots, "video-viewer.png"))
    v.close()
