"""The app's icons: small SVGs from resources/icons, with the style's standard icon as a fallback."""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QStyle

from .facade import resource_path

# Every SVG the app shows (toolbar, search field, window icon); a bundle without one of them is broken.
APP_ICONS = ("clipgallery", "folder-open", "export", "settings", "index", "search")


@cache
def icon(name: str, fallback: QStyle.StandardPixmap | None = None) -> QIcon:
    path = resource_path("icons", f"{name}.svg")
    if path is not None:
        ic = QIcon(str(path))
        if not ic.isNull():
            return ic
    if fallback is not None:
        return QApplication.style().standardIcon(fallback)
    return QIcon()


def shipped_icons_loaded() -> tuple[int, int]:
    """(icons that render from their shipped SVG, icons the app uses): a packaging check."""
    loaded = sum(not icon(name).pixmap(32, 32).isNull() for name in APP_ICONS)
    return loaded, len(APP_ICONS)
