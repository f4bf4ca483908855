"""CLIPDraw in the app: draw a text (the query, or a group's name for its cover) with coloured strokes,
with a progress bar and a Stop button; the model runs in a worker thread."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .facade import Facade
from .thumbnails import pil_to_qimage
from .workers import Jobs

PREVIEW = 256


class _Relay(QObject):
    """Carries progress from the worker thread to the dialog (a queued signal)."""

    step = Signal(int, int)


class DrawDialog(QDialog):
    """`drawn` is emitted with (text, PIL image) when a drawing is finished."""

    drawn = Signal(str, object)

    def __init__(self, facade: Facade, spec: str, device: str, text: str = "", title: str = "Draw",
                 parent: QWidget | None = None, steps: int = 120, strokes: int = 16):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.facade, self.spec, self.device = facade, spec, device
        self.jobs = Jobs(max_threads=1, parent=self)
        self.cancel = threading.Event()
        self.image = None  # the last finished drawing (PIL)
        self.text = QLineEdit(text)
        self.text.setPlaceholderText("what to draw, e.g. a red circle")
        self.strokes = QSpinBox(minimum=1, maximum=64, value=strokes)
        self.steps = QSpinBox(minimum=1, maximum=2000, value=steps, singleStep=20)
        self.draw_button = QPushButton("Draw")
        self.draw_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.cancel.set)
        self.stop_button.setEnabled(False)
        self.save_button = QPushButton("Save as…")
        self.save_button.clicked.connect(self._save_as)
        self.save_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setFormat("step %v of %m")
        self.progress.hide()
        self.picture = QLabel("The drawing appears here. The model sees random crops of it while it draws, "
                              "so what you get is what it reads into the words.")
        self.picture.setWordWrap(True)
        self.picture.setFixedSize(PREVIEW, PREVIEW)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self._relay = _Relay()
        self._relay.step.connect(self._step)
        row = QHBoxLayout()
        row.addWidget(self.text, 1)
        row.addWidget(QLabel("Strokes"))
        row.addWidget(self.strokes)
        row.addWidget(QLabel("Steps"))
        row.addWidget(self.steps)
        buttons = QHBoxLayout()
        buttons.addWidget(self.draw_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        col = QVBoxLayout(self)
        col.addLayout(row)
        col.addWidget(self.picture, 0, Qt.AlignmentFlag.AlignHCenter)
        col.addWidget(self.progress)
        col.addWidget(self.status)
        col.addLayout(buttons)

    def start(self) -> None:
        text = self.text.text().strip()
        if not text:
            self.status.setText("Type what to draw.")
            return
        self.cancel.clear()
        self.draw_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.progress.setRange(0, self.steps.value())
        self.progress.setValue(0)
        self.progress.show()
        self.status.setText(f"Drawing “{text}” with {self.spec}…")
        relay = self._relay
        self.jobs.submit(self.facade.draw, self.spec, self.device, text, self.strokes.value(), self.steps.value(),
                         lambda p: relay.step.emit(p.done, p.total), self.cancel,
                         on_done=lambda r, t=text: self._done(t, r), on_error=self._failed)

    def _step(self, done: int, total: int) -> None:
        self.progress.setMaximum(total)
        self.progress.setValue(done)

    def _done(self, text: str, result: tuple) -> None:
        image, score = result
        self.image = image
        self.picture.setPixmap(QPixmap.fromImage(pil_to_qimage(image)).scaled(
            PREVIEW, PREVIEW, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
        self.status.setText(f"“{text}”: the model scores its drawing {score:.3f}.")
        self._idle()
        self.save_button.setEnabled(True)
        self.drawn.emit(text, image)

    def _failed(self, message: str) -> None:
        self.status.setText(message)
        self._idle()

    def _idle(self) -> None:
        self.draw_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.progress.hide()

    def _save_as(self) -> None:
        if self.image is None:
            return
        name, _ = QFileDialog.getSaveFileName(self, "Save the drawing", f"{self.text.text().strip() or 'drawing'}.png",
                                              "PNG images (*.png)")
        if name:
            try:
                self.facade.save_new_png(self.image, Path(name))
            except Exception as e:  # ImageError: exists, or no such folder
                self.status.setText(str(e))

    def done(self, r: int) -> None:
        self.cancel.set()
        self.jobs.forget()
        self.jobs.wait()
        super().done(r)
