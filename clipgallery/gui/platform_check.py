"""Before Qt starts: can this session show a window? Missing X11 libraries get one clear sentence.

Qt 6.5+ needs libxcb-cursor0 (and a few other xcb libraries) for a window on X11; without them it
prints "Could not load the Qt platform plugin 'xcb'" and aborts, which tells a person nothing.
This module imports no Qt, so it can run first.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping, Sequence

# What Qt's xcb platform plugin loads (ldd of libqxcb.so and libQt6XcbQpa.so), with the Debian/Ubuntu
# package that ships each.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
}


def _loadable(name: str) -> bool:
    try:
        ctypes.CDLL(name)
        return True
    except OSError:
        return False


def missing_libraries(required: Mapping[str, str] = XCB_LIBRARIES,
                      loadable: Callable[[str], bool] = _loadable) -> list[str]:
    return [lib for lib in required if not loadable(lib)]


def uses_xcb(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt will pick its X11 platform plugin in this environment."""
    if not platform.startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip().lower()
    if chosen:
        return chosen == "xcb"
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def check_display(env: Mapping[str, str] | None = None, required: Mapping[str, str] = XCB_LIBRARIES,
                  platform: str = sys.platform) -> str | None:
    """None when a window can be shown; otherwise one sentence saying why and what to do."""
    env = os.environ if env is None else env
    if platform.startswith("linux") and not env.get("QT_QPA_PLATFORM") and not env.get("DISPLAY") \
            and not env.get("WAYLAND_DISPLAY"):
        return ("there is no graphical session here (neither DISPLAY nor WAYLAND_DISPLAY is set): the desktop app "
                "needs one; every feature also works from the command line (clipgallery --help)")
    if not uses_xcb(env, platform):
        return None
    missing = missing_libraries(required)
    if not missing:
        return None
    return missing_message(missing, required)


def missing_message(missing: Sequence[str], required: Mapping[str, str] = XCB_LIBRARIES) -> str:
    packages = " ".join(dict.fromkeys(required[m] for m in missing))
    return (f"the desktop app cannot open a window: the X11 libraries Qt needs are missing ({', '.join(missing)}). "
            f"Install them (Debian/Ubuntu: sudo apt-get install {packages}), or run `make run`, "
            "which installs them when it may")
