"""The indexing part of the status bar: done / total, images per second, time left, Pause, Cancel."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QStyle, QToolButton, QWidget


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s left"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s left"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min left"


def progress_text(p) -> str:
    """core Progress -> 'Indexing 1,234 / 5,000 · 42.0 images/s · 1 min 30 s left'."""
    if p.phase == "scanning":
        return f"Looking for photos… {p.done:,} found"
    faces = p.phase == "faces"  # core.faces: the face pass, after the vectors
    reading = p.phase == "reading"  # core.textread: the text in photos, after the vectors
    doing = "Finding faces" if faces else "Reading text" if reading else "Indexing"
    parts = [f"{doing} {p.done:,} / {p.total:,}"]
    if p.rate:
        parts.append(f"{p.rate:.1f} {'photos' if faces or reading else 'images'}/s")
    if p.eta is not None and p.done < p.total:
        parts.append(format_eta(p.eta))
    return " · ".join(parts)


class IndexStatus(QWidget):
    """Hidden when idle. Pause toggles; Cancel stops after the batch in flight."""

    pause_toggled = Signal(bool)
    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel()
        self.bar = QProgressBar(maximumWidth=180, textVisible=False)
        self.bar.setFixedHeight(12)
        self.pause = QToolButton(checkable=True, autoRaise=True, toolTip="Pause indexing")
        self.pause.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))
        self.pause.toggled.connect(self._paused)
        self.cancel = QToolButton(autoRaise=True, toolTip="Stop indexing (what is done is kept)")
        self.cancel.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaStop))
        self.cancel.clicked.connect(self.cancel_clicked)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        row.addWidget(self.label)
        row.addWidget(self.bar)
        row.addWidget(self.pause)
        row.addWidget(self.cancel)
        self.hide()

    def started(self, text: str) -> None:
        self.bar.show()
        self.pause.show()
        self.cancel.show()
        self.pause.setChecked(False)
        self.pause.setEnabled(True)
        self.cancel.setEnabled(True)
        self.cancel.setToolTip("Stop indexing (what is done is kept)")
        self.label.setText(text)
        self.bar.setRange(0, 0)  # busy until the first numbers come
        self.show()

    def update_progress(self, p) -> None:
        self.pause.setEnabled(self.cancel.isEnabled())
        if p.phase in ("indexing", "reading", "faces") and p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(p.done)
        else:
            self.bar.setRange(0, 0)
        text = progress_text(p)
        self.label.setText(f"{text} · paused" if self.pause.isChecked() else text)

    def update_download(self, d) -> None:
        """A first run fetching the model's weights: size, speed, time left; Cancel stops it."""
        if d.total:
            scale = max(1, d.total // 1_000_000_000 + 1)  # QProgressBar counts in int: keep it in range
            self.bar.setRange(0, d.total // scale)
            self.bar.setValue(d.done // scale)
        else:
            self.bar.setRange(0, 0)
        self.pause.setEnabled(False)  # a download is stopped or left to run, not paused
        self.cancel.setToolTip("Stop the download (what was fetched is kept for next time)")
        self.label.setText(d.describe() + " (once; the app stays usable)")

    def finished(self, text: str) -> None:
        """Idle: only a short line saying how things stand (the details are in its tooltip)."""
        self.bar.hide()
        self.pause.hide()
        self.cancel.hide()
        self.label.setText(text)
        self.show()

    def stopping(self) -> None:
        self.label.setText("Stopping after the current batch…")
        self.pause.setEnabled(False)
        self.cancel.setEnabled(False)

    def _paused(self, on: bool) -> None:
        self.pause.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MediaPlay if on else QStyle.StandardPixmap.SP_MediaPause))
        self.pause.setToolTip("Resume indexing" if on else "Pause indexing")
        text = self.label.text().removesuffix(" · paused")
        self.label.setText(f"{text} · paused" if on else text)
        self.pause_toggled.emit(on)
