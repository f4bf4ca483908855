"""The side panel: Tags, Groups, Duplicates, Albums, People and Folders tabs, each running its long jobs in the background."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QStyle,
    QTabWidget,
    QToolButton,
    QWidget,
)

from .index_status import format_eta
from .workers import Jobs, ProgressRelay

if TYPE_CHECKING:
    from .dialogs.export_dialog import ExportSource
    from .panel_context import PanelContext


_NOTHING_INDEXED = "no photo has been indexed yet"


class TaskBox(QWidget):
    """Progress of one long operation with a Cancel button; hidden when idle."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel()
        self.bar = QProgressBar(textVisible=False)
        self.bar.setFixedHeight(10)
        self.cancel_button = QToolButton(autoRaise=True, toolTip="Cancel")
        self.cancel_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DialogCancelButton))
        self.cancel_button.clicked.connect(self._cancel)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        self.event: threading.Event | None = None
        self.hide()

    def start(self, text: str) -> threading.Event:
        self.event = threading.Event()
        self.label.setText(text)
        self.bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        self.show()
        return self.event

    def update_progress(self, p: Any) -> None:
        if getattr(p, "total", 0):
            self.bar.setRange(0, p.total)
            self.bar.setValue(p.done)
        phase = getattr(p, "phase", "")
        if phase:
            eta = format_eta(p.eta) if getattr(p, "eta", None) else ""
            self.label.setText(phase.capitalize() + (f" · {eta}" if eta else "") + "…")

    def finish(self) -> None:
        self.event = None
        self.hide()

    def _cancel(self) -> None:
        if self.event is not None:
            self.event.set()
            self.label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)


class PanelBase(QWidget):
    """A tab that runs a core function in the background for the open folder."""

    task_finished = Signal(str)  # the task's name, after its result is shown (or its error)

    def __init__(self, side: SidePanel):
        super().__init__()
        self.side = side
        self.task = TaskBox()
        self.library: Any = None
        self.spec: str | None = None

    @property
    def ctx(self) -> PanelContext:
        return self.side.ctx

    def export_sources(self) -> list[ExportSource]:
        """What this panel offers to export right now (groups, tags); none by default."""
        return []

    def folder_opened(self, lib: Any) -> None:
        self.library = lib

    def folder_closed(self) -> None:
        if self.task.event is not None:
            self.task.event.set()
        self.task.finish()
        self.library = None

    def library_changed(self) -> None:
        """New photos were indexed: refresh what is shown."""

    def run(self, name: str, text: str, fn: Callable[..., Any], *args: Any,
            on_done: Callable[[Any], None], long: bool = True, quiet: bool = False) -> None:
        """fn(lib, spec, *args, progress=..., cancel=...) in the background; spec is the search model.

        `quiet`: a refresh in passing, that stays silent while nothing has been indexed yet.
        """
        lib = self.library
        if lib is None:
            return
        facade, preferred = self.ctx.facade, self.ctx.settings.model
        cancel = self.task.start(text) if long else threading.Event()
        relay = ProgressRelay(self)
        relay.progress.connect(self.task.update_progress)

        def work() -> tuple[str, Any]:
            spec = facade.search_spec(lib, preferred)
            extra = {"progress": relay, "cancel": cancel} if long else {}
            return spec, fn(lib, spec, *args, **extra)

        def done(result: tuple[str, Any]) -> None:
            relay.deleteLater()
            if long:
                self.task.finish()
            if lib is self.library:
                self.spec = result[0]
                on_done(result[1])
            self.task_finished.emit(name)

        def failed(message: str) -> None:
            relay.deleteLater()
            if long:
                self.task.finish()
            if lib is self.library and not (quiet and _NOTHING_INDEXED in message):
                self.show_error(message)
            self.task_finished.emit(name)

        self.ctx.jobs.submit(work, on_done=done, on_error=failed)

    def show_error(self, message: str) -> None:
        self.ctx.show_error(message[:1].upper() + message[1:])


class SidePanel(QTabWidget):
    def __init__(self, ctx: PanelContext):
        super().__init__()
        from .albums_panel import AlbumsPanel
        from .duplicates_panel import DuplicatesPanel
        from .folder_tree import FoldersPanel
        from .groups_panel import GroupsPanel
        from .people_panel import PeoplePanel
        from .tags_panel import TagsPanel

        self.ctx = ctx
        self.tasks = Jobs(max_threads=1, parent=self)
        ctx.jobs = self.tasks
        self.tags = TagsPanel(self)
        self.groups = GroupsPanel(self)
        self.duplicates = DuplicatesPanel(self)
        self.albums = AlbumsPanel(self)
        self.addTab(self.tags, "Tags")
        self.addTab(self.groups, "Groups")
        self.addTab(self.duplicates, "Duplicates")
        self.addTab(self.albums, "Albums")
        self.people = PeoplePanel(self)
        self.addTab(self.people, "People")
        self.folders = FoldersPanel(self)
        self.addTab(self.folders, "Folders")
        self.setMinimumWidth(260)
        self.setDocumentMode(True)

    def panels(self) -> list[PanelBase]:
        return [self.tags, self.groups, self.duplicates, self.albums, self.people, self.folders]

    def folder_opened(self, lib: Any) -> None:
        for p in self.panels():
            p.folder_opened(lib)

    def folder_closed(self) -> None:
        for p in self.panels():
            p.folder_closed()
        self.tasks.forget()

    def library_changed(self) -> None:
        for p in self.panels():
            p.library_changed()

    def export_sources(self) -> list[ExportSource]:
        return [s for p in self.panels() for s in p.export_sources()]

    def extend_context_menu(self, menu: QMenu, row: int) -> None:
        self.tags.extend_context_menu(menu, row)
        self.albums.extend_context_menu(menu, row)

    def shutdown(self) -> None:
        for p in self.panels():
            if p.task.event is not None:
                p.task.event.set()
        self.tasks.forget()
        self.tasks.wait()
