"""The viewer's camera panel: what the photo's EXIF says (camera, lens, exposure, date, position), with a
link that opens the position on OpenStreetMap. Rows the photo lacks are not shown."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from .facade import ExifInfo


def open_url(url: str) -> bool:
    return QDesktopServices.openUrl(QUrl(url))


class ExifPanel(QWidget):
    """`show_exif(info)` fills it; `skip` names rows shown elsewhere (the viewer's file rows)."""

    map_opened = Signal(str)  # the map address handed to the browser

    def __init__(self, skip: tuple[str, ...] = (), parent: QWidget | None = None):
        super().__init__(parent)
        self.skip = set(skip)
        self.title = QLabel("<b>From the camera</b>")
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.empty = QLabel("<span style='color:gray'>No camera information in this file</span>")
        self.map_url: str | None = None
        col = QVBoxLayout(self)
        col.setContentsMargins(9, 6, 9, 6)
        col.addWidget(self.title)
        col.addLayout(self.form)
        col.addWidget(self.empty)
        self.clear()

    def clear(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.map_url = None
        self.empty.hide()

    def show_exif(self, info: ExifInfo) -> None:
        self.clear()
        rows = [(label, text) for label, text in info.rows() if label not in self.skip]
        self.map_url = info.map_url
        for label, text in rows:
            value = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setMinimumWidth(150)
            if label == "Location" and self.map_url:
                value.setText(f"{html.escape(text)} &nbsp;<a href='{html.escape(self.map_url)}'>Map \u2197</a>")
                value.setWordWrap(False)
                value.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
                value.setToolTip(self.map_url)
                value.linkActivated.connect(self.open_map)
            else:
                value.setText(html.escape(text))
            self.form.addRow(f"<b>{label}</b>", value)
        self.empty.setVisible(not rows)

    def open_map(self, url: str | None = None) -> None:
        url = url or self.map_url
        if url:
            open_url(url)
            self.map_opened.emit(url)

    def value(self, label: str) -> str | None:
        """The text of a row as shown (rich text), or None when the photo has no such field."""
        for row in range(self.form.rowCount()):
            name = self.form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            field = self.form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            if name is not None and field is not None and name.widget().text() == f"<b>{label}</b>":
                return field.widget().text()
        return None
