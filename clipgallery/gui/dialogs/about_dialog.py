"""Help > About: the version, the model, where the library lives and what this installation is made of."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ... import __version__
from .. import icons
from ..facade import installation


def about_rows(model: str, search_model: str | None, library: Any) -> list[tuple[str, str]]:
    """The facts the dialog shows, in order; `library` is the open Library or None."""
    rows = [("Version", __version__), ("Model", model)]
    if search_model and search_model != model:
        rows.append(("Last search used", search_model))
    if library is not None:
        rows += [("Photo folder", str(library.root)), ("Library", str(library.dir))]
    else:
        rows.append(("Library", "no folder open"))
    rows += list(installation().items())
    return rows


class AboutDialog(QDialog):
    def __init__(self, model: str, search_model: str | None, library: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About clipgallery")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.rows = about_rows(model, search_model, library)

        logo = QLabel()
        logo.setPixmap(icons.icon("clipgallery").pixmap(64, 64))
        title = QLabel(f"<h2>clipgallery {__version__}</h2>A photo organizer built on CLIP: search your photos by "
                       "what is in them, tag, group, find duplicates and export.<br>"
                       "Your photo folders are never written to.")
        title.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        head.addWidget(title, 1)

        form = QFormLayout()
        self.values: dict[str, QLabel] = {}
        for key, value in self.rows:
            label = QLabel(value)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            label.setMinimumWidth(420)
            self.values[key] = label
            form.addRow(f"{key}:", label)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy Details", QDialogButtonBox.ButtonRole.ActionRole)
        copy.setToolTip("Copy these details, e.g. for a bug report")
        copy.clicked.connect(self.copy_details)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def details(self) -> str:
        return "\n".join(f"{key}: {value}" for key, value in self.rows)

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(self.details())
