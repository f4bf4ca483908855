"""The app on a plain X session: a real window under Xvfb, or one clear sentence when it cannot."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from conftest import photo

from clipgallery.gui.platform_check import XCB_LIBRARIES, check_display, missing_message, uses_xcb


def test_qt_picks_xcb_on_an_x_session_only():
    assert uses_xcb({"DISPLAY": ":0"}, "linux")
    assert not uses_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert uses_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "w", "QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not uses_xcb({"DISPLAY": ":0"}, "darwin")


def test_a_missing_x11_library_is_one_sentence_naming_the_package():
    required = dict(XCB_LIBRARIES, **{"libxcb-clipgallery-test.so.9": "libxcb-clipgallery-test9"})
    message = check_display({"DISPLAY": ":0"}, required, "linux")
    assert message is not None and "\n" not in message
    assert "libxcb-clipgallery-test.so.9" in message and "sudo apt-get install libxcb-clipgallery-test9" in message
    assert missing_message(["libxcb-cursor.so.0"]).count("libxcb-cursor0") == 1
    no_session = check_display({}, XCB_LIBRARIES, "linux")
    assert no_session is not None and "no graphical session" in no_session


def test_everything_a_real_window_needs_is_installed_by_the_setup():
    """tools/ensure_system_libs.sh (run by `make`) installs what Qt's xcb plugin loads."""
    if sys.platform != "linux":
        pytest.skip("X11 libraries are a Linux matter")
    assert check_display({"DISPLAY": ":0"}, XCB_LIBRARIES, "linux") is None


@pytest.mark.slow
def test_the_app_opens_a_real_window_on_x11_and_quits(tmp_path):
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (tools/ensure_system_libs.sh installs it where it may)")
    display = f":{40 + os.getpid() % 500}"
    server = subprocess.Popen([xvfb, display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(f"/tmp/.X11-unix/X{display[1:]}") and time.monotonic() < deadline:
            time.sleep(0.1)
        root = tmp_path / "photos"
        root.mkdir()
        for i in range(3):
            photo(i).save(root / f"{i}.jpg", "JPEG")
        env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
        env.update(DISPLAY=display, CLIPGALLERY_MODEL="tiny-random", HOME=str(tmp_path / "home"),
                   XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
        shot = tmp_path / "window.png"
        r = subprocess.run([sys.executable, "-m", "clipgallery.cli", "gui", str(root), "--screenshot", str(shot)],
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "Could not load the Qt platform plugin" not in r.stderr
        assert shot.stat().st_size > 10_000
    finally:
        server.terminate()
        server.wait(timeout=10)
