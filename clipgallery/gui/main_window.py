"""The main window: open a folder, watch it index, search it, browse it, organise it."""

from __future__ import annotations

import html
import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QSizePolicy,
    QSlider,
    QSplitter,
    QStackedWidget,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from . import icons
from .banner import Banner
from .desktop import open_with_default_app, show_in_file_manager
from .dialogs.export_dialog import ExportDialog, ExportSource
from .dialogs.failed_files import FailedFilesDialog
from .dialogs.settings_dialog import SettingsDialog
from .facade import AUTO, RESULT_LIMIT, Facade, FolderListing, Photo, PhotoColumns, Results
from .folder_watch import FolderWatch
from .gallery_model import GalleryModel
from .gallery_view import TIMELINE_SORTS, GalleryView
from .index_status import IndexStatus
from .panel_context import PanelContext
from .search_bar import THRESHOLD_STEP, SearchBar
from .settings import THUMB_MAX, THUMB_MIN, Settings
from .side_panel import SidePanel
from .thumbnails import ThumbnailLoader
from .viewer import PhotoViewer
from .welcome import WelcomePage
from .workers import IndexController, Jobs

LIVE_REFRESH_S = 3.0  # a search made while indexing runs again this often, so new matches appear


class MainWindow(QMainWindow):
    """Signals say when things are done, for the status bar, for --screenshot and for tests."""

    folder_opened = Signal(Path)
    open_failed = Signal(str)
    indexing_finished = Signal(object)  # core IndexReport, or None when stopped before it began
    indexing_failed = Signal(str)
    results_shown = Signal(int)  # photos in the grid after a search or a browse
    search_failed = Signal(str)

    def __init__(self, settings: Settings, facade: Facade | None = None, library_dir: Path | None = None,
                 library_dir_for: Path | None = None):
        """`library_dir` is the library of the folder `library_dir_for` (the CLI's --library-dir)."""
        super().__init__()
        self.settings = settings
        self.facade = facade or Facade()
        self._library_dir, self._library_dir_for = library_dir, library_dir_for
        self.library: Any = None
        self.listing = FolderListing([], [])
        self.search_spec: str | None = None  # the model the last search used
        self._seq = 0
        self._search_busy = False
        self._search_again = False
        self._last_report: Any = None
        self._shown_request: tuple | None = ()
        self._scanned: FolderListing | None = None  # the last walk of the folder (photos not indexed yet too)
        self._last_live_refresh = 0.0
        self._viewer: PhotoViewer | None = None

        self.jobs = Jobs(max_threads=1, parent=self)  # open, list, search: one at a time, in order
        self.jobs.error.connect(self._job_error)
        self.scans = Jobs(max_threads=1, parent=self)  # folder walks, which may take a while
        self.scans.error.connect(self._job_error)
        self.indexer = IndexController(self.facade, self)
        self.folder_watch = FolderWatch(self.facade, settings, self.indexer, self.start_indexing, self)
        self.folder_watch.failed.connect(lambda m: self.notify(f"Not watching this folder: {m}", 15000))
        self.loader = ThumbnailLoader(self.facade, threads=2, parent=self)
        self.model = GalleryModel(self.loader, self)

        self._build_widgets()
        self._build_actions()
        self._build_menus()
        self._connect()
        self.setAcceptDrops(True)
        self.setWindowTitle("clipgallery")
        self.resize(1280, 820)
        if settings.geometry:
            self.restoreGeometry(QByteArray(settings.geometry))
        self.set_zoom(settings.thumbnail_size)
        self.search_bar.set_sort(settings.sort)
        self.search_bar.set_threshold(settings.threshold)
        self.search_bar.auto.setChecked(settings.best_matches)
        self.side_panel.setVisible(settings.side_panel)

    # -- construction -----------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.banner = Banner()
        self.search_bar = SearchBar()
        self.view = GalleryView()
        self.view.setModel(self.model)
        self.side_panel = SidePanel(PanelContext(
            facade=self.facade, settings=self.settings, notify=self.notify, show_photos=self.show_photos,
            show_error=lambda message: self.banner.show_message("error", message),
            selected_photos=self.selected_photos, export=self.export, organized=self._organized,
            set_faces=self.set_faces, refresh=self.people_changed, listing=lambda: self.listing,
            show_folder=self.search_bar.set_folder, shown_label=lambda: self.search_bar.restrict_label,
            photos_removed=self.photos_removed))
        self.search_bar.folder.currentIndexChanged.connect(
            lambda _: self.side_panel.folders.select(self.search_bar.folder.currentData() or ""))
        self.split = QSplitter()
        self.split.addWidget(self.view)
        self.split.addWidget(self.side_panel)
        self.split.setStretchFactor(0, 1)
        self.split.setCollapsible(0, False)
        self.split.setSizes([960, 320])
        gallery = QWidget()
        col = QVBoxLayout(gallery)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addWidget(self.search_bar)
        col.addWidget(self.split, 1)
        self.welcome = WelcomePage(self.settings)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(gallery)
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.banner)
        outer.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        bar = self.statusBar()
        self.count_label = QLabel()
        self.note_label = QLabel()  # what just happened; fades after a while
        self.note_label.setStyleSheet("color: gray;")
        self._note_timer = QTimer(self, singleShot=True)
        self._note_timer.timeout.connect(self.note_label.clear)
        self.index_status = IndexStatus()
        self.failed_button = QToolButton(autoRaise=True)
        self.failed_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))
        self.failed_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.failed_button.setToolTip("Show the files that could not be read, and why")
        self.failed_button.hide()
        self.zoom = QSlider(Qt.Orientation.Horizontal, minimum=THUMB_MIN, maximum=THUMB_MAX, singleStep=16,
                            pageStep=32, maximumWidth=140)
        self.zoom.setToolTip("Thumbnail size (Ctrl+wheel over the photos)")
        bar.addWidget(self.count_label)
        bar.addWidget(self.note_label, 1)
        bar.addPermanentWidget(self.index_status)
        bar.addPermanentWidget(self.failed_button)
        bar.addPermanentWidget(self.zoom)

    def _build_actions(self) -> None:
        st = self.style()

        def act(text: str, slot, shortcut=None, icon=None, tip: str = "", svg: str = "") -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            if svg:
                a.setIcon(icons.icon(svg, icon))
            elif icon is not None:
                a.setIcon(st.standardIcon(icon))
            if tip:
                a.setStatusTip(tip)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        S = QStyle.StandardPixmap
        self.open_action = act("&Open Folder…", self.choose_folder, QKeySequence.StandardKey.Open, S.SP_DirOpenIcon,
                               "Open a folder of photos", svg="folder-open")
        self.export_action = act("&Export…", lambda: self.export(), "Ctrl+E", S.SP_DialogSaveButton,
                                 "Copy or link photos into a folder", svg="export")
        self.settings_action = act("&Settings…", self.show_settings, QKeySequence.StandardKey.Preferences,
                                   S.SP_FileDialogDetailedView, "Model, device, library location", svg="settings")
        self.quit_action = act("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.find_action = act("&Find", self._focus_search, QKeySequence.StandardKey.Find)
        self.select_all_action = act("Select &All", lambda: self.view.selectAll(), QKeySequence.StandardKey.SelectAll)
        self.zoom_in_action = act("Zoom &In", lambda: self.set_zoom(self.zoom.value() + 32),
                                  QKeySequence.StandardKey.ZoomIn)
        self.zoom_out_action = act("Zoom &Out", lambda: self.set_zoom(self.zoom.value() - 32),
                                   QKeySequence.StandardKey.ZoomOut)
        self.side_action = act("Side &Panel", self._toggle_side, "F9")
        self.side_action.setCheckable(True)
        self.side_action.setChecked(self.settings.side_panel)
        self.view_action = act("&Open Photo", lambda: self.open_viewer(self._current_row()), None)
        self.similar_action = act("Find &Similar", lambda: self.find_similar(self._current_row()), "Ctrl+Shift+F")
        self.shared_action = act("Find Photos Sharing &Objects", lambda: self.find_shared(self._current_row()),
                                 "Ctrl+Alt+F", tip="Photos that hold the same things, even in another scene "
                                                    "(needs regional vectors: Settings)")
        self.reveal_action = act("Show in File &Manager", lambda: self._reveal(self._current_row()), None)
        self.default_app_action = act("Open with &Default App", lambda: self._open_default(self._current_row()))
        self.copy_path_action = act("&Copy Path", self._copy_paths, "Ctrl+Shift+C")
        self.index_action = act("&Index Now", self.start_indexing, "F5", S.SP_BrowserReload,
                                "Index new and changed photos", svg="index")
        self.pause_action = act("&Pause Indexing", lambda: self.index_status.pause.toggle())
        self.stop_action = act("&Stop Indexing", self.cancel_indexing)
        self.failed_action = act("Files That Could &Not Be Read…", self.show_failed_files)
        self.about_action = act("&About clipgallery", self._about)
        self.shortcuts_action = act("&Keyboard Shortcuts", self.show_shortcuts, "F1")
        self.shortcuts_action.setShortcuts([QKeySequence("F1"), QKeySequence("?")])

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(self.open_action)
        self.recent_menu = m.addMenu("Open &Recent")
        m.addSeparator()
        m.addAction(self.export_action)
        m.addSeparator()
        m.addAction(self.settings_action)
        m.addSeparator()
        m.addAction(self.quit_action)
        m = mb.addMenu("&Edit")
        m.addAction(self.find_action)
        m.addAction(self.select_all_action)
        m.addAction(self.copy_path_action)
        m = mb.addMenu("&View")
        m.addAction(self.zoom_in_action)
        m.addAction(self.zoom_out_action)
        m.addSeparator()
        m.addAction(self.side_action)
        m = mb.addMenu("&Photo")
        for a in (self.view_action, self.similar_action, self.shared_action, self.reveal_action,
                  self.default_app_action):
            m.addAction(a)
        m = mb.addMenu("&Library")
        for a in (self.index_action, self.pause_action, self.stop_action):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.failed_action)
        help_menu = mb.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)
        self._fill_recent_menu()
        tb = self.addToolBar("Main")
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.addAction(self.open_action)
        tb.addAction(self.index_action)
        tb.addAction(self.export_action)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        tb.addAction(self.settings_action)
        self._enable_folder_actions(False)

    def _connect(self) -> None:
        self.search_bar.changed.connect(self.refresh)
        self.search_bar.image_dropped.connect(self.find_similar_to_file)
        self.search_bar.draw_query_requested.connect(self.draw_query)
        self.search_bar.sort.currentIndexChanged.connect(lambda _: self._remember_search_prefs())
        self.search_bar.threshold.valueChanged.connect(lambda _: self._remember_search_prefs())
        self.search_bar.auto.toggled.connect(lambda _: self._remember_search_prefs())
        self.count_label.linkActivated.connect(self._count_link)
        self.search_bar.field.returnPressed.connect(self.search_bar.search_now)
        self.view.activated.connect(lambda index: self.open_viewer(index.row()))
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.zoom_requested.connect(self.set_zoom)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_count())
        self.zoom.valueChanged.connect(self.set_zoom)
        self.failed_button.clicked.connect(self.show_failed_files)
        self.welcome.open_requested.connect(self.choose_folder)
        self.welcome.folder_chosen.connect(self.open_folder)
        self.indexer.status.connect(self.index_status.label.setText)
        self.indexer.progress.connect(self.index_status.update_progress)
        self.indexer.progress.connect(self._indexing_progress)
        self.indexer.download.connect(self.index_status.update_download)
        self.indexer.model_ready.connect(self._model_ready)
        self.indexer.finished.connect(self._indexing_done)
        self.indexer.failed.connect(self._indexing_error)
        self.indexer.running_changed.connect(self._indexing_running)
        self.index_status.pause_toggled.connect(self.indexer.set_paused)
        self.index_status.cancel_clicked.connect(self.cancel_indexing)
        self.settings.changed.connect(self._setting_changed)
        self._mark_keys()

    # -- marks: stars and favourites from the keyboard, badges (the Albums panel does the writing) --

    def _mark_keys(self) -> None:
        """0-5 rate the selection, "." makes it favourite (again: not), while the grid has the focus."""
        albums = self.side_panel.albums

        def mark(key: int) -> None:
            if key < 0:
                albums.toggle_favourite(self.selected_photos())
            else:
                albums.rate(self.selected_photos(), key)

        self.view.mark_requested.connect(mark)

    def _organized(self, organized: Any) -> None:
        self.model.set_marks(organized.marks)
        self.search_bar.set_albums(organized.albums)
        if self.search_bar.mark_filtered():
            self.refresh()

    # -- opening a folder -------------------------------------------------------------------------

    def choose_folder(self) -> None:
        start = str(self.library.root) if self.library else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of photos", start)
        if folder:
            self.open_folder(Path(folder))

    def open_folder(self, folder: Path | str) -> None:
        """Show the folder's photos at once (library, else a scan) and index it in the background."""
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            self._show_open_error(f"Cannot open {folder}: it {what}.")
            return
        self.close_folder()
        folder = folder.resolve()
        lib_dir = self._library_dir if self._library_dir_for and folder == self._library_dir_for.resolve() \
            else self.settings.library_dir_for(folder)
        self.count_label.setText(f"Opening {folder}…")
        # The model loads while the library lists its photos (seconds at a million): a search typed
        # as soon as the grid shows waits only for what is left of the load.
        self.facade.warm(self.settings.model, self.settings.device)
        self.jobs.submit(self._open_in_worker, folder, lib_dir, on_done=self._opened,
                         on_error=lambda m: self._show_open_error(f"Cannot open {folder}: {m}"))

    def _open_in_worker(self, folder: Path, lib_dir: Path | None) -> tuple[Any, FolderListing]:
        lib = self.facade.open(folder, lib_dir)
        return lib, self.facade.listing(lib)

    def _opened(self, result: tuple[Any, FolderListing]) -> None:
        lib, listing = result
        self.library, self.listing = lib, listing
        self.loader.set_cache_dir(lib.dir / "thumbnails")
        self.search_bar.sketch_dir = lib.dir / "sketches"
        self.settings.add_recent_folder(lib.root)
        self._fill_recent_menu()
        self.setWindowTitle(f"{lib.root.name} – clipgallery")
        self.pages.setCurrentIndex(1)
        self.search_bar.set_folders(listing.folders)
        self._enable_folder_actions(True)
        self.banner.hide()
        self.side_panel.folder_opened(lib)
        self.refresh()
        self._refresh_failed()
        # New photos are not in the library yet: a walk shows them before indexing reaches them.
        self.scans.submit(self.facade.scan_listing, lib.root, lib.dir,
                          on_done=lambda found, lib=lib: self._merge_scan(lib, found))
        self.folder_opened.emit(lib.root)
        self.start_indexing()
        self.folder_watch.set_folder(lib)  # new, changed, moved, deleted photos: indexed as they come

    def _merge_scan(self, lib: Any, found: FolderListing) -> None:
        if lib is not self.library:
            return
        self._scanned = found
        new = self._not_listed(self.listing.photos, found.photos)
        if not new:
            return
        self.listing = FolderListing(self.listing.photos + new,
                                     sorted(set(self.listing.folders) | set(found.folders), key=str.lower))
        self.search_bar.set_folders(self.listing.folders)
        self.side_panel.folders.reload()
        if not self.search_bar.searching():
            self.refresh()

    @staticmethod
    def _not_listed(listing: Any, found: Any) -> list:
        """The photos of `found` that the listing lacks (asked of the library for a PhotoColumns
        listing, rather than walking a million rows)."""
        if not found:
            return []
        if isinstance(listing, PhotoColumns):
            known = listing.has_paths(p.path for p in found)
        else:
            known = {p.path for p in listing}
        return [p for p in found if p.path not in known]

    def close_folder(self) -> None:
        """Stop everything about the open folder (indexing commits what it has)."""
        self.folder_watch.set_folder(None)
        self.indexer.stop()
        self.jobs.forget()  # results of jobs still running are dropped, so nothing waits for them
        self.scans.forget()
        self._search_busy = self._search_again = False
        self._seq += 1
        self.side_panel.folder_closed()
        if self._viewer is not None:
            self._viewer.close()
        if self.library is not None:
            self.facade.close(self.library)  # its background index build stops with it
        self.search_bar.reset()  # the next folder starts with its own photos, not this folder's search
        self.library = None
        self.listing = FolderListing([], [])
        self._scanned = None
        self.banner.hide()
        self.model.set_photos([])
        self.loader.set_cache_dir(None)
        self.search_bar.sketch_dir = None
        self.failed_button.hide()
        self.index_status.hide()

    def _show_open_error(self, message: str) -> None:
        self.count_label.setText("")
        self.banner.show_message("error", message, ("Open another folder…", self.choose_folder))
        self.open_failed.emit(message)

    # -- indexing ---------------------------------------------------------------------------------

    def start_indexing(self) -> None:
        if self.library is None:
            return
        self.index_status.started("Preparing to index…")
        self.indexer.start(self.library, self.settings.model, self.settings.device, self.settings.batch_size)

    def cancel_indexing(self) -> None:
        if self.indexer.running:
            self.index_status.stopping()
            self.indexer.cancel()

    def _indexing_running(self, running: bool) -> None:
        self.index_action.setEnabled(not running and self.library is not None)
        self.pause_action.setEnabled(running)
        self.stop_action.setEnabled(running)

    def _model_ready(self, spec: str, device: str) -> None:
        self.index_status.label.setText(f"Looking for new photos… (model {spec} on {device})")

    def _indexing_progress(self, p: Any) -> None:
        """A search made while indexing runs again now and then, so new matches show up."""
        if p.phase != "indexing" or not p.done or not self.search_bar.searching():
            return
        now = time.monotonic()
        if now - self._last_live_refresh >= LIVE_REFRESH_S:
            self._last_live_refresh = now
            self.refresh()

    def _indexing_done(self, report: Any) -> None:
        self._last_report = report
        if report is None:
            self.index_status.finished("Indexing stopped before it began")
            self.index_status.setToolTip("")
        elif report.cancelled:
            self.index_status.finished(f"Indexing stopped ({report.indexed + report.reused:,} done this time)")
            self.index_status.setToolTip("It goes on where it stopped when you open this folder again "
                                         "(or press F5). Nothing indexed so far is lost.")
        else:
            self.index_status.finished(f"Up to date · {report.model}")
            self._scanned = None  # every photo the walk found is indexed or failed now; deleted ones stay out
            self.index_status.setToolTip(_report_text(report))
            if (report.indexed or report.reused or report.removed) and self.loader.cache_dir is not None:
                self.jobs.submit(self._prune_thumbnails, self.library, self.loader.cache_dir)
        self._refresh_failed()
        self._reload_listing()
        self.indexing_finished.emit(report)

    def _prune_thumbnails(self, lib, cache_dir: Path) -> int:
        """Runs in a worker: drop the cached thumbnails of photos deleted, moved or changed."""
        from .thumbnails import prune_cache

        return prune_cache(cache_dir, self.facade.thumbnail_keys(lib))

    def _indexing_error(self, message: str) -> None:
        self.index_status.finished("Not indexed")
        self.index_status.setToolTip(message)
        self.banner.show_message("error", f"Indexing could not run: {message}",
                                 ("Settings…", self.show_settings))
        self.indexing_failed.emit(message)

    def _reload_listing(self) -> None:
        lib = self.library
        if lib is None:
            return
        self.jobs.submit(self.facade.listing, lib, on_done=lambda listing: self._listing_reloaded(lib, listing))

    def _listing_reloaded(self, lib: Any, listing: FolderListing) -> None:
        if lib is not self.library:
            return
        if self._scanned is not None:
            # Photos the walk found that indexing has not reached (it was stopped, or they failed)
            # stay in view: the grid shows the folder, not just what is indexed.
            failed = {str(path) for path, _ in getattr(self, "failed_files", [])}
            rest = [p for p in self._not_listed(listing.photos, self._scanned.photos) if p.path not in failed]
            if rest:
                listing = FolderListing(listing.photos + rest,
                                        sorted(set(listing.folders) | set(self._scanned.folders), key=str.lower))
        self.listing = listing
        self.search_bar.set_folders(listing.folders)
        self.side_panel.library_changed()
        self.refresh()

    def _refresh_failed(self) -> None:
        lib = self.library
        if lib is not None:
            self.jobs.submit(self.facade.failed_files, lib, on_done=lambda f: self._show_failed_count(lib, f))

    def _show_failed_count(self, lib: Any, failed: list) -> None:
        if lib is not self.library:
            return
        self.failed_files = failed
        n = len(failed)
        self.failed_button.setText(f"{n:,} file{'s' if n != 1 else ''} could not be read")
        self.failed_button.setMinimumWidth(self.failed_button.sizeHint().width())  # never cut short
        self.failed_button.setVisible(n > 0)

    def show_failed_files(self) -> FailedFilesDialog | None:
        if self.library is None:
            return None
        dialog = FailedFilesDialog(self.library.root, getattr(self, "failed_files", []), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    # -- searching and browsing ------------------------------------------------------------------

    def refresh(self) -> None:
        """Show what the search bar asks for: a text query, similar photos, or the (filtered) folder."""
        if self.library is None:
            return
        if self._search_busy:
            self._search_again = True  # one search at a time; the latest request runs next
            return
        self._seq += 1
        seq, lib, bar = self._seq, self.library, self.search_bar
        options = bar.options()
        preferred, device = self.settings.model, self.settings.device
        if bar.similar is not None:
            fn, args = self._similar_in_worker, (lib, preferred, device, bar.similar, options, *bar.similar_how)
        elif bar.text:
            fn, args = self._search_in_worker, (lib, preferred, device, bar.text, options)
        else:
            fn, args = self._browse_in_worker, (lib, self.listing.photos, options)
        if fn is not self._browse_in_worker and not self.facade.is_loaded(preferred, device):
            self.count_label.setText("Loading the model for the first search…")
        self._search_busy = True
        self.jobs.submit(fn, *args, on_done=lambda r: self._results(seq, r),
                         on_error=lambda m: self._search_error(seq, m))

    def _search_in_worker(self, lib, preferred, device, text, options) -> tuple[Results, str]:
        spec = self.facade.search_spec(lib, preferred)
        return self.facade.search(lib, spec, device, text, options), spec

    def _similar_in_worker(self, lib, preferred, device, image, options, regional=False,
                           box=None) -> tuple[Results, str]:
        spec = self.facade.search_spec(lib, preferred)
        return self.facade.similar(lib, spec, device, image, options, regional, box), spec

    def _browse_in_worker(self, lib, photos, options) -> tuple[Results, None]:
        return self.facade.browse(lib, photos, options), None

    def _results(self, seq: int, result: tuple[Results, str | None]) -> None:
        self._search_busy = False
        if self._search_again:
            self._search_again = False
            self.refresh()
            return
        if seq != self._seq:
            return
        results, spec = result
        photos = results.photos
        self.search_spec = spec or self.search_spec
        self.search_bar.show_error("")
        self.view.delegate.show_scores = self.search_bar.searching()
        if self.search_bar.searching() and photos and photos[0].score is not None:
            self.search_bar.fit_threshold_range(max(p.score for p in photos if p.score is not None))
        request = self._request_key()
        self.view.set_timeline(request[-1].sort in TIMELINE_SORTS)  # photos by date: months and days
        if photos != self.model.photos:  # a refresh that changes nothing keeps the scroll and the selection
            self.model.set_photos(photos)
            if request != self._shown_request:
                self.view.scrollToTop()
        self._shown_request = request
        self._update_count()
        if results.notices:
            self.notify(results.notices[-1])  # the status bar holds one line: the latest word
        self.results_shown.emit(len(photos))

    def _request_key(self) -> tuple:
        bar = self.search_bar
        return (bar.text, bar.similar, bar.similar_how, bar.options())

    def _search_error(self, seq: int, message: str) -> None:
        self._search_busy = False
        if self._search_again:
            self._search_again = False
            self.refresh()
            return
        if seq != self._seq:
            return
        self.search_bar.show_error(message)
        self.model.set_photos([])  # never the previous search's photos under a new query's error
        self._shown_request = None
        self.count_label.setText("No results: the search could not run")
        self.search_failed.emit(message)

    def _update_count(self) -> None:
        n, total = self.model.rowCount(), len(self.listing.photos)  # PhotoColumns: len without rows
        bar = self.search_bar
        if self.library is None:
            text = ""
        elif bar.similar is not None:
            regional, box = bar.similar_how
            text = f"{n:,} photos, " + ("most alike first" if not regional else "best match for the boxed part first"
                                        if box else "most shared objects first")
        elif bar.text:
            text = f"{n:,} photo{'s' if n != 1 else ''} match “{html.escape(bar.text)}”"
        elif n != total:
            text = f"{n:,} of {total:,} photos"
        else:
            text = f"{n:,} photos"
        if bar.searching() and n >= RESULT_LIMIT:
            text = f"Best {text}"
        selected = sum(r.height() for r in self.view.selectionModel().selection())  # no index objects
        if selected:
            text += f" · {selected:,} selected"
        if bar.restrict_label:
            text += f" · only {html.escape(bar.restrict_label)}"
        if bar.text and bar.similar is None and self.library is not None:
            text += (" · <a href='all'>Show all</a>" if bar.threshold_value() == AUTO
                     else " · <a href='best'>Best matches only</a>")
        self.count_label.setText(text)

    def find_similar(self, row: int) -> None:
        """Photos that look like the photo at `row`, most similar first."""
        if not 0 <= row < self.model.rowCount():
            return
        p = self.model.photo(row)
        self.search_bar.set_similar(p.file_id if p.file_id is not None else Path(p.path), os.path.basename(p.path))

    def find_shared(self, row: int, box: tuple[float, float, float, float] | None = None) -> None:
        """Photos that share objects with the photo at `row` (or hold the object inside `box`)."""
        if not 0 <= row < self.model.rowCount():
            return
        self.find_shared_with(self.model.photo(row), box)

    def find_shared_with(self, p: Photo, box: tuple[float, float, float, float] | None = None) -> None:
        image = p.file_id if p.file_id is not None and box is None else Path(p.path)
        self.search_bar.set_similar(image, os.path.basename(p.path), regional=True, box=box)
        self.raise_()
        self.activateWindow()

    def find_similar_to_file(self, path: Path) -> None:
        """Photos that look like any image file (dropped on the search bar)."""
        if self.library is None:
            return
        self.search_bar.set_similar(Path(path), Path(path).name)

    def photos_removed(self, paths: list[str]) -> None:
        """Photos moved to the Trash (the Duplicates tab): out of the folder's listing and the grid."""
        gone = set(paths)
        self.listing = FolderListing([p for p in self.listing.photos if p.path not in gone], self.listing.folders)
        if self._scanned is not None:
            self._scanned = FolderListing([p for p in self._scanned.photos if p.path not in gone],
                                          self._scanned.folders)
        self.refresh()

    def show_photos(self, file_ids: frozenset[int] | None, label: str) -> None:
        """Narrow the grid to these photos (a tag, a group); None shows all again."""
        self.search_bar.set_restrict(file_ids, label)

    def _remember_search_prefs(self) -> None:
        bar = self.search_bar
        self.settings.sort = bar.sort.currentData()
        self.settings.best_matches = bar.auto.isChecked()
        self.settings.threshold = round(bar.threshold.value() * THRESHOLD_STEP, 6)

    def _count_link(self, link: str) -> None:
        if link == "all":
            self.search_bar.show_all()
        elif link == "best":
            self.search_bar.show_best_matches()

    def _focus_search(self) -> None:
        self.search_bar.field.setFocus()
        self.search_bar.field.selectAll()

    # -- photos -----------------------------------------------------------------------------------

    def _current_row(self) -> int:
        index = self.view.currentIndex()
        return index.row() if index.isValid() else -1

    def selected_photos(self) -> list[Photo]:
        rows = sorted({r for rng in self.view.selectionModel().selection() for r in range(rng.top(), rng.bottom() + 1)})
        return [self.model.photo(r) for r in rows]

    def context_menu(self, row: int) -> QMenu:
        """The menu of a photo (and of the selection it belongs to)."""
        menu = QMenu(self)
        p = self.model.photo(row)
        menu.addAction("Open", lambda: self.open_viewer(row))
        menu.addAction("Find similar", lambda: self.find_similar(row))
        menu.addAction("Find photos sharing objects", lambda: self.find_shared(row))
        menu.addSeparator()
        menu.addAction("Show in file manager", lambda: show_in_file_manager(Path(p.path)))
        menu.addAction("Open with default app", lambda: open_with_default_app(Path(p.path)))
        menu.addAction("Copy path", lambda: QGuiApplication.clipboard().setText(p.path))
        menu.addSeparator()
        n = sum(r.height() for r in self.view.selectionModel().selection())
        menu.addAction(f"Export {n} selected…" if n > 1 else "Export this photo…",
                       lambda: self.export("selection" if n > 1 else "photo", row=row))
        self.side_panel.extend_context_menu(menu, row)
        return menu

    def _context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        if not self.view.selectionModel().isSelected(index):
            self.view.setCurrentIndex(index)
        self.context_menu(index.row()).exec(self.view.viewport().mapToGlobal(pos))

    def draw_query(self, text: str) -> Any:
        """"Draw my query": the model draws the query's words (CLIPDraw), to show what it reads into them."""
        from .draw_dialog import DrawDialog

        spec = self.search_spec or self.settings.model
        words = " ".join(w for w in text.split() if not w.startswith(("+", "-", '"')) and "/" not in w)
        dialog = DrawDialog(self.facade, spec, self.settings.device, words, "Draw my query", self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        if words:
            dialog.start()
        return dialog

    def open_viewer(self, row: int) -> PhotoViewer | None:
        if not 0 <= row < self.model.rowCount() or self.library is None:
            return None
        if self._viewer is not None:
            self._viewer.close()
        self.facade.preferred_model = self.search_spec or self.settings.model
        viewer = PhotoViewer(self.facade, self.library, self.model.photos, row, self,
                             settings=self.settings)  # immutable: no copy
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.current_changed.connect(lambda r: self.view.setCurrentIndex(self.model.index(r)))
        viewer.find_shared.connect(self.find_shared_with)
        viewer.marks_changed.connect(self.side_panel.albums.reload)
        viewer.marks_changed.connect(self.side_panel.tags.reload)
        if self.search_bar.similar is None and self.search_bar.text:  # "Why this result" explains a text search
            viewer.set_query(self.search_bar.text, self.search_spec, self.settings.device)
        viewer.destroyed.connect(lambda *_: setattr(self, "_viewer", None))
        self._viewer = viewer
        viewer.show()
        return viewer

    def _reveal(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            path = Path(self.model.photo(row).path)
            if not show_in_file_manager(path):
                self.notify(f"No file manager could be opened here; the photo is {path}", 15000)

    def _open_default(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            path = Path(self.model.photo(row).path)
            if not open_with_default_app(path):
                self.notify(f"No application could open {path.name}", 15000)

    def _copy_paths(self) -> None:
        paths = [p.path for p in self.selected_photos()]
        if paths:
            QGuiApplication.clipboard().setText("\n".join(paths))

    def export(self, what: str | None = None, row: int = -1) -> ExportDialog | None:
        """Open the export dialog with `what` chosen: selection, photo, result, groups, group:N, tag:SET/LABEL."""
        if self.library is None:
            return None
        sources = self.export_sources(row)
        if what is None:
            what = "selection" if len(self.selected_photos()) > 1 else "result"
        dialog = ExportDialog(self, sources, what)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def export_sources(self, row: int = -1) -> list[ExportSource]:
        """Everything that can be exported right now, each with a title saying how much it is."""
        facade, out = self.facade, []
        selected = self.selected_photos()
        if row >= 0 and not selected:
            selected = [self.model.photo(row)]
        if len(selected) == 1:
            name = os.path.basename(selected[0].path)
            out.append(ExportSource("photo", f"This photo ({name})",
                                    lambda lib, spec, p=selected: facade.export_photos(p, "export")))
        if len(selected) > 1:
            out.append(ExportSource("selection", f"The {len(selected):,} selected photos",
                                    lambda lib, spec, p=selected: facade.export_photos(p, "selection")))
        shown = self.model.photos  # never changed in place (set_photos replaces it): no copy of a million
        label = self._result_label()
        out.append(ExportSource("result", f"The photos shown ({len(shown):,}: {label})",
                                lambda lib, spec: facade.export_photos(shown, label)))
        return out + self.side_panel.export_sources()  # the panels offer their groups and tags

    def _result_label(self) -> str:
        bar = self.search_bar
        if bar.similar is not None:
            return bar.similar_chip.text()
        if bar.text:
            return bar.text
        return bar.restrict_label.split(": ", 1)[-1] if bar.restrict_label else self.library.root.name

    # -- view -------------------------------------------------------------------------------------

    def set_zoom(self, px: int) -> None:
        px = max(THUMB_MIN, min(THUMB_MAX, int(px)))
        if self.zoom.value() != px:
            self.zoom.blockSignals(True)
            self.zoom.setValue(px)
            self.zoom.blockSignals(False)
        if self.view.delegate.size == px and self.loader.display_size == _device_px(self, px):
            return
        self.view.set_thumbnail_size(px)
        self.loader.set_display_size(_device_px(self, px))
        self.settings.thumbnail_size = px

    def _toggle_side(self, on: bool) -> None:
        self.side_panel.setVisible(on)
        self.settings.side_panel = on

    def _enable_folder_actions(self, on: bool) -> None:
        for a in (self.export_action, self.index_action, self.similar_action, self.view_action,
                  self.reveal_action, self.default_app_action, self.failed_action):
            a.setEnabled(on)
        # Shared objects need region vectors: only offered where the folder's setting is on.
        self.shared_action.setEnabled(on and self.library is not None and self.facade.regional(self.library))
        self.pause_action.setEnabled(False)
        self.stop_action.setEnabled(False)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_folders()
        for folder in recent:
            self.recent_menu.addAction(str(folder), lambda f=folder: self.open_folder(f))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Menu", self._clear_recent)
        self.recent_menu.setEnabled(bool(recent))
        self.welcome.fill_recent()

    def _clear_recent(self) -> None:
        self.settings.clear_recent_folders()
        self._fill_recent_menu()

    # -- settings ---------------------------------------------------------------------------------

    def show_settings(self) -> SettingsDialog:
        regional = self.facade.regional(self.library) if self.library is not None else None
        text = self.facade.text_reading(self.library) if self.library is not None else None
        from . import faces_facade

        installed = faces_facade.available()  # a lookup of two packages, no import
        faces = self.side_panel.people.enabled if self.library is not None and installed else None
        dialog = SettingsDialog(self.settings, self.facade.model_choices(), self, regional=regional, text=text,
                                faces=faces)
        if not installed:
            dialog.faces_note.setText(faces_facade.install_hint()[:1].upper() + faces_facade.install_hint()[1:] + ".")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.regional_changed.connect(self.set_regional)
        dialog.text_changed.connect(self.set_text_reading)
        dialog.faces_changed.connect(self.set_faces)
        dialog.open()
        return dialog

    def set_regional(self, enabled: bool) -> None:
        """Store region vectors for this folder (or stop and drop them); indexing adds what is missing."""
        if self.library is None:
            return
        lib = self.library

        def done(_):
            self.shared_action.setEnabled(enabled and lib is self.library)
            if enabled:
                self.notify("Regional vectors on: indexing adds them to every photo")
                self.start_indexing()
            else:
                self.notify("Regional vectors off: the stored ones were dropped")

        self.jobs.submit(self.facade.set_regional, lib, enabled, on_done=done,
                         on_error=lambda m: self.banner.show_message("error", m))

    def set_text_reading(self, enabled: bool) -> None:
        """Read the text in this folder's photos (indexing does, after the vectors), or stop and delete it."""
        if self.library is None:
            return
        lib = self.library

        def done(_):
            if enabled:
                self.notify("Text in photos on: indexing reads it now")
                self.start_indexing()
            else:
                self.notify("Text in photos off: all the text read was deleted")

        self.jobs.submit(self.facade.set_text_reading, lib, enabled, on_done=done,
                         on_error=lambda m: self.banner.show_message("error", m))

    def set_faces(self, enabled: bool) -> None:
        """Find faces in this folder (indexing adds them), or stop and delete every face and person."""
        if self.library is None:
            return
        from . import faces_facade

        lib = self.library

        def done(_):
            self.side_panel.people.reload()
            if enabled:
                self.notify("Faces on: indexing finds the faces in every photo")
                if not self.indexer.running:
                    self.start_indexing()
            else:
                self.notify("Faces off: every face, person and name of this folder was deleted")
                if self.search_bar.restrict_label.startswith("Person:"):
                    self.show_photos(None, "")

        self.jobs.submit(faces_facade.set_enabled, lib, enabled, on_done=done,
                         on_error=lambda m: self.banner.show_message("error", m))

    def people_changed(self) -> None:
        """A person was named, merged or split: a search by person: must see it."""
        self.refresh()

    def _setting_changed(self, name: str) -> None:
        if name in ("model", "device") and self.library is not None:
            # Vectors are stored per model: the other model's stay, and searches use them until
            # the new model has caught up.
            self.start_indexing()
        elif name == "thumbnail_size":
            self.set_zoom(self.settings.thumbnail_size)
        elif name == "library_location" and self.library is not None:
            self.open_folder(self.library.root)

    # -- errors -----------------------------------------------------------------------------------

    def _job_error(self, message: str, details: str) -> None:
        self.banner.show_message("error", message[:1].upper() + message[1:])

    def notify(self, text: str, msecs: int = 8000) -> None:
        """A short note in the status bar about something that just finished."""
        self.note_label.setText(f"  ·  {text}" if text else "")
        self._note_timer.start(msecs)

    def show_shortcuts(self):
        from .shortcuts_dialog import ShortcutsDialog, main_window_sections

        dialog = ShortcutsDialog(main_window_sections(self), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _about(self) -> None:
        from .dialogs.about_dialog import AboutDialog

        AboutDialog(self.settings.model, self.search_spec, self.library, self).open()

    # -- window events ----------------------------------------------------------------------------

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:
        if _dropped_folder(e) is not None:
            e.acceptProposedAction()

    def dragMoveEvent(self, e) -> None:
        if _dropped_folder(e) is not None:
            e.acceptProposedAction()

    def dropEvent(self, e: QDropEvent) -> None:
        folder = _dropped_folder(e)
        if folder is not None:
            e.acceptProposedAction()
            self.open_folder(folder)

    def closeEvent(self, e: QCloseEvent) -> None:
        if self.indexer.running:
            self.index_status.stopping()
            self.count_label.setText("Stopping indexing (what is done is kept)…")
            QGuiApplication.processEvents()
        self.settings.geometry = bytes(self.saveGeometry().data())
        self.folder_watch.shutdown()
        self.indexer.stop()  # cancel, then wait: the batch in flight is committed or dropped whole
        self.facade.close()  # background index builds stop at their next step; none outlives the window
        self.side_panel.shutdown()
        if self._viewer is not None:
            self._viewer.close()
        self.jobs.forget()
        self.scans.forget()
        self.loader.shutdown()
        self.jobs.wait()
        self.scans.wait()
        self.settings.sync()
        super().closeEvent(e)


def _device_px(w: QWidget, px: int) -> int:
    return int(round(px * w.devicePixelRatioF()))


def _dropped_folder(e) -> Path | None:
    md = e.mimeData()
    for url in md.urls() if md.hasUrls() else []:
        if url.isLocalFile() and Path(url.toLocalFile()).is_dir():
            return Path(url.toLocalFile())
    return None


def _report_text(report: Any) -> str:
    parts = [f"{report.indexed:,} indexed"]
    if report.reused:
        parts.append(f"{report.reused:,} moved or copied")
    if report.removed:
        parts.append(f"{report.removed:,} removed")
    if report.failed:
        parts.append(f"{len(report.failed):,} could not be read")
    text = getattr(report, "text", None)  # core.textread's TextReport, when the folder's text is read
    if text is not None and (text.read or text.gated or text.copied or text.failed):
        parts.append(f"text read in {text.read + text.gated + text.copied:,} photos"
                     f" ({text.with_text:,} with text)")
    return f"Up to date ({', '.join(parts)}, {report.unchanged:,} unchanged) in {report.seconds:.1f} s."

