"""The photo viewer (issue 15): zoom and pan with the photo at full resolution for 1:1, full screen,
slideshow, the camera's EXIF with a map link, and the keyboard help listing what the keys really do."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import screenshot_dir
from PIL import Image
from PIL.TiffImagePlugin import IFDRational as R
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest

from clipgallery.gui import viewer as viewer_module
from clipgallery.gui.facade import Facade, Photo
from clipgallery.gui.settings import Settings
from clipgallery.gui.viewer import KEYS, PhotoViewer, key_text

pytest.importorskip("pytestqt")

BIG = (3000, 2000)  # larger than the preview the test asks for, so 1:1 needs the full decode
PREVIEW_PX = 900


def landscape(size: tuple[int, int], seed: int = 3) -> Image.Image:
    """A dusk over mountains and a lake, drawn at a quarter of the size and enlarged, with a film grain:
    smooth like a photo, with detail down to the pixel."""
    w, h = size[0] // 4, size[1] // 4
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    horizon = int(0.62 * h)
    t = np.clip(yy / (0.5 * h), 0, 1)[..., None] ** 1.5
    img = np.array([40, 70, 150]) * (1 - t) + np.array([255, 175, 110]) * t  # blue above, warm at the horizon
    sun = np.exp(-(((xx - 0.68 * w) ** 2 + (yy - 0.33 * h) ** 2) / (0.035 * w) ** 2))[..., None]
    img = img * (1 - sun) + np.array([255, 240, 200]) * sun
    for layer, (base, colour) in enumerate([(0.45, (120, 90, 120)), (0.52, (80, 70, 100)), (0.58, (40, 45, 70))]):
        ridge = np.convolve(np.cumsum(rng.normal(0, 1.0, w + 100)), np.ones(30) / 30, mode="same")[50:50 + w]
        ridge = (ridge - ridge.min()) / (np.ptp(ridge) + 1e-6)
        top = (base - 0.12 * ridge + 0.02 * np.sin(xx[0] / (w / 9) + layer)) * h
        mask = (yy >= top[None, :]) & (yy < horizon)
        shade = (1 - 0.3 * (yy - top[None, :]) / h)[..., None]
        img = np.where(mask[..., None], np.array(colour) * shade, img)
    above = img[2 * horizon - h:horizon][::-1]  # the lake mirrors the land, darker, with ripples
    cols = np.clip(xx[horizon:].astype(int) + (np.sin(yy[horizon:] * 3.0) * 2).astype(int), 0, w - 1)
    img[horizon:] = above[np.arange(h - horizon)[:, None], cols] * 0.72 + np.array([10, 20, 40])
    small = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    big = np.asarray(small.resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
    grain = rng.integers(-6, 7, (size[1], size[0], 1), dtype=np.int16)
    return Image.fromarray(np.clip(big + grain, 0, 255).astype(np.uint8), "RGB")


def camera_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "FUJIFILM", "X-T4"
    exif[0x8769] = {0x829A: R(1, 500), 0x829D: R(56, 10), 0x8827: 160, 0x920A: R(23, 1), 0xA405: 35,
                    0xA434: "XF23mmF1.4 R", 0x9003: "2023:07:14 18:22:05", 0x9011: "+02:00"}
    exif[0x8825] = {1: "N", 2: (R(46, 1), R(33, 1), R(3972, 100)), 3: "E", 4: (R(7, 1), R(58, 1), R(2880, 100))}
    return exif.tobytes()


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    root = tmp_path_factory.mktemp("viewer-pictures")
    landscape(BIG).save(root / "a-lake.jpg", quality=92, exif=camera_exif())
    landscape((1200, 800), seed=7).save(root / "b-hills.jpg", quality=90)
    landscape((900, 600), seed=11).save(root / "c-plain.png")  # no EXIF at all
    return root


@pytest.fixture
def folder(tmp_path, pictures):
    root = tmp_path / "photos"
    shutil.copytree(pictures, root)
    return root


@pytest.fixture
def open_viewer(qtbot, folder, tmp_path, monkeypatch, make_library):
    """open_viewer(row, indexed=False): a shown viewer over the folder's photos, the first one loaded."""
    monkeypatch.setattr(viewer_module, "DISPLAY_PX", PREVIEW_PX)
    facade = Facade()
    lib = facade.open(folder, tmp_path / "library")
    settings = Settings.at(tmp_path / "settings.ini")

    def make(row: int = 0, indexed: bool = False) -> PhotoViewer:
        library = make_library(folder)[0] if indexed else lib
        ids = library.file_ids([p.name for p in folder.iterdir()]) if indexed else {}
        photos = [Photo(str(p), ids.get(p.name), None) for p in sorted(folder.iterdir())]
        v = PhotoViewer(facade, library, photos, row, settings=settings)
        qtbot.addWidget(v)
        v.resize(1200, 800)
        v.show()
        qtbot.waitExposed(v)
        qtbot.waitUntil(lambda: v.canvas.pixmap is not None and v.exif is not None, timeout=10_000)
        return v

    yield make
    facade.close(lib)


