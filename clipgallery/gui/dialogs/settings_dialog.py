"""Preferences: model, device, batch size, library location, watched folders, thumbnail size, the folder's
regional vectors, text in photos and faces."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..settings import DEVICES, THUMB_MAX, THUMB_MIN, Settings


class SettingsDialog(QDialog):
    """Edits a copy; `apply()` (on OK) writes what changed, and the window reacts to each change."""

    regional_changed = Signal(bool)  # the open folder's regional-vectors setting, when it was changed
    text_changed = Signal(bool)  # the open folder's text-in-photos setting, when it was changed
    faces_changed = Signal(bool)  # the open folder's faces setting, when it was changed

    def __init__(self, settings: Settings, models: list[tuple[str, str]], parent: QWidget | None = None,
                 regional: bool | None = None, text: bool | None = None,
                 faces: bool | None = None):
        """`regional` / `text` / `faces`: whether the open folder stores region vectors / reads the text
        in its photos / finds faces (None: no folder is open, or faces are not installed)."""
        super().__init__(parent)
        self.settings = settings
        self._regional = regional
        self._text = text
        self._faces = faces
        self.setWindowTitle("clipgallery settings")
        self.setMinimumWidth(560)

        self.model = QComboBox(editable=True)
        for name, description in models:
            self.model.addItem(name, name)
            self.model.setItemData(self.model.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
        if self.model.findText(settings.model) < 0:
            self.model.addItem(settings.model)
        self.model.setCurrentText(settings.model)
        self.model.setToolTip("An open_clip name with a pretrained tag (ViT-B-32:laion2b_s34b_b79k), a bundled "
                              "model, hf-hub:ORG/NAME, ARCH:/path/to/weights.pt or a model folder.\n"
                              "Changing it indexes the folder again in the background; the vectors of "
                              "the other model are kept.")
        self.device = QComboBox()
        labels = {"auto": "Automatic (GPU when there is one)", "cpu": "CPU", "cuda": "NVIDIA GPU (CUDA)",
                  "mps": "Apple GPU (Metal)"}
        for d in DEVICES:
            self.device.addItem(labels[d], d)
        self.device.setCurrentIndex(max(0, self.device.findData(settings.device)))
        self.batch = QSpinBox(minimum=0, maximum=1024, specialValueText="Automatic")
        self.batch.setValue(settings.batch_size)
        self.batch.setToolTip("Photos encoded together; bigger is faster on a GPU and needs more memory")
        self.location = QLineEdit(settings.library_location)
        self.location.setPlaceholderText("Default: one library per folder in your data folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        loc_row = QHBoxLayout()
        loc_row.addWidget(self.location, 1)
        loc_row.addWidget(browse)
        self.watch = QCheckBox("Watch the open folder")
        self.watch.setChecked(settings.watch_folder)
        self.watch.setToolTip("Photos copied in, changed, moved or deleted are indexed within seconds, without F5.\n"
                              "Moved and copied photos keep their vectors: nothing is encoded twice.")
        self.thumb = QSpinBox(minimum=THUMB_MIN, maximum=THUMB_MAX, singleStep=16, suffix=" px")
        self.thumb.setValue(settings.thumbnail_size)
        self.regional = QCheckBox("Store regional vectors for this folder")
        self.regional.setChecked(bool(regional))
        self.regional.setEnabled(regional is not None)
        self.regional.setToolTip(
            "Also keep vectors of parts of each photo, so that “Find Photos Sharing Objects” (and a box "
            "drawn in the viewer) finds the same thing in other scenes.\nTurning this on indexes the folder "
            "again; it takes about 14 KB per photo with ViT-B-32. Turning it off drops them.")

        form = QFormLayout()
        form.addRow("Model", self.model)
        form.addRow("Device", self.device)
        form.addRow("Batch size", self.batch)
        form.addRow("Library location", loc_row)
        form.addRow("Watched folders", self.watch)
        form.addRow("Thumbnail size", self.thumb)
        self.reopen = QCheckBox("Open the last folder when clipgallery starts")
        self.reopen.setChecked(settings.reopen_last)
        form.addRow("At start", self.reopen)
        form.addRow("Regional vectors", self.regional)
        self.text = QCheckBox("Read the text in this folder's photos")
        self.text.setChecked(bool(text))
        self.text.setEnabled(text is not None)
        self.text.setToolTip(
            "Read signs, receipts, slides and screenshots (English and Chinese) so that text:WORD finds them "
            "and searches rank photos holding your words higher.\nThe text stays in this folder's library on "
            "this computer. Reading takes about a second per photo with text. Turning it off deletes all the "
            "text read.")
        form.addRow("Text in photos", self.text)
        self.faces = QCheckBox("Find faces and group them into people for this folder")
        self.faces.setChecked(bool(faces))
        self.faces.setEnabled(faces is not None)
        self.faces_note = QLabel("Faces are biometric data: they stay in this folder's library on this computer. "
                                 "Turning this off deletes every face, person and name found in this folder.",
                                 wordWrap=True)
        self.faces_note.setStyleSheet("color: palette(mid);")
        form.addRow("People", self.faces)
        form.addRow("", self.faces_note)
        note = QLabel("Libraries, vectors and thumbnails are kept outside your photo folders; "
                      "clipgallery never writes into them.", wordWrap=True)
        note.setStyleSheet("color: palette(mid);")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.accepted.connect(self.apply)

    def apply(self) -> None:
        s = self.settings
        s.model = self.model.currentText().strip() or s.model
        s.device = self.device.currentData()
        s.batch_size = self.batch.value()
        s.library_location = self.location.text().strip()
        s.thumbnail_size = self.thumb.value()
        s.watch_folder = self.watch.isChecked()
        s.reopen_last = self.reopen.isChecked()
        s.sync()
        if self._regional is not None and self.regional.isChecked() != self._regional:
            self._regional = self.regional.isChecked()
            self.regional_changed.emit(self._regional)
        if self._text is not None and self.text.isChecked() != self._text:
            self._text = self.text.isChecked()
            self.text_changed.emit(self._text)
        if self._faces is not None and self.faces.isChecked() != self._faces:
            self._faces = self.faces.isChecked()
            self.faces_changed.emit(self._faces)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Where to keep libraries", self.location.text())
        if folder:
            self.location.setText(folder)
