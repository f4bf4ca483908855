"""The app's icons: small SVGs from resources/icons, with the style's standard icon as a fallback."""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QStyle

from .facade import resource_path


@cache
def icon(name: str, fallback: QStyle.StandardPixmap | None = None) -> QIcon:
    path = resource_path("icons", f"{name}.svg")
    if path.is_file():
        ic = QIcon(str(path))
        if not ic.isNull():
            return ic
    if fallback is not None:
        return QApplication.style().standardIcon(fallback)
    return QIcon()
