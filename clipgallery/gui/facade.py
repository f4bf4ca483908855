"""The GUI's only door into core: open a folder, list, index, search, tag, group, export.

Every method may block (disk, SQL, model): call them from workers, never from the UI thread.
Modules that pull in torch, open_clip or sklearn are imported inside the methods that need them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.download import DownloadCancelled  # noqa: F401 (re-export)
from ..core.errors import (  # noqa: F401 (re-export)
    ClipGalleryError,
    LibraryError,
    ModelLoadError,
    NothingIndexedError,
    QueryError,
)
from ..core.exif import ExifInfo  # noqa: F401 (re-export: the viewer's EXIF panel)
from ..core.library import FileInfo, Library
from ..core.names import shown  # noqa: F401 (re-export: file names as people see them)
from ..core.relevance import AUTO  # noqa: F401 (re-export: the search bar's default)
from ..core.search import SearchOptions, filter_listing, filter_rows  # noqa: F401 (SearchOptions: re-export)


@dataclass(frozen=True, slots=True)
class Photo:
    """One photo as the gallery shows it."""

    path: str  # absolute
    file_id: int | None  # None until the photo has been indexed
    date: float | None  # taken (EXIF) or modified, POSIX seconds
    score: float | None = None  # relevance of the current search
    text: str | None = None  # the line of text in the photo that matched the search (text in photos)
    # Videos and RAW+JPEG pairs (core.media): a clip's length and the second that matched the search,
    # and the RAW files of the same shot shown with this photo.
    duration: float | None = None
    at: float | None = None
    raw: tuple[str, ...] = ()

    @property
    def is_video(self) -> bool:
        from ..core.formats import VIDEO, kind_of

        return kind_of(self.path) == VIDEO


@dataclass
class Results:
    """What the gallery shows for a request: photos, and what the search had to tell the user."""

    photos: Sequence[Photo]
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PhotoText:
    """A line of text read in a photo: its words, and its outline (4 corners as fractions of the photo)."""

    text: str
    box: tuple[tuple[float, float], ...]


class PhotoColumns(Sequence[Photo]):
    """A library's photos (all, or a filtered and sorted part) as columns: file ids and dates in
    numpy arrays, made into Photo records a page at a time when a row is first asked for (the
    gallery shows a few hundred at once), plus `extra` photos found on disk and not indexed yet.

    A million photos cost 16 MB here instead of a million Python objects. Immutable: filtering
    makes a new one (`take`)."""

    PAGE = 512

    def __init__(self, lib: Library, ids: Any, dates: Any, extra: Sequence[Photo] = (),
                 folder_sizes: dict[str, int] | None = None):
        self.lib, self.ids, self.dates, self.extra = lib, ids, dates, tuple(extra)
        # Photos per folder of the indexed rows, when they are every readable file of the library
        # (a folder's listing, counted by SQLite); None for a filtered part.
        self.folder_sizes = folder_sizes
        self._pages: dict[int, list[Photo]] = {}
        self._rows: dict[str, int] = {}  # path -> row, for the rows made so far
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids) + len(self.extra)

    def __getitem__(self, row: Any) -> Any:
        if isinstance(row, slice):
            return [self[r] for r in range(*row.indices(len(self)))]
        n = len(self.ids)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(row)
        if row >= n:
            return self.extra[row - n]
        page = self._pages.get(row // self.PAGE)
        if page is None:
            page = self._load(row // self.PAGE)
        return page[row % self.PAGE]

    def __iter__(self) -> Iterator[Photo]:
        for row in range(len(self)):
            yield self[row]

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, PhotoColumns):
            return False
        import numpy as np

        return other.lib is self.lib and np.array_equal(self.ids, other.ids) and self.extra == other.extra

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, more: Sequence[Photo]) -> PhotoColumns:
        return PhotoColumns(self.lib, self.ids, self.dates, (*self.extra, *more), self.folder_sizes)

    def take(self, positions: Any, extra: Sequence[Photo] = ()) -> PhotoColumns:
        """The rows at these positions (of the indexed part), in that order, then `extra`."""
        return PhotoColumns(self.lib, self.ids[positions], self.dates[positions], extra)

    def row_of(self, path: str) -> int | None:
        """The row of a photo made so far (the rows shown are; thumbnails only come for those)."""
        row = self._rows.get(path)
        if row is None and self.extra:
            n = len(self.ids)
            row = next((n + i for i, p in enumerate(self.extra) if p.path == path), None)
        return row

    def has_paths(self, paths: Iterable[str]) -> set[str]:
        """Which of these paths (absolute) are indexed rows here (one query, not a walk of every row)."""
        import numpy as np

        paths = list(paths)
        root = str(self.lib.root) + os.sep
        rels = {p[len(root):].replace(os.sep, "/"): p for p in paths if p.startswith(root)}
        ids = self.lib.file_ids(rels)
        present = np.isin(np.fromiter(ids.values(), dtype=np.int64, count=len(ids)), self.ids)
        wanted = set(paths)
        return {rels[r] for r, ok in zip(ids, present) if ok} | {p.path for p in self.extra if p.path in wanted}

    def _load(self, page_no: int) -> list[Photo]:
        """The Photo records of one page: its relpaths, durations and RAW pairs in three queries."""
        lo = page_no * self.PAGE
        ids = [int(i) for i in self.ids[lo:lo + self.PAGE]]
        dates = self.dates[lo:lo + self.PAGE]
        store = self.lib.media
        rels = self.lib.store.files.relpaths_of(ids)
        durations = store.durations(ids)
        raws = store.raws_of(rels.values())
        root = self.lib.root
        page = [Photo(str(root / rels[i]) if i in rels else str(root / f".deleted-{i}"), i,
                      None if d != d else float(d), duration=durations.get(i),
                      raw=tuple(str(root / r) for r in raws.get(rels.get(i, ""), ())))
                for i, d in zip(ids, dates)]
        with self._lock:
            self._pages[page_no] = page
            self._rows.update((p.path, lo + k) for k, p in enumerate(page))
        return page


@dataclass
class FolderListing:
    photos: Sequence[Photo]
    folders: list[str]  # every subfolder relpath that holds photos, sorted
    from_scan: bool = False  # True: the library did not know these yet (not indexed)


@dataclass
class PhotoDetails:
    path: Path
    size: int
    date: float | None
    width: int | None
    height: int | None
    status: str
    error: str | None
    tags: list[tuple[str, str, float]] = field(default_factory=list)  # (label set, label, score)
    duration: float | None = None  # a video's length in seconds
    raw: list[Path] = field(default_factory=list)  # RAW files of the same shot
    stars: int = 0
    favourite: bool = False
    albums: tuple[str, ...] = ()


@dataclass
class Organized:
    """Marks for the grid: file id -> (stars, favourite); albums as (name, photo count)."""

    marks: dict[int, tuple[int, bool]]
    albums: list[tuple[str, int]]


@dataclass
class Why:
    """Why a photo matches a query: its score, the photo with the heatmap over it, the concepts."""

    path: Path
    query: str
    score: float
    overlay: Any  # a PIL image, display-sized
    concepts: list[tuple[str, float]]  # (word, contribution to the score), best first


def resource_path(*parts: str) -> Path | None:
    """A real path to a file shipped in clipgallery/resources (icons, label sets), None if not shipped."""
    from ..core.resources import resource_file

    try:
        return resource_file(*parts)
    except FileNotFoundError:
        return None


def installation() -> dict[str, str]:
    """Where this clipgallery runs from and with what, for the About dialog (imports nothing heavy)."""
    import platform
    import sys
    from importlib.metadata import PackageNotFoundError, version

    from .. import __file__ as package_file
    from ..core.resources import location

    def dist_version(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {"Installed at": str(Path(package_file).parent) + (" (bundle)" if getattr(sys, "frozen", False) else ""),
            "Resources": location(), "Python": platform.python_version(),
            "PySide6": dist_version("PySide6-Essentials") if dist_version("PySide6") == "not installed"
            else dist_version("PySide6"),
            "torch": dist_version("torch"), "open_clip": dist_version("open_clip_torch")}


def default_model() -> str:
    from ..core.models import default_spec

    return default_spec()


def default_library_dir(folder: Path) -> Path:
    """Where core keeps the library of a folder unless told otherwise."""
    from ..core.library import default_library_dir as core_default

    return core_default(folder)


def is_image_file(path: Path) -> bool:
    from ..core.scan import image_extensions

    return Path(path).suffix.lower() in image_extensions()


# A search shows at most this many photos, best first: enough to scroll through, and a library of
# any size answers in milliseconds (ANN) instead of ranking every photo.
RESULT_LIMIT = 2000


class Facade:
    """A small class over Library, Embedder, index_folder, Searcher, tagging, grouping and export.

    Thread-safe: the library gives each thread its own SQLite connection, and a model is loaded
    once per (spec, device) and encodes one batch at a time.
    """

    def __init__(self) -> None:
        self.library: Library | None = None
        self.preferred_model: str | None = None  # the model the user chose (for a photo's tags)
        self._embedders: dict[tuple[str, str], Any] = {}
        self._searchers: dict[tuple[int, str], Any] = {}
        self._listings: dict[int, tuple[Library, int, FolderListing]] = {}  # by library, per generation
        self._load_lock = threading.Lock()
        self._warming: threading.Thread | None = None

    # -- folders ----------------------------------------------------------------------------------

    def open(self, root: Path, library_dir: Path | None = None) -> Library:
        """Open (creating if needed) the library of a folder; LibraryError when it cannot be read."""
        root = Path(root).expanduser()
        if root.is_dir() and not os.access(root, os.R_OK | os.X_OK):
            raise LibraryError(f"cannot read the folder {root}: permission denied")
        lib = Library(root, library_dir, create=True)
        self.library = lib
        return lib

    def close(self, lib: Library | None = None) -> None:
        """Stop the background work of a library's searchers (all libraries when None) and wait for it."""
        with self._load_lock:
            keys = [k for k in self._searchers if lib is None or k[0] == id(lib)]
            searchers = [self._searchers.pop(k) for k in keys]
            for key in [k for k in self._listings if lib is None or k == id(lib)]:
                del self._listings[key]
        for s in searchers:
            s.close()
        warming = self._warming
        if lib is None and warming is not None:
            warming.join()  # the window is closing: no thread outlives it

    def warm(self, spec: str, device: str = "auto") -> None:
        """Start loading a model in a thread of its own, when it needs no download, so the first search
        after opening a folder does not wait for torch to be imported after the folder's listing.
        A model that needs its weights downloaded is left to the index run, which shows the download;
        a model that fails to load is left to it too (it says why)."""
        if (self._warming is not None and self._warming.is_alive()) or self.is_loaded(spec, device):
            return
        self._warming = threading.Thread(target=self._warm, args=(spec, device), name="clipgallery-model-warm")
        self._warming.start()

    def model_at_hand(self, spec: str) -> bool:
        """Whether the model loads without a download (core.models.model_at_hand)."""
        from ..core.models import model_at_hand

        return model_at_hand(spec)

    def _warm(self, spec: str, device: str) -> None:
        try:
            if self.model_at_hand(spec):
                self.embedder(spec, device)
        except Exception:  # noqa: BLE001 - whoever needs the model loads it again and reports the error
            return

    def listing(self, lib: Library) -> FolderListing:
        """The photos the library has indexed, in path order, as columns (PhotoColumns)."""
        gen = lib.generation
        memo = self._listings.get(id(lib))
        if memo is not None and memo[0] is lib and memo[1] == gen:
            return memo[2]  # nothing changed (an index run that found the folder unchanged)
        cached = lib.listing()  # mapped from files beside the library when current (core.vectorcache)
        ids, dates, sizes = cached.ids, cached.dates, cached.folder_sizes  # sizes: the Folders tab's counts
        listing = FolderListing(PhotoColumns(lib, ids, dates, folder_sizes=sizes),
                                _folders(f + "/x" for f in sizes if f))
        if cached.generation == gen:
            self._listings[id(lib)] = (lib, gen, listing)
        return listing

    def folder_counts(self, lib: Library, photos: Sequence[Photo]) -> dict[str, int]:
        """Photos per folder subtree (relpath -> count, "" for all) of a listing. A library's listing
        (PhotoColumns: every readable file it holds) comes with its counts per folder from SQLite, so
        a million photos are never made into Photo records for it; photos found on disk and not
        indexed yet, or a plain list, are counted by their paths. Call it from a worker."""
        root = str(lib.root)
        if isinstance(photos, PhotoColumns) and photos.lib is lib and photos.folder_sizes is not None:
            direct = dict(photos.folder_sizes)
            for folder, n in _direct_counts((p.path for p in photos.extra), root).items():
                direct[folder] = direct.get(folder, 0) + n
        else:
            direct = _direct_counts((p.path for p in photos), root)
        out: dict[str, int] = {}
        for folder, n in direct.items():
            out[""] = out.get("", 0) + n
            parts = folder.split("/") if folder else []
            for i in range(1, len(parts) + 1):
                key = "/".join(parts[:i])
                out[key] = out.get(key, 0) + n
        return out

    def scan_listing(self, root: Path, skip: Path | None = None,
                     on_progress: Callable[[int], None] | None = None) -> FolderListing:
        """The image files of a folder not indexed yet (a walk of the disk)."""
        from ..core.media import pair_raws
        from ..core.scan import walk

        root = Path(root).resolve()
        found = list(walk(root, skip=skip, on_progress=on_progress))
        pairs = pair_raws(f.relpath for f in found)  # shown once, as indexing will
        raws: dict[str, list[str]] = {}
        for raw, still in pairs.items():
            raws.setdefault(still, []).append(str(root / raw))
        found = [f for f in found if f.relpath not in pairs]
        photos = [Photo(str(root / f.relpath), None, f.mtime_ns / 1e9, raw=tuple(raws.get(f.relpath, ())))
                  for f in found]
        return FolderListing(photos, _folders(f.relpath for f in found), from_scan=True)

    def failed_files(self, lib: Library) -> list[tuple[Path, str]]:
        return [(lib.abspath(rel), err or "unknown error") for rel, err in lib.failed_files()]

    def details(self, lib: Library, path: Path) -> PhotoDetails:
        """Everything the viewer's panel shows about one photo."""
        path = Path(path)
        rel = lib.relpath_of(path)
        info: FileInfo | None = None
        if rel is not None:
            ids = lib.file_ids([rel])
            if rel in ids:
                info = lib.files([ids[rel]])[0]
        if info is None:
            st = path.stat()
            return PhotoDetails(path, st.st_size, st.st_mtime, None, None, "not indexed", None)
        tags: list[tuple[str, str, float]] = []
        try:
            spec = self.search_spec(lib, self.preferred_model)
        except LibraryError:
            spec = None  # nothing indexed yet: no tags either
        if spec is not None:
            from ..core.tagging import tags_of

            tags = [(ls, t.label, t.score) for ls, t in tags_of(lib, spec, [info.id]).get(info.id, [])]
        from ..core.organize import marks_of

        m = marks_of(lib, [info.id])[info.id]
        store = lib.media
        duration = store.durations([info.id]).get(info.id)
        raw = [lib.root / r for r in store.raws_of([info.relpath]).get(info.relpath, [])]
        return PhotoDetails(path, info.size, info.date, info.width, info.height, info.status, info.error, tags,
                            duration=duration, raw=raw, stars=m.stars, favourite=m.favourite, albums=m.albums)

    # -- models and indexing ----------------------------------------------------------------------

    def canonical_spec(self, spec: str) -> str:
        """The spec as the library stores it (ModelLoadError for a malformed one); needs no torch."""
        from ..core.models import parse_spec

        return parse_spec(spec).text

    def embedder(self, spec: str, device: str = "auto", download: Callable[[Any], None] | None = None,
                 cancel: threading.Event | None = None) -> Any:
        """The loaded model for a spec (loaded once); ModelLoadError when it cannot be.

        A first run's weights download reports to `download` (core.download.DownloadProgress)
        and stops when `cancel` is set (DownloadCancelled)."""
        key = (self.canonical_spec(spec), device)
        with self._load_lock:
            emb = self._embedders.get(key)
            if emb is None:
                from ..core.embed import Embedder

                # encodes take turns, so index and search share it
                emb = Embedder.load(spec, device, download=download, cancel=cancel)
                self._embedders[key] = emb
            return emb

    def model_choices(self) -> list[tuple[str, str]]:
        """(spec, description): the default model, its bigger siblings and the bundled models."""
        from ..core.models import DEFAULT_MODEL, PREFERRED_TAGS, bundled_models, default_spec

        out = [(default_spec(), "the default model")]
        out += [(f"{arch}:{tag}", "open_clip, downloaded once on first use") for arch, tag in PREFERRED_TAGS.items()]
        out += [(name, e.get("description", "bundled")) for name, e in bundled_models().items()]
        unique = dict(reversed(out))  # the first description of each spec wins
        return [(s, unique[s]) for s in dict.fromkeys(s for s, _ in out)] or [(DEFAULT_MODEL, "")]

    def is_loaded(self, spec: str, device: str = "auto") -> bool:
        try:
            return (self.canonical_spec(spec), device) in self._embedders
        except ClipGalleryError:
            return False

    def index(self, lib: Library, embedder: Any, batch_size: int | None, progress: Callable,
              cancel: threading.Event, pause: threading.Event, spec: str | None = None) -> Any:
        """Bring the library up to date for this model; returns core's IndexReport. `embedder` may
        be a function that gives the model, with its canonical `spec`: it is called only when some
        photo needs encoding (core's index_folder)."""
        from ..core.indexer import index_folder
        from ..core.textread import read_after_index

        report = index_folder(lib, embedder, batch_size=batch_size or None, progress=progress,
                              cancel=cancel, pause=pause, spec=spec)
        # Then the text in the photos, when the folder's setting says so ("Reading text…").
        report = read_after_index(lib, report, progress=progress, cancel=cancel, pause=pause)
        from . import faces_facade

        # People: a separate pass over what is indexed, when this folder's setting is on.
        if not report.cancelled and faces_facade.enabled(lib):
            report.faces = faces_facade.index_faces(lib, progress, cancel, pause)
            report.cancelled = report.faces.cancelled
        return report

    def watch(self, lib: Library, on_change: Callable[[list[str]], None]) -> Any:
        """Start watching the folder of `lib`: `on_change(relpaths)` on the watcher's thread after each
        settled burst of photo changes. Returns core's FolderWatcher (`stop()` ends it). Adding the
        watches walks the folder's tree: call it from a worker."""
        from ..core.watch import FolderWatcher

        return FolderWatcher(lib.root, on_change, skip=lib.dir).start()

    def text_reading(self, lib: Library) -> bool:
        """Whether this folder's photos get their text read (Settings: text in photos)."""
        return lib.text.enabled

    def set_text_reading(self, lib: Library, enabled: bool) -> None:
        """Read the text in this folder's photos (the next index run does), or stop and delete it all."""
        lib.text.set_enabled(enabled)

    def text_lines(self, lib: Library, file_id: int | None) -> list[PhotoText]:
        """The lines of text read in a photo, in reading order (none when it has none or was not read)."""
        if file_id is None:
            return []
        return [PhotoText(ln.text, ln.box) for ln in lib.text.lines(file_id)]

    def search_spec(self, lib: Library, preferred: str | None) -> str:
        """The model to search with (core's rule): the preferred one once it covers as much as any other."""
        try:
            return lib.search_model(self.canonical_spec(preferred) if preferred else None)
        except NothingIndexedError:
            raise NothingIndexedError("no photo has been indexed yet: wait for indexing to finish") from None

    # -- search -----------------------------------------------------------------------------------

    def searcher(self, lib: Library, spec: str, device: str) -> Any:
        from ..core.search import Searcher

        key = (id(lib), spec)
        with self._load_lock:
            s = self._searchers.get(key)
        if s is None:
            s = Searcher(lib, self.embedder(spec, device))
            with self._load_lock:
                self._searchers[key] = s
        return s

    def search(self, lib: Library, spec: str, device: str, query: str, options: SearchOptions) -> Results:
        """The best RESULT_LIMIT photos for a query (the DESIGN query language), best first (or by date)."""
        result = self.searcher(lib, spec, device).search(query, options, k=RESULT_LIMIT)
        return _results(result)

    def similar(self, lib: Library, spec: str, device: str, image: Path | int, options: SearchOptions,
                regional: bool = False, box: tuple[float, float, float, float] | None = None) -> Results:
        """Photos that look like an image (a photo of the library by id, or any image file); with
        `regional`, photos that share its objects (or the object inside `box`) wherever they sit."""
        s = self.searcher(lib, spec, device)
        if regional and not lib.regional:
            raise QueryError("regional vectors are off for this folder: turn them on in Settings "
                             "(the photos are then indexed again, in the background)")
        if regional:
            return _results(s.similar_regional(image, options, box=box, k=RESULT_LIMIT))
        return _results(s.similar(image, options, k=RESULT_LIMIT))

    def explain(self, lib: Library, spec: str, device: str, path: Path, query: str, max_side: int = 1600) -> Why:
        """Why `path` matches `query`: the heatmap laid over a display-sized copy, and the concepts."""
        from ..core.explain import explain_photo, overlay

        result = explain_photo(self.searcher(lib, spec, device), Path(path), query)
        picture = overlay(self.decode_for_display(Path(path), max_side), result.heatmap)
        return Why(Path(path), query, result.score, picture, [(c.word, c.weight) for c in result.concepts])

    def draw(self, spec: str, device: str, text: str, strokes: int, steps: int,
             progress: Callable[[Any], None] | None = None, cancel: threading.Event | None = None,
             size: int = 256) -> tuple[Any, float]:
        """CLIPDraw: (a PIL drawing of `text`, its score); DrawCancelled when `cancel` is set."""
        from ..core.draw import draw

        result = draw(self.embedder(spec, device), text, strokes=strokes, steps=steps, out_size=size,
                      progress=progress, cancel=cancel)
        return result.image, result.score

    def save_new_png(self, image: Any, dest: Path) -> Path:
        """Write a PNG; never overwrites (ImageError)."""
        from ..core.draw import save_new

        return save_new(image, Path(dest))

    def regional(self, lib: Library) -> bool:
        """Whether this library stores region vectors (Settings: regional vectors)."""
        return lib.regional

    def set_regional(self, lib: Library, enabled: bool) -> None:
        """Turn region vectors on or off for this library; the next index run adds them."""
        lib.set_regional(enabled)

    def browse(self, lib: Library, photos: Sequence[Photo], options: SearchOptions) -> Results:
        """The listing narrowed by core's filters (folder, dates, ids); sorted by date or by path."""
        by_date = options.sort in ("date", "oldest")
        if isinstance(photos, PhotoColumns) and options.sort != "name" and not (photos.extra and by_date):
            kept = photos.take(filter_rows(lib, photos.ids, photos.dates, options))
            if photos.extra:  # photos not indexed yet keep their place after the indexed ones
                kept = kept + self.browse(lib, list(photos.extra), options).photos
            return Results(kept)
        root = len(str(lib.root)) + 1
        entries = [(p.path[root:].replace(os.sep, "/"), p.file_id, p.date) for p in photos]
        return Results([Photo(p.path, p.file_id, p.date, duration=p.duration, raw=p.raw)
                        for p in (photos[i] for i in filter_listing(entries, options, lib.root, lib))])

    # -- tags -------------------------------------------------------------------------------------

    def builtin_label_sets(self) -> list[str]:
        from ..core.tagging import builtin_label_sets

        return list(builtin_label_sets())

    def read_label_set(self, path: Path) -> Any:
        """A label-set JSON file, validated (QueryError with the reason when it is not one)."""
        from ..core.tagging import read_label_set_file

        return read_label_set_file(Path(path))

    def tag(self, lib: Library, spec: str, device: str, label_set: str | Path, progress: Callable | None = None,
            cancel: threading.Event | None = None) -> Any:
        """Tag every indexed photo with a label set (a built-in name or a JSON file); core TagReport."""
        from ..core.tagging import load_label_set, tag_library

        ls = load_label_set(label_set, lib, spec)
        return tag_library(lib, self.embedder(spec, device), ls, progress=progress, cancel=cancel)

    def label_summaries(self, lib: Library, spec: str) -> list[Any]:
        from ..core.tagging import label_set_summaries

        return label_set_summaries(lib, spec)

    def files_with_tag(self, lib: Library, spec: str, label: str, label_set: str | None) -> frozenset[int]:
        from ..core.tagging import files_with_tag

        return frozenset(files_with_tag(lib, spec, label, label_set))

    def forget_label_set(self, lib: Library, spec: str, name: str) -> None:
        from ..core.tagging import forget_label_set

        forget_label_set(lib, spec, name)

    def teach(self, lib: Library, spec: str, device: str, name: str, examples: list[Path]) -> Any:
        """A few-shot tag from example photos; core TeachReport."""
        from ..core.tagging import teach

        return teach(lib, spec, name, examples, embedder=lambda: self.embedder(spec, device))

    # -- albums, stars, favourites, hand-made tags (core.organize) ----------------------------------

    def organized(self, lib: Library) -> Organized:
        """What the grid's badges and the filter row need: every photo's marks, the album names."""
        from ..core import organize

        return Organized(organize.all_marks(lib), [(a.name, a.count) for a in organize.albums(lib)])

    def create_album(self, lib: Library, name: str) -> None:
        from ..core import organize

        organize.create_album(lib, name)

    def rename_album(self, lib: Library, old: str, new: str) -> None:
        from ..core import organize

        organize.rename_album(lib, old, new)

    def delete_album(self, lib: Library, name: str) -> None:
        from ..core import organize

        organize.delete_album(lib, name)

    def add_to_album(self, lib: Library, name: str, file_ids: list[int]) -> int:
        from ..core import organize

        return organize.add_to_album(lib, name, file_ids)

    def remove_from_album(self, lib: Library, name: str, file_ids: list[int]) -> int:
        from ..core import organize

        return organize.remove_from_album(lib, name, file_ids)

    def album_photos(self, lib: Library, name: str) -> frozenset[int]:
        from ..core import organize

        return frozenset(organize.album_photos(lib, name))

    def set_stars(self, lib: Library, file_ids: list[int], stars: int) -> None:
        from ..core import organize

        organize.set_stars(lib, file_ids, stars)

    def set_favourite(self, lib: Library, file_ids: list[int], on: bool) -> None:
        from ..core import organize

        organize.set_favourite(lib, file_ids, on)

    def add_tag(self, lib: Library, label: str, file_ids: list[int]) -> None:
        from ..core import organize

        organize.add_tag(lib, label, file_ids)

    def remove_tag(self, lib: Library, label: str, file_ids: list[int]) -> None:
        """Take a tag off photos: hand-made, or a wrong zero-shot one (for good)."""
        from ..core import organize

        organize.remove_tag(lib, label, file_ids)

    def rename_tag(self, lib: Library, old: str, new: str) -> list[int]:
        """Rename a hand-made tag on every photo (into an existing one: they merge); the photos carrying it."""
        from ..core import organize

        return organize.rename_tag(lib, old, new)

    def delete_tag(self, lib: Library, label: str) -> list[int]:
        """Take a hand-made tag off every photo; the photos that carried it."""
        from ..core import organize

        return organize.delete_tag(lib, label)

    def rename_group(self, lib: Library, spec: str, cluster: int, name: str) -> Any:
        """Rename a group of the latest grouping; returns the grouping as it now is."""
        from ..core import organize
        from ..core.grouping import load_grouping

        organize.rename_group(lib, spec, cluster + 1, name)
        return load_grouping(lib, spec)

    def merge_groups(self, lib: Library, spec: str, source: int, target: int) -> Any:
        """Move every photo of group `source` into `target` (clusters of the latest grouping)."""
        from ..core import organize
        from ..core.grouping import load_grouping

        organize.merge_groups(lib, spec, source + 1, target + 1)
        return load_grouping(lib, spec)

    # -- groups and duplicates --------------------------------------------------------------------

    def group(self, lib: Library, spec: str, device: str, k: int | None, progress: Callable | None = None,
              cancel: threading.Event | None = None) -> Any:
        """Group the indexed photos (k=None: automatic) and name the groups; core Grouping."""
        from ..core.grouping import group_library

        return group_library(lib, spec, k=k, embedder=self.embedder(spec, device), progress=progress,
                             cancel=cancel)

    def last_grouping(self, lib: Library, spec: str) -> Any:
        from ..core.grouping import load_grouping

        return load_grouping(lib, spec)

    def duplicates(self, lib: Library, spec: str, threshold: float, progress: Callable | None = None,
                   cancel: threading.Event | None = None) -> Any:
        """Groups of photos that are the same picture (pixels confirmed), each with a suggested keeper,
        and `similar` groups (CLIP only); core DuplicateReport."""
        from ..core.duplicates import find_duplicates

        return find_duplicates(lib, spec, threshold, progress=progress, cancel=cancel)

    def plan_trash(self, lib: Library, groups: list[Any], keep: dict[int, int] | None = None,
                   progress: Callable | None = None, cancel: threading.Event | None = None) -> Any:
        """What moving the extras of these confirmed groups (keep: group index -> file id to keep
        instead of the suggested one) would move; checks everything, moves nothing; core TrashPlan."""
        from ..core.trash import choices, plan_trash

        return plan_trash(lib, choices(groups, keep), progress=progress, cancel=cancel)

    def trash_extras(self, lib: Library, plan: Any, progress: Callable | None = None,
                     cancel: threading.Event | None = None) -> Any:
        """Move a plan's photos to the desktop trash and out of the library; core TrashReport."""
        from ..core.trash import trash_extras

        return trash_extras(lib, plan, progress=progress, cancel=cancel)

    def default_duplicate_threshold(self) -> float:
        from ..core.duplicates import DEFAULT_DUPLICATE_THRESHOLD

        return DEFAULT_DUPLICATE_THRESHOLD

    # -- export -----------------------------------------------------------------------------------

    def export_photos(self, photos: Sequence[Photo], folder: str) -> list[Any]:
        """Photos of the gallery (a selection, a search result) as one export folder."""
        from ..core.export import Selected

        return [Selected(Path(p.path), folder, p.score, p.file_id) for p in photos]

    def export_groups(self, lib: Library, spec: str, clusters: list[int] | None = None,
                      run_id: int | None = None) -> list[Any]:
        """The photos of the stored grouping (some groups, or all), one folder per group."""
        from ..core.export import select_groups

        return select_groups(lib, spec, run_id, clusters)

    def export_tag(self, lib: Library, spec: str, label: str, label_set: str | None) -> list[Any]:
        from ..core.export import select_tag

        return select_tag(lib, spec, label, label_set)

    def export_album(self, lib: Library, name: str) -> list[Any]:
        from ..core.export import select_album

        return select_album(lib, name)

    def plan_export(self, lib: Library, selection: list[Any], dest: Path, mode: str, xmp: bool = False,
                    spec: str | None = None) -> Any:
        """Decide every destination name and check the destination; writes nothing (ExportError if bad).
        With `xmp`, each copy gets a sidecar with its stars, favourite and tags."""
        from ..core.export import plan_export, xmp_for

        return plan_export(selection, dest, lib.root, mode, sidecars=xmp_for(lib, spec, selection) if xmp else None)

    def run_export(self, plan: Any, progress: Callable | None = None, cancel: threading.Event | None = None) -> Any:
        from ..core.export import run_export

        return run_export(plan, progress, cancel)

    def export_modes(self) -> tuple[str, ...]:
        from ..core.export import MODES

        return MODES

    # -- images -----------------------------------------------------------------------------------

    def decode_for_display(self, path: Path, max_side: int, at: float | None = None) -> Any:
        """An upright RGB PIL image no larger than needed for `max_side` pixels (ImageError if bad);
        for a video, its frame at `at` seconds (where a search matched it) or its middle frame."""
        return self.display_image(path, max_side, at)[0]

    def display_image(self, path: Path, max_side: int, at: float | None = None) -> tuple[Any, int, int]:
        """decode_for_display's picture and the photo's own (width, height) as shown, upright: the viewer
        zooms in the photo's pixels while it shows this preview."""
        from PIL import Image

        from ..core.images import decode

        if at is not None:
            from ..core.formats import poster

            clip = poster(Path(path), min_side=max_side, at=at)
            im, width, height = clip.frames[0][1], clip.width, clip.height
        else:
            decoded = decode(Path(path), min_side=max_side)
            im, width, height = decoded.image, decoded.width, decoded.height
        if max(im.size) > max_side:
            im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        return im, width, height

    def decode_full(self, path: Path, at: float | None = None) -> Any:
        """The photo at full resolution, upright (ImageError if bad): what the viewer shows at 1:1. A RAW
        file is demosaiced whole (its embedded preview is usually smaller than the sensor)."""
        from ..core import formats
        from ..core.images import decode, open_regular

        if formats.kind_of(Path(path)) == formats.RAW:
            return formats.decode_raw(open_regular(Path(path)), None, prefer_preview=False, half_size=False).image
        if at is not None:
            from ..core.formats import poster

            return poster(Path(path), min_side=None, at=at).frames[0][1]
        return decode(Path(path), min_side=None).image

    def exif(self, path: Path) -> ExifInfo:
        """Camera, lens, exposure, date and GPS position of a photo (fields it lacks are None)."""
        from ..core.exif import read_exif

        return read_exif(Path(path))

    def thumbnail_keys(self, lib: Library) -> list[tuple[str, int, int]]:
        """(path, size, mtime_ns) of every indexed photo: what the thumbnail cache may keep."""
        return [(str(f.path), f.size, f.mtime_ns) for f in lib.files() if f.status == "ok"]

    def thumbnail(self, path: Path, size: int) -> Any:
        from ..core.images import thumbnail

        return thumbnail(Path(path), size)


def _results(result: Any) -> Results:
    """A core SearchResult as the gallery's photos."""
    return Results([_photo(h) for h in result], list(result.notices))


def _photo(h: Any) -> Photo:
    """A search hit (core.search.Hit) as the gallery shows it, with its text, video and RAW details."""
    return Photo(str(h.path), h.file_id, h.date, float(h.score), h.text, duration=h.duration, at=h.at,
                 raw=tuple(str(p) for p in h.raw))


def _direct_counts(paths: Iterable[str], root: str) -> dict[str, int]:
    """Photos per folder (relpath, "" for the root) from absolute paths: a string split each."""
    direct: dict[str, int] = {}
    cut = len(root.rstrip(os.sep)) + 1
    for p in paths:
        key = os.path.dirname(p[cut:]).replace(os.sep, "/")
        direct[key] = direct.get(key, 0) + 1
    return direct


def _folders(relpaths: Iterable[str]) -> list[str]:
    out: set[str] = set()
    for rel in relpaths:
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return sorted(out, key=str.lower)
