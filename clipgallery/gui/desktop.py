"""Hand a file to the desktop: open it with its default app, or show it in the file manager."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices


def open_with_default_app(path: Path) -> bool:
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def show_in_file_manager(path: Path) -> bool:
    """Select the file in the platform's file manager; falls back to opening its folder."""
    path = Path(path)
    try:
        if sys.platform == "darwin":
            subprocess.Popen(["open", "-R", str(path)])
            return True
        if sys.platform == "win32":
            subprocess.Popen(["explorer", f"/select,{path}"])
            return True
        if shutil.which("dbus-send"):
            # The freedesktop FileManager1 interface selects the file (Nautilus, Dolphin, Nemo, ...).
            done = subprocess.run(
                ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.FileManager1",
                 "/org/freedesktop/FileManager1", "org.freedesktop.FileManager1.ShowItems",
                 f"array:string:{QUrl.fromLocalFile(str(path)).toString()}", "string:"],
                capture_output=True, timeout=3)
            if done.returncode == 0:
                return True
    except (OSError, subprocess.SubprocessError):
        pass
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))


def open_folder(path: Path) -> bool:
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
