"""Duplicates side by side, and the confirmation before any photo goes to the Trash.

CompareDialog shows one group's photos next to each other (the picture, its size in pixels, its
file size, date and path; the suggested keeper marked) and lets a person choose another one to
keep. TrashConfirmDialog lists exactly the files that would be moved; Cancel is the default.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from .facade import shown
from .thumbnails import ThumbnailLoader

COMPARE_PX = 320
SUGGESTED = "★ suggested keeper"


def file_size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


class _Column(QFrame):
    """One photo of the group: its picture and what tells it apart."""

    def __init__(self, member: Any, suggested: bool, difference: float | None):
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.member = member
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.picture.setFixedSize(COMPARE_PX, COMPARE_PX)
        self.picture.setText("…")
        dims = f"{member.width} × {member.height} px" if member.width and member.height else "size unknown"
        self.dimensions = QLabel(dims)
        self.size_label = QLabel(file_size(member.size))
        self.date = QLabel(time.strftime("%Y-%m-%d %H:%M", time.localtime(member.date)))
        self.path = QLabel(shown(str(member.path)), wordWrap=True)
        self.path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path.setMaximumWidth(COMPARE_PX)
        how = "" if difference is None or suggested else f"pixels differ by {difference:.1f} (of 255)"
        self.difference = QLabel(how)
        self.difference.setStyleSheet("color: gray;")
        self.mark = QLabel(SUGGESTED if suggested else "")
        self.mark.setStyleSheet("font-weight: bold;")
        self.keep = QRadioButton("Keep this one")
        col = QVBoxLayout(self)
        col.addWidget(self.picture)
        for w in (self.mark, self.dimensions, self.size_label, self.date, self.path, self.difference, self.keep):
            col.addWidget(w)
        col.addStretch(1)


class CompareDialog(QDialog):
    """A group side by side; "Move extras to Trash…" asks for the chosen keeper's extras to go."""

    trash_requested = Signal(int)  # the file id to keep

    def __init__(self, group: Any, loader: ThumbnailLoader, parent: QWidget | None = None):
        super().__init__(parent)
        self.group = group
        self.loader = loader
        confirmed = group.kind == "duplicate"
        self.setWindowTitle(f"Compare {len(group.members)} photos")
        diffs = group.difference or (None,) * len(group.members)
        self.columns = [_Column(m, m.id == group.keep.id, d) for m, d in zip(group.members, diffs)]
        self.choice = QButtonGroup(self)
        row = QHBoxLayout()
        for i, c in enumerate(self.columns):
            self.choice.addButton(c.keep, i)
            c.keep.setEnabled(confirmed)
            row.addWidget(c)
        self.columns[0].keep.setChecked(True)  # members come keeper first
        strip = QWidget()
        strip.setLayout(row)
        scroll = QScrollArea()
        scroll.setWidget(strip)
        scroll.setWidgetResizable(True)
        note = ("The same picture (checked pixel by pixel). Choose the one to keep; the others can go "
                "to the Trash, from where they can be restored." if confirmed else
                "Only similar: these look alike but are not the same picture, so none of them can be "
                "moved to the Trash from here.")
        self.note = QLabel(note, wordWrap=True)
        self.trash_button = QPushButton("Move extras to Trash…")
        self.trash_button.setEnabled(confirmed)
        self.trash_button.clicked.connect(lambda: self.trash_requested.emit(self.keeper().id))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.trash_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addWidget(self.note)
        col.addWidget(scroll, 1)
        col.addWidget(buttons)
        self.resize(min(1200, 60 + len(self.columns) * (COMPARE_PX + 30)), COMPARE_PX + 320)
        loader.ready.connect(self._thumb)
        for c in self.columns:
            self._thumb(str(c.member.path))

    def keeper(self) -> Any:
        return self.columns[max(0, self.choice.checkedId())].member

    def choose(self, file_id: int) -> None:
        for c in self.columns:
            if c.member.id == file_id:
                c.keep.setChecked(True)

    def _thumb(self, path: str) -> None:
        for c in self.columns:
            if str(c.member.path) == path:
                pm = self.loader.get(path)
                if pm is not None:
                    c.picture.setPixmap(pm)
                elif self.loader.error(path):
                    c.picture.setText(self.loader.error(path) or "")


class TrashConfirmDialog(QDialog):
    """'Move N photos to the Trash?' with every file listed; Cancel is the default button."""

    def __init__(self, plan: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Move duplicates to the Trash")
        n = len(plan.moves)
        self.question = QLabel(
            f"Move {n} photo{'s' if n != 1 else ''} to the Trash ({shown(plan.trash)})? Each is the same picture "
            f"as a photo that stays. You can restore them from the Trash.", wordWrap=True)
        self.files = QListWidget()
        for m in plan.moves:
            self.files.addItem(f"{shown(str(m.path))}   (keeping {shown(Path(m.keep).name)})")
        col = QVBoxLayout(self)
        col.addWidget(self.question)
        col.addWidget(self.files, 1)
        if plan.refused:
            stays = QListWidget()
            for p, why in plan.refused:
                stays.addItem(f"{shown(str(p))}: {why}")
            col.addWidget(QLabel("These stay where they are:"))
            col.addWidget(stays)
            self.refused = stays
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.move_button = buttons.addButton("Move to Trash", QDialogButtonBox.ButtonRole.AcceptRole)
        self.move_button.setEnabled(n > 0)
        self.move_button.setAutoDefault(False)
        cancel = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        col.addWidget(buttons)
        self.resize(780, 420)

    def listed(self) -> list[str]:
        return [self.files.item(i).text() for i in range(self.files.count())]