def near(a: QPointF, b: QPointF, tol: float = 1.5) -> bool:
    return abs(a.x() - b.x()) <= tol and abs(a.y() - b.y()) <= tol


def test_zoom_keys_wheel_and_double_click_change_the_scale_and_1_to_1_shows_actual_pixels(qtbot, open_viewer):
    v = open_viewer(0)
    c = v.canvas
    fit = c.fit_scale()
    assert c.fitted and c.scale == pytest.approx(fit) and c.pixmap.width() == PREVIEW_PX
    assert fit == pytest.approx(min(c.width() / BIG[0], c.height() / BIG[1]), rel=1e-3)
    assert c.rect().contains(c.picture_rect().adjusted(1, 1, -1, -1))

    QTest.keyClick(v, Qt.Key.Key_Plus)
    assert not c.fitted and c.scale == pytest.approx(fit * 1.25)
    QTest.keyClick(v, Qt.Key.Key_Equal)
    assert c.scale == pytest.approx(fit * 1.25 ** 2)
    QTest.keyClick(v, Qt.Key.Key_Minus)
    QTest.keyClick(v, Qt.Key.Key_Minus)
    assert c.fitted  # back to fit, never smaller than it
    QTest.keyClick(v, Qt.Key.Key_Minus)
    assert c.fitted and c.scale == pytest.approx(fit)

    # The wheel zooms around the pointer: the photo pixel under it stays under it. (A photo smaller than
    # the widget in one direction stays centred in it; a larger one never shows an empty margin.)
    at = QPointF(c.width() / 2 + 150, c.height() / 2 + 60)
    wheel(c, at, 120)
    assert c.scale == pytest.approx(fit * 1.25)
    c.zoom_to(0.6)  # from here the photo is larger than the widget both ways
    before = c.photo_point(at)
    for _ in range(3):
        wheel(c, at, 120)
    assert c.scale == pytest.approx(0.6 * 1.25 ** 3) and near(c.photo_point(at), before)
    wheel(c, at, -120)
    assert c.scale == pytest.approx(0.6 * 1.25 ** 2) and near(c.photo_point(at), before)
    wheel(c, at, -120 * 20)
    assert c.fitted

    # Ctrl+1: actual pixels. The preview is too small for that, so the photo is decoded whole in the
    # background and replaces it without moving the view.
    with qtbot.waitSignal(v.full_resolution_shown, timeout=10_000):
        QTest.keyClick(v, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert c.scale == pytest.approx(1.0) and v.zoom_label.text() == "100%"
    assert (c.pixmap.width(), c.pixmap.height()) == BIG
    rect = c.picture_rect()
    assert (rect.width(), rect.height()) == BIG
    # What is on screen is the photo's own pixels, one for one.
    shot = c.grab().toImage()
    original = np.asarray(Image.open(v.current_path()).convert("RGB"), dtype=int)
    for x, y in ((100, 100), (400, 250), (c.width() - 50, c.height() - 40)):
        p = c.photo_point(QPointF(x + 0.5, y + 0.5))
        colour = shot.pixelColor(x, y)
        expected = original[int(p.y()), int(p.x())]
        assert np.abs(np.array([colour.red(), colour.green(), colour.blue()]) - expected).max() <= 12

    QTest.keyClick(v, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert c.fitted and not v.fit_action.isEnabled()

    # Double-click: 1:1 around the pixel clicked, again: fit.
    spot = QPoint(300, 200)
    pixel = c.photo_point(QPointF(spot))
    QTest.mouseDClick(c, Qt.MouseButton.LeftButton, pos=spot)
    assert c.scale == pytest.approx(1.0)
    assert near(c.photo_point(QPointF(spot)), pixel, tol=3)
    QTest.mouseDClick(c, Qt.MouseButton.LeftButton, pos=spot)
    assert c.fitted
    # The toolbar's Fit and 1:1 do the same.
    v.actual_action.trigger()
    assert c.scale == pytest.approx(1.0)
    v.fit_action.trigger()
    assert c.fitted


def wheel(widget, pos: QPointF, delta: int) -> None:
    from PySide6.QtCore import QPoint as P
    from PySide6.QtGui import QWheelEvent

    event = QWheelEvent(pos, widget.mapToGlobal(pos), P(0, 0), P(0, delta), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    widget.wheelEvent(event)


def drag(widget, start: QPoint, end: QPoint, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, modifier, start)
    QTest.mouseMove(widget, QPoint((start.x() + end.x()) // 2, (start.y() + end.y()) // 2))
    QTest.mouseMove(widget, end)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, modifier, end)


def test_dragging_pans_the_zoomed_photo_and_stops_at_its_edges(qtbot, open_viewer):
    v = open_viewer(0)
    c = v.canvas
    assert not c.can_pan()
    v.actual_size()
    assert c.can_pan()
    probe = QPointF(600, 400)
    before = c.photo_point(probe)
    drag(c, QPoint(500, 400), QPoint(400, 350))  # the photo follows the hand: 100 left, 50 up
    after = c.photo_point(probe)
    assert after.x() - before.x() == pytest.approx(100, abs=1.5)
    assert after.y() - before.y() == pytest.approx(50, abs=1.5)
    assert c.box is None  # a drag on a zoomed photo pans; it marks nothing

    drag(c, QPoint(100, 100), QPoint(c.width() - 10, c.height() - 10))  # far past the top left corner
    drag(c, QPoint(100, 100), QPoint(c.width() - 10, c.height() - 10))
    rect = c.picture_rect()
    assert rect.left() == 0 and rect.top() == 0  # no empty margin: the corner stops at the widget's
    assert c.photo_point(QPointF(0, 0)).x() == pytest.approx(0, abs=1)

    # Shift+drag marks a part even when zoomed; at fit a plain drag does.
    drag(c, QPoint(100, 100), QPoint(300, 250), Qt.KeyboardModifier.ShiftModifier)
    assert c.box is not None and c.picture_rect().left() == 0
    v.fit()
    c.set_box(None)
    pic = c.picture_rect()
    drag(c, pic.center(), pic.center() + QPoint(80, 60))
    assert c.box is not None


def test_full_screen_with_f_and_f11_and_esc_leaves_it_before_closing(qtbot, open_viewer):
    v = open_viewer(0)
    assert not v.isFullScreen() and v.bar.isVisible()
    QTest.keyClick(v, Qt.Key.Key_F)
    qtbot.waitUntil(v.isFullScreen, timeout=3_000)
    assert not v.bar.isVisible() and not v.side.isVisible()  # the photo alone
    QTest.keyClick(v, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not v.isFullScreen(), timeout=3_000)
    assert v.isVisible() and v.bar.isVisible() and v.side.isVisible()
    QTest.keyClick(v, Qt.Key.Key_F11)
    qtbot.waitUntil(v.isFullScreen, timeout=3_000)
    QTest.keyClick(v, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: not v.isFullScreen(), timeout=3_000)
    QTest.keyClick(v, Qt.Key.Key_Escape)  # not full screen, nothing marked: Esc closes
    qtbot.waitUntil(lambda: not v.isVisible(), timeout=3_000)


@pytest.mark.slow
def test_slideshow_advances_every_interval_and_any_key_stops_it(qtbot, open_viewer):
    v = open_viewer(0)
    v.settings.slideshow_seconds = 0.5  # the shortest the setting allows
    assert v.slideshow_seconds == 0.5
    QTest.keyClick(v, Qt.Key.Key_S)
    assert v.slideshow_running and v.slideshow_action.isChecked()
    qtbot.waitUntil(v.isFullScreen, timeout=3_000)
    assert v.canvas.cursor().shape() == Qt.CursorShape.BlankCursor  # no pointer over the show
    qtbot.waitUntil(lambda: v.row == 1, timeout=3_000)
    qtbot.waitUntil(lambda: v.row == 2, timeout=3_000)
    # A key stops it and does nothing else (Right would have moved on, had it been a plain key).
    v.go(1)
    QTest.keyClick(v, Qt.Key.Key_Right)
    assert not v.slideshow_running and v.row == 1 and not v.slideshow_action.isChecked()
    assert v.canvas.cursor().shape() != Qt.CursorShape.BlankCursor
    qtbot.waitUntil(lambda: not v.isFullScreen(), timeout=3_000)
    qtbot.wait(700)
    assert v.row == 1  # stopped for real

    # A click stops it too; and left alone it stops by itself after the last photo.
    v.slideshow_action.trigger()
    assert v.slideshow_running
    QTest.mouseClick(v.canvas, Qt.MouseButton.LeftButton, pos=QPoint(50, 50))
    assert not v.slideshow_running and v.canvas.box is None
    v.start_slideshow()
    qtbot.waitUntil(lambda: v.row == 2, timeout=3_000)
    qtbot.waitUntil(lambda: not v.slideshow_running, timeout=3_000)
    assert v.row == 2 and not v.isFullScreen()
    v.start_slideshow()  # from the last photo it starts over
    assert v.row == 0 and v.slideshow_running
    v.stop_slideshow()

    # The interval is a setting, chosen from the Slideshow button's menu.
    choice = next(a for a in v.slideshow_action.menu().actions() if a.data() == 8.0)
    choice.trigger()
    assert Settings.at(Path(v.settings.qsettings.fileName())).slideshow_seconds == 8.0


@pytest.mark.slow
def test_exif_panel_shows_the_camera_and_a_map_link(qtbot, open_viewer, monkeypatch, tmp_path):
    opened: list[str] = []
    monkeypatch.setattr("clipgallery.gui.exif_panel.open_url", lambda url: opened.append(url) or True)
    v = open_viewer(0, indexed=True)  # indexed: the file rows above say all there is to say
    v.rate(4)
    qtbot.waitUntil(lambda: v.details is not None and v.details.stars == 4, timeout=10_000)
    panel = v.exif_panel
    assert panel.value("Camera") == "FUJIFILM X-T4" and panel.value("Lens") == "XF23mmF1.4 R"
    assert panel.value("Exposure") == "1/500 s" and panel.value("Aperture") == "f/5.6"
    assert panel.value("ISO") == "160" and panel.value("Taken") == "2023-07-14 18:22:05 +02:00"
    lat, lon = 46 + 33 / 60 + 39.72 / 3600, 7 + 58 / 60 + 28.8 / 3600
    location = panel.value("Location")
    assert f"{lat:.5f}, {lon:.5f}" in location and "openstreetmap.org" in location
    label = next(w for w in panel.findChildren(type(v.counter)) if w.text() == location)
    label.linkActivated.emit(panel.map_url)
    assert opened == [f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=16/{lat:.6f}/{lon:.6f}"]
    assert panel.value("Dimensions") is None  # shown once, in the file rows above
    assert v.grab().save(str(screenshot_dir(tmp_path) / "viewer.png"))

    # A photo without EXIF: no camera rows, no map, and a plain word instead.
    QTest.keyClick(v, Qt.Key.Key_End)
    qtbot.waitUntil(lambda: v.exif is not None, timeout=10_000)
    assert panel.value("Camera") is None and panel.value("Location") is None and panel.map_url is None
    assert panel.empty.isVisibleTo(v)


def test_every_key_in_the_table_calls_what_the_help_says(qtbot, open_viewer):
    v = open_viewer(1)
    calls: list[tuple[str, tuple]] = []
    for entry in KEYS:
        monkey = (lambda name: lambda *args: calls.append((name, args)))(entry.method)
        setattr(v, entry.method, monkey)  # the instance's attribute shadows the method
    for entry in KEYS:
        for key in entry.keys:
            calls.clear()
            combo = QKeySequence(key)[0]
            mods = combo.keyboardModifiers()
            if key in ("+", "?"):
                mods |= Qt.KeyboardModifier.ShiftModifier  # as a US keyboard types them
            QTest.keyClick(v, combo.key(), mods)
            expected = (int(key),) if entry.method == "rate" else ()
            assert calls == [(entry.method, expected)], key


def test_keyboard_help_lists_the_viewer_and_main_window_keys(qtbot, gui_window, open_viewer):
    w = gui_window("tiny-random")
    assert w.shortcuts_action in w.menuBar().actions()[-1].menu().actions()
    dialog = w.show_shortcuts()
    listed = dict((text, keys) for keys, text in dialog.listed())
    for entry in KEYS:  # every viewer key, as the viewer reads them
        assert listed[entry.text] == ", ".join(key_text(k) for k in entry.keys)
    assert listed["Full screen on or off"] == "F, F11" and listed["Slideshow (any key or click stops it)"] == "S"
    # The main window's actions, read from what it registers (a shortcut changed there changes here).
    assert listed["Index Now"] == "F5" and listed["Side Panel"] == "F9"
    assert listed["Keyboard Shortcuts"] == "F1, ?"
    assert "Zoom in or out around the pointer" in listed and "Copy: the selected lines of text in the photo" in listed
    dialog.close()
    # "?" typed into the search field is a question mark, not the help.
    from clipgallery.gui.shortcuts_dialog import ShortcutsDialog

    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=3_000)  # window shortcuts answer in the active window
    w.search_bar.field.setFocus()
    QTest.keyClicks(w.search_bar.field, "what?")
    assert w.search_bar.field.text() == "what?" and not any(d.isVisible() for d in w.findChildren(ShortcutsDialog))
    w.view.setFocus()
    QTest.keyClick(w.view, Qt.Key.Key_F1)
    opened = [d for d in w.findChildren(ShortcutsDialog) if d.isVisible()]
    assert len(opened) == 1
    opened[0].close()
    QTest.keyClick(w.view, Qt.Key.Key_Question)  # "?" in the grid
    assert len([d for d in w.findChildren(ShortcutsDialog) if d.isVisible()]) == 1

    # F1 in the viewer opens the viewer's list.
    v = open_viewer(0)
    with qtbot.waitSignal(v.shortcuts_requested, timeout=2_000):
        QTest.keyClick(v, Qt.Key.Key_F1)
    shown = [d for d in v.findChildren(ShortcutsDialog)]
    assert shown and ("F, F11", "Full screen on or off") in shown[0].listed()


def test_raw_and_video_go_through_the_same_decode_upright_at_full_size(tmp_path):
    from clipgallery import samples

    picture = landscape((400, 300), seed=5)
    raw = tmp_path / "IMG_0001.DNG"
    raw.write_bytes(samples.dng_bytes(picture, orientation=6))  # a camera held upright
    facade = Facade()
    preview, width, height = facade.display_image(raw, 100)
    assert (width, height) == (300, 400) and max(preview.size) <= 100
    full = facade.decode_full(raw)
    assert full.size == (300, 400)  # demosaiced whole and turned upright, for 1:1
    # The same picture (LibRaw's colours are its own: compare the light and dark), and the right way up.
    luma = np.asarray(full.convert("L"), dtype=float).ravel()
    right = np.asarray(picture.transpose(Image.Transpose.ROTATE_270).convert("L"), dtype=float).ravel()
    wrong = np.asarray(picture.transpose(Image.Transpose.ROTATE_90).convert("L"), dtype=float).ravel()
    assert np.corrcoef(luma, right)[0, 1] > 0.9 > np.corrcoef(luma, wrong)[0, 1]
    clip = tmp_path / "clip.mp4"
    samples.write_video(clip, [picture, landscape((400, 300), seed=6)], seconds_each=1.0)
    frame, width, height = facade.display_image(clip, 200, at=1.5)
    assert (width, height) == (400, 300) and max(frame.size) <= 200
    assert facade.decode_full(clip, at=1.5).size == (400, 300)
    assert facade.exif(clip).camera is None and facade.exif(clip).file_size == clip.stat().st_size


def test_a_panorama_too_large_to_hold_whole_is_zoomed_from_a_capped_decode(qtbot, open_viewer, monkeypatch):
    monkeypatch.setattr(viewer_module, "FULL_MAX_PIXELS", 1_500_000)  # the 6 MP photo plays the panorama
    v = open_viewer(0)
    with qtbot.waitSignal(v.full_resolution_shown, timeout=10_000):
        v.actual_size()
    c = v.canvas
    assert c.pixmap.width() * c.pixmap.height() <= 1_500_000 and c.pixmap.width() > PREVIEW_PX
    rect = c.picture_rect()
    assert c.scale == pytest.approx(1.0) and (rect.width(), rect.height()) == BIG  # still 1:1 in the photo's pixels


def test_the_slideshow_setting_refuses_junk(tmp_path):
    settings = Settings.at(tmp_path / "s.ini")
    assert settings.slideshow_seconds == 4.0
    for raw, read in (("0.1", 0.5), ("12", 12.0), ("nan", 4.0), ("soon", 4.0), ("99999", 3600.0)):
        settings.qsettings.setValue("viewer/slideshow_seconds", raw)
        assert settings.slideshow_seconds == read, raw


def test_a_photo_turned_by_its_exif_is_upright_in_the_preview_and_at_1_to_1(qtbot, tmp_path, monkeypatch):
    from conftest import save_with_orientation

    monkeypatch.setattr(viewer_module, "DISPLAY_PX", 300)
    root = tmp_path / "phone"
    root.mkdir()
    upright = landscape((600, 800), seed=9)  # portrait, as the person saw it
    save_with_orientation(upright, root / "portrait.jpg", 6, quality=95)
    facade = Facade()
    lib = facade.open(root, tmp_path / "lib")
    v = PhotoViewer(facade, lib, [Photo(str(root / "portrait.jpg"), None, None)], 0)
    full_shown: list[str] = []
    # Fitted to the window the 300 px preview may already be too small, and the whole photo is then
    # decoded before anyone asks for 1:1: the signal is heard from the start, not only from actual_size.
    v.full_resolution_shown.connect(full_shown.append)
    qtbot.addWidget(v)
    v.show()
    qtbot.waitUntil(lambda: v.canvas.pixmap is not None, timeout=10_000)
    c = v.canvas
    assert (c.full_size.width(), c.full_size.height()) == (600, 800)
    assert c.pixmap.height() > c.pixmap.width()  # the preview (or already the whole photo) is upright too
    v.actual_size()
    qtbot.waitUntil(lambda: bool(full_shown), timeout=10_000)
    shown = c.pixmap.toImage()
    assert (shown.width(), shown.height()) == (600, 800)
    expected = np.asarray(upright, dtype=int)
    for x, y in ((50, 60), (300, 400), (550, 750)):
        colour = shown.pixelColor(x, y)
        assert np.abs(np.array([colour.red(), colour.green(), colour.blue()]) - expected[y, x]).max() <= 16
    v.close()
    facade.close(lib)
