"""Unexpected exceptions end up here: shown in a dialog with the details, never a silent crash."""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

log = logging.getLogger(__name__)


def show_error(parent: QWidget | None, title: str, text: str, details: str = "") -> QMessageBox:
    """A non-modal error box (the window behind it stays usable)."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Close, parent)
    if details:
        box.setDetailedText(details)
    box.setModal(False)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box


class _Reporter(QObject):
    """Lives in the UI thread; exceptions from any thread are queued to it."""

    report = Signal(str, str)

    def __init__(self) -> None:
        super().__init__()
        self.report.connect(self._show)
        self.shown: list[str] = []
        self._open: list[QMessageBox] = []  # a parentless box must be kept, or Python frees it at once

    @Slot(str, str)
    def _show(self, text: str, details: str) -> None:
        self.shown.append(text)
        parent = QApplication.activeWindow()
        box = show_error(parent, "clipgallery: unexpected error",
                         f"Something went wrong: {text}\n\nYour photos and library are safe; what was "
                         "already indexed is kept. Please report this with the details below.", details)
        self._open.append(box)
        box.finished.connect(lambda _=0, b=box: self._open.remove(b) if b in self._open else None)


_reporter: _Reporter | None = None


def report_exception(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """What sys.excepthook does here: print the traceback, and show it in a dialog (from any thread)."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        QApplication.quit()
        return
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    sys.stderr.write(details)
    if _reporter is not None:
        _reporter.report.emit(f"{exc_type.__name__}: {exc}", details)


def install_excepthook() -> _Reporter:
    """Route uncaught exceptions (UI thread and Python threads) to an error dialog."""
    global _reporter
    if _reporter is None:
        _reporter = _Reporter()
        sys.excepthook = report_exception
        threading.excepthook = lambda a: report_exception(a.exc_type, a.exc_value, a.exc_traceback)
    return _reporter
