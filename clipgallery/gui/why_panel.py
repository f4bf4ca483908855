"""The viewer's "Why this result" side panel: the score and the concepts that carry the match."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from .facade import Why


class WhyPanel(QWidget):
    """Lists the concepts of a Why, each with a bar as long as its share of the best one."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.legend = QLabel("Warm colours on the photo: the parts that match the query most.")
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet("color: palette(mid);")
        self.rows = QVBoxLayout()
        self.rows.setSpacing(2)
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 8, 8, 8)
        col.addWidget(self.title)
        col.addLayout(self.rows)
        col.addWidget(self.legend)
        col.addStretch(1)
        self.words: list[str] = []

    def show_message(self, text: str) -> None:
        self._clear()
        self.title.setText(text)

    def show_why(self, why: Why) -> None:
        self._clear()
        self.title.setText(f"Why this result for “{why.query}”: score {why.score:.3f}\n"
                           f"The concepts that carry the match:" if why.concepts else
                           f"Score {why.score:.3f}; no concept of the vocabulary carries this match.")
        best = max((w for _, w in why.concepts), default=1.0) or 1.0
        for word, weight in why.concepts:
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(int(1000 * max(0.0, weight) / best))
            bar.setFormat(f"{word}  {weight:+.3f}")
            bar.setTextVisible(True)
            bar.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            bar.setMaximumHeight(22)
            self.rows.addWidget(bar)
            self.words.append(word)

    def _clear(self) -> None:
        self.words = []
        while self.rows.count():
            item = self.rows.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
