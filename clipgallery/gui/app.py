"""Start the desktop app: QApplication, error hook, main window; also --screenshot and --benchmark runs."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from .dialogs.error_dialog import install_excepthook
from .main_window import MainWindow
from .settings import Settings

SHOWN_MARKER = "clipgallery-window-shown"
FIRST_RESULT_MARKER = "clipgallery-first-result"  # --screenshot --query: seconds from process start
SCREENSHOT_TIMEOUT_S = 600


def icon_path() -> Path | None:
    from .facade import resource_path

    return resource_path("icons", "clipgallery.svg")


def seconds_since_process_start() -> float | None:
    """From /proc (Linux); None elsewhere."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def make_app() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("clipgallery")
    app.setOrganizationName("clipgallery")
    app.setApplicationDisplayName("clipgallery")
    app.setDesktopFileName("clipgallery")
    icon = icon_path()
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    return app  # type: ignore[return-value]


def run(folder: Path | None = None, library_dir: Path | None = None, model: str | None = None,
        device: str | None = None, screenshot: Path | None = None, query: str | None = None,
        benchmark: bool = False, panel: str | None = None) -> int:
    """The `clipgallery gui` command; returns the exit status."""
    app = make_app()
    install_excepthook()
    session = {k: v for k, v in (("model", model), ("device", device)) if v}
    if screenshot is not None or benchmark:
        # A throwaway settings file: a scripted run neither reads nor changes the user's settings.
        settings = Settings(QSettings(str(Path(tempfile.mkdtemp(prefix="clipgallery-settings-")) / "settings.ini"),
                                      QSettings.Format.IniFormat), overrides=session)
    else:
        settings = Settings(overrides=session)
    window = MainWindow(settings, library_dir=library_dir, library_dir_for=folder if library_dir else None)
    if screenshot is not None:
        window.resize(1280, 800)
    window.show()
    if benchmark:
        QTimer.singleShot(0, lambda: _report_shown(app))
        return app.exec()
    if folder is None and screenshot is None:
        folder = settings.folder_to_reopen()  # started without a folder: the last one, when the setting says so
    if folder is not None:
        QTimer.singleShot(0, lambda: window.open_folder(folder))
    driver = ScreenshotDriver(window, screenshot, query, panel) if screenshot is not None else None
    code = app.exec()
    return driver.status if driver is not None else code


def _report_shown(app: QApplication) -> None:
    from .icons import shipped_icons_loaded

    since = seconds_since_process_start()
    loaded, shipped = shipped_icons_loaded()
    print(f"{SHOWN_MARKER} process_s={since if since is not None else -1:.3f} "
          f"torch_imported={'torch' in sys.modules} icons_loaded={loaded} icons_shipped={shipped}", flush=True)
    app.quit()


class ScreenshotDriver(QObject):
    """Open, run the query, wait for indexing (and a side panel's action), wait for thumbnails, save, quit.

    The query is typed as soon as the folder is open, as a person would: the search answers from
    what the library holds while the folder is checked, and the time to its first results is
    printed (`FIRST_RESULT_MARKER`). The query runs again once indexing has finished, so the
    screenshot shows every photo of the folder.
    """

    def __init__(self, window: MainWindow, path: Path, query: str | None, panel: str | None = None):
        super().__init__(window)
        self.window, self.path, self.query, self.panel = window, Path(path), query, panel
        self.status = 1
        self.first_result_s: float | None = None
        self._t0 = time.monotonic()
        self._indexed_yet = False
        window.folder_opened.connect(self._opened)
        window.indexing_finished.connect(self._indexed)
        window.indexing_failed.connect(lambda m: self._fail(f"indexing failed: {m}"))
        window.open_failed.connect(self._fail)
        window.search_failed.connect(self._search_failed)
        window.results_shown.connect(self._shown)
        self._poll = QTimer(self, interval=100)
        self._poll.timeout.connect(self._check)

    def _opened(self, root: Path) -> None:
        self.window.folder_opened.disconnect(self._opened)
        if self.query:
            self.window.search_bar.field.setText(self.query)
            self.window.search_bar.search_now()

    def _search_failed(self, message: str) -> None:
        if not self._indexed_yet:
            return  # typed before a new folder had a photo indexed (the app says so); it runs again once indexed
        self._fail(f"the search failed: {message}")

    def _indexed(self, report) -> None:
        self.window.indexing_finished.disconnect(self._indexed)
        self._indexed_yet = True
        if self.query:
            self.window.search_bar.search_now()  # the whole folder is in the library now

    def _shown(self, n: int) -> None:
        searching = self.window.search_bar.searching()
        if self.query and not searching:
            return  # the browse listing of the opened folder; the query's results come next
        if self.query and self.first_result_s is None:
            since = seconds_since_process_start()
            self.first_result_s = since if since is not None else time.monotonic() - self._t0
            print(f"{FIRST_RESULT_MARKER} process_s={self.first_result_s:.3f} photos={n}", file=sys.stderr,
                  flush=True)
        if not self._indexed_yet:
            return  # the screenshot shows the folder once it is indexed
        self.window.results_shown.disconnect(self._shown)
        if self.panel:
            self._run_panel()
        else:
            self._poll.start()

    def _run_panel(self) -> None:
        side = self.window.side_panel
        panel = {"tags": side.tags, "groups": side.groups, "duplicates": side.duplicates}[self.panel]
        side.setCurrentWidget(panel)
        name = {"tags": "tag", "groups": "group", "duplicates": "duplicates"}[self.panel]

        def finished(task: str) -> None:
            if task != name:
                return
            panel.task_finished.disconnect(finished)
            if self.panel == "groups" and panel.list.count():
                self.window.results_shown.connect(self._start_polling)
                panel.list.setCurrentRow(0)
                panel.show_group(panel.list.item(0).data(Qt.ItemDataRole.UserRole))
            else:
                self._poll.start()

        panel.task_finished.connect(finished)
        {"tags": side.tags.run_tagging, "groups": side.groups.run_grouping, "duplicates": side.duplicates.find}[
            self.panel]()

    def _start_polling(self, n: int) -> None:
        self.window.results_shown.disconnect(self._start_polling)
        self._poll.start()

    def _check(self) -> None:
        if time.monotonic() - self._t0 > SCREENSHOT_TIMEOUT_S:
            self._fail("timed out waiting for the thumbnails")
            return
        view, loader = self.window.view, self.window.loader
        rows = view.visible_rows()
        covers = self.window.side_panel.groups.covers.loader
        if loader.busy or covers.busy or not all(loader.has(self.window.model.photo(r).path) for r in rows):
            view.viewport().update()  # paint asks for whatever is still missing
            return
        self._poll.stop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.window.grab().save(str(self.path)):
            self._fail(f"could not write {self.path}")
            return
        print(f"clipgallery: screenshot saved to {self.path}", file=sys.stderr)
        self.status = 0
        self.window.close()
        QApplication.quit()

    def _fail(self, message: str) -> None:
        print(f"clipgallery: error: {message}", file=sys.stderr)
        self.status = 1
        self._poll.stop()
        self.window.close()
        QApplication.quit()
