"""Search a library with one model: text and image queries, filters, exact or ANN ranking.

A request is one SearchOptions; the answer is one SearchResult (the hits and what the search had
to tell the user). The query language itself lives in core.query.
"""

from __future__ import annotations

import bisect
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from . import textsearch  # `text:` terms, and the lift a photo's own words give it
from .ann import PROCESS_MIN, AnnParams, LibraryAnn
from .embed import Embedder
from .errors import ImageError, QueryError
from .library import Library
from .organize import MarkFilter, marked_ids
from .query import Query, parse_query
from .relevance import AUTO, adaptive_threshold, background_sample

ANN_BUILDS = ("background", "now", "never")
# Typical photo searches: the text side of the calibration queries that choose the ANN's ef.
CALIBRATION_PROMPTS = (
    "a dog", "a cat", "a beach at sunset", "mountains", "a city street at night", "a birthday party",
    "a wedding", "a baby", "kids playing", "a group of friends", "a selfie", "food on a plate",
    "a birthday cake", "flowers", "a forest", "snow", "a car", "a bicycle", "a boat on a lake",
    "a screenshot", "a document", "a receipt", "a whiteboard", "a concert", "a football match",
    "an old building", "a church", "a bridge", "a sunset", "a rainbow", "fireworks", "a christmas tree",
    "a horse", "a bird", "a garden", "a kitchen", "a living room", "a museum", "a painting",
    "a portrait of a woman", "a portrait of a man", "an elderly couple", "people hiking",
    "a swimming pool", "the sea", "a desert", "a map", "a red circle", "a blue square", "a yellow star",
)
EXACT_BELOW = 20_000  # a full matrix product over fewer vectors takes a few ms: exact and cheap
MIN_ANN_FRACTION = 0.1  # filters keeping less than this go exact (ANN would need a huge k)
MAX_ANN_K = 4096
SORTS = ("score", "date", "oldest", "name")  # best first, newest first, oldest first, by file name


# -- the request and the answer --------------------------------------------------------------------


@dataclass(frozen=True)
class SearchOptions:
    """What a search is narrowed to and how much it returns: one type for the GUI, the CLI and core.

    A new filter is a field here plus its test in `_candidates` (and in `filter_listing` when the
    folder view should honour it too).
    """

    k: int = 50  # at most this many hits
    threshold: float | str | None = None  # only hits scoring at least this; AUTO: where the matches end
    folder: str | None = None  # a subfolder: relative to the root, or absolute inside it
    after: float | None = None  # POSIX seconds, inclusive (when taken, else last modified)
    before: float | None = None  # POSIX seconds, exclusive
    restrict: frozenset[int] | None = None  # only these file ids (a tag, a group)
    sort: str = "score"  # "score" (best first) | "date" (newest first) | "oldest" | "name" (file name)
    exact: bool | None = None  # True: rank every photo; False: ANN even when small; None: decide
    # Hand-made filters (core.organize); all set ones must hold.
    album: str | None = None  # only photos in this album
    min_stars: int | None = None  # only photos with at least this many stars (1-5)
    favourites: bool = False  # only favourites
    tag: str | None = None  # only photos carrying this tag, hand-made or zero-shot (any label set)
    person: str | None = None  # a named person (core.faces): only the photos they are in

    def __post_init__(self) -> None:
        if self.restrict is not None and not isinstance(self.restrict, frozenset):
            object.__setattr__(self, "restrict", frozenset(int(i) for i in self.restrict))

    def check(self) -> None:
        """QueryError with a plain sentence when the options cannot be searched with."""
        k = self.k
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise QueryError(f"the number of results must be a whole number of at least 1, not {k!r}")
        if self.sort not in SORTS:
            raise QueryError(f"unknown sort order '{self.sort}': use score, date (newest first), oldest or name")
        t = self.threshold
        if t is not None and t != AUTO and (isinstance(t, str) or not math.isfinite(float(t))):
            raise QueryError(f"the relevance threshold must be a number or '{AUTO}', not {t!r}")
        if self.after is not None and self.before is not None and self.after >= self.before:
            raise QueryError("the date range is empty: the 'after' date must come before the 'before' date")
        if self.min_stars is not None and (isinstance(self.min_stars, bool) or not isinstance(self.min_stars, int)
                                           or not 0 <= self.min_stars <= 5):
            raise QueryError(f"the minimum stars must be a whole number from 0 to 5, not {self.min_stars!r}")

    def mark_filter(self, model_ids: tuple[int, ...] | None = None) -> MarkFilter:
        return MarkFilter(self.album, self.min_stars, self.favourites, self.tag, model_ids)


@dataclass(frozen=True)
class Hit:
    file_id: int
    path: Path
    score: float
    date: float | None  # when taken (EXIF), else last modified; POSIX seconds
    at: float | None = None  # a video: the second of its frame that matched best (core.media)
    duration: float | None = None  # a video: its length in seconds
    raw: tuple[Path, ...] = ()  # RAW files of the same shot, shown with this photo
    text: str | None = None  # the line of text in the photo that matched the query (core.textsearch)


class SearchResult(list[Hit]):
    """The hits of one search, best first (or newest first): a list, plus what the search had to
    tell the user (`notices`: photos left out, an index being built) and how it ranked (`method`)."""

    def __init__(self, hits: Iterable[Hit] = (), notices: Iterable[str] = (), method: str = ""):
        super().__init__(hits)
        self.notices: list[str] = list(notices)
        self.method = method

    @property
    def hits(self) -> list[Hit]:
        return list(self)


def _options(options: SearchOptions | None, changes: dict[str, Any]) -> SearchOptions:
    o = options if options is not None else SearchOptions()
    if changes:
        o = replace(o, **changes)
    o.check()
    return o


class _VectorCache:
    """A small thread-safe LRU of recent text vectors, keyed by (model, device, text)."""

    def __init__(self, size: int = 512):
        self.size = size
        self._d: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> np.ndarray | None:
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key: tuple[str, str, str], v: np.ndarray) -> None:
        with self._lock:
            self._d[key] = v
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


TEXT_CACHE = _VectorCache()




TEXT_CACHE = _VectorCache()


@dataclass
class _Rows:
    """Photos as filters see them: ids, relpaths and dates, aligned."""

    ids: np.ndarray  # int64 file ids (-1: not indexed)
    relpaths: Sequence[str]
    dates: np.ndarray  # float64 POSIX seconds (NaN: unknown)
    _sorted: tuple[list[str], np.ndarray] | None = field(default=None, repr=False)

    def rows_under(self, folder: str) -> np.ndarray:
        """Rows whose relpath lies in the folder subtree (a prefix range of the sorted paths)."""
        if self._sorted is None:
            order = np.array(sorted(range(len(self.relpaths)), key=self.relpaths.__getitem__), dtype=np.int64)
            self._sorted = ([self.relpaths[i] for i in order], order)
        names, order = self._sorted
        # Every path below "a/b/" sorts between "a/b/" and "a/b0" ('0' follows '/'), so
        # "a/bc/x" (a sibling that merely shares the prefix "a/b") is never included.
        lo = bisect.bisect_left(names, folder + "/")
        hi = bisect.bisect_left(names, folder + "0")
        return order[lo:hi]

    def mask(self, folder: str, options: SearchOptions) -> np.ndarray | None:
        """A boolean mask over rows for a (normalised) folder and the options' dates and ids;
        None when nothing is filtered."""
        mask = None
        if folder:
            mask = np.zeros(len(self.ids), bool)
            mask[self.rows_under(folder)] = True
        after, before = options.after, options.before
        if after is not None or before is not None:
            m = np.ones(len(self.ids), bool)
            if after is not None:
                m &= self.dates >= after
            if before is not None:
                m &= self.dates < before
            mask = m if mask is None else mask & m
        if options.restrict is not None:
            wanted = np.fromiter((int(i) for i in options.restrict), dtype=np.int64)
            m = np.isin(self.ids, wanted)
            mask = m if mask is None else mask & m
        return mask


class _LibraryPaths(Sequence[str]):
    """The relpath of each row, read from SQLite only for the rows asked for (a search's hits): a
    million relpaths as Python strings would cost seconds and hundreds of MB per snapshot."""

    MEMO = 100_000

    def __init__(self, library: Library, ids: np.ndarray):
        self.library, self.ids = library, ids
        self._memo: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, row: Any) -> Any:
        if isinstance(row, slice):
            return [self[r] for r in range(*row.indices(len(self)))]
        fid = int(self.ids[row])
        if fid not in self._memo:
            self.fetch([row])
        return self._memo[fid]  # KeyError: the file left the library since the snapshot

    def fetch(self, rows: Iterable[int]) -> None:
        """Read the relpaths of these rows in one query."""
        todo = [int(self.ids[r]) for r in rows if int(self.ids[r]) not in self._memo]
        if todo:
            if len(self._memo) > self.MEMO:
                self._memo.clear()
            self._memo.update(self.library.store.files.relpaths_of(todo))

    def known(self, row: int) -> bool:
        return int(self.ids[row]) in self._memo


@dataclass
class _Snapshot(_Rows):
    """The library's searchable state at one generation: vectors plus what filters need."""

    generation: int = 0
    mat: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # rows aligned with ids
    library: Library | None = field(default=None, repr=False)

    def row_of(self, file_id: int) -> int | None:
        r = int(np.searchsorted(self.ids, file_id))
        return r if r < len(self.ids) and self.ids[r] == file_id else None

    def rows_under(self, folder: str) -> np.ndarray:
        """Rows in the folder subtree, from SQLite's relpath index (no relpath list in memory)."""
        if self.library is None:
            return super().rows_under(folder)
        fids = self.library.store.files.ids_under(folder)
        if len(self.ids) == 0 or len(fids) == 0:
            return np.zeros(0, np.int64)
        rows = np.minimum(np.searchsorted(self.ids, fids), len(self.ids) - 1)
        return rows[self.ids[rows] == fids]


@dataclass
class _ListedRows(_Rows):
    """The gallery's columns (ids in path order, dates) as filters see them: the folder subtree
    comes from SQLite's relpath index, so no relpath is held for a million rows."""

    library: Library | None = field(default=None, repr=False)

    def rows_under(self, folder: str) -> np.ndarray:
        assert self.library is not None
        return np.flatnonzero(np.isin(self.ids, self.library.store.files.ids_under(folder)))


def relative_folder(folder: str, root: Path) -> str:
    """A subfolder given relative to the root -> its POSIX relpath ("" for the root itself)."""
    parts = PurePosixPath(str(folder).strip().replace("\\", "/")).parts
    if ".." in parts:
        raise QueryError(f"the folder '{folder}' leaves {root}; give a subfolder")
    rel = "/".join(x for x in parts if x not in (".", "/"))
    return "" if rel == "." else rel


def _with_marks(library: Library | None, options: SearchOptions,
                model_ids: tuple[int, ...] | None = None) -> SearchOptions:
    """The options with their hand-made filters (album, stars, favourites, tag) turned into ids."""
    f = options.mark_filter(model_ids)
    if not f.active:
        return options
    if library is None:
        raise QueryError("filtering by album, stars, favourites or tag needs the library")
    ids = marked_ids(library, f)
    assert ids is not None
    return replace(options, restrict=ids if options.restrict is None else options.restrict & ids)


def sort_hits(hits: list[Hit], sort: str) -> list[Hit]:
    """Hits in the options' order: as they are for "score" (best first), else by `sort_key`."""
    if sort == "score":
        return hits
    return sorted(hits, key=lambda h: sort_key(sort, h.date, h.path.as_posix(), h.score))


def filter_listing(entries: Sequence[tuple[str, int | None, float | None]], options: SearchOptions,
                   root: Path, library: Library | None = None) -> list[int]:
    """The positions of the (relpath, file id or None, date or None) entries that the options'
    folder, dates and ids keep: in the given order, or newest first when sorting by date.

    The folder view uses it for photos that are listed rather than searched; the same filters as
    a search apply (an unknown date or id never passes a date or id filter). The hand-made
    filters need `library`."""
    options.check()
    options = _with_marks(library, options)
    rows = _Rows(np.array([-1 if e[1] is None else int(e[1]) for e in entries], dtype=np.int64),
                 [e[0] for e in entries],
                 np.array([np.nan if e[2] is None else float(e[2]) for e in entries], dtype=np.float64))
    folder = relative_folder(options.folder, root) if options.folder else ""
    mask = rows.mask(folder, options)
    keep = list(range(len(entries))) if mask is None else np.flatnonzero(mask).tolist()
    if options.sort != "score":  # "score" keeps the listing's own order (by path)
        keep.sort(key=lambda i: sort_key(options.sort, entries[i][2], entries[i][0]))
    return keep


def sort_key(sort: str, date: float | None, relpath: str, score: float = 0.0) -> tuple:
    """The key that puts photos in a non-score order: "date" newest first, "oldest" oldest first
    (photos of unknown date last in both), "name" by file name in natural order ("IMG_2" before
    "IMG_10", case ignored), then by the rest of the path. Ties: the better score, then the path."""
    if sort == "name":
        return (_natural(PurePosixPath(relpath).name), _natural(relpath), -score)
    if sort == "oldest":
        return (date is None, date or 0.0, -score, relpath)
    return (-(date or 0.0), -score, relpath)  # "date" (an unknown date counts as 1970, as before)


def _natural(name: str) -> tuple:
    """Digits compare as numbers: the odd parts of the split are the runs of digits."""
    parts = _DIGITS.split(name.casefold())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


_DIGITS = re.compile(r"(\d+)")


def filter_rows(library: Library, ids: np.ndarray, dates: np.ndarray, options: SearchOptions) -> np.ndarray:
    """filter_listing over columns (a library's whole listing, Library.listing):
    the positions the options keep, in the given order or newest first, without a Python object
    per photo. The folder filter asks SQLite's relpath index."""
    options.check()
    options = _with_marks(library, options)
    rows = _ListedRows(ids, (), dates, library=library)
    folder = relative_folder(options.folder, library.root) if options.folder else ""
    mask = rows.mask(folder, options)
    pos = np.arange(len(ids)) if mask is None else np.flatnonzero(mask)
    if options.sort == "date":  # newest first, an unknown date counting as 1970 (as sort_key), ties in path order
        pos = pos[np.lexsort((pos, -np.nan_to_num(dates[pos], nan=0.0)))]
    elif options.sort == "oldest":  # oldest first, unknown dates last (as sort_key)
        pos = pos[np.lexsort((pos, np.nan_to_num(dates[pos], nan=np.inf)))]
    elif options.sort == "name":
        raise ValueError("filter_rows has no file names: sort by name through filter_listing")
    return pos


# -- the searcher ----------------------------------------------------------------------------------


class Searcher:
    """Text and image search over one library with one model; safe to call from worker threads."""

    def __init__(self, library: Library, embedder: Embedder, notify: Callable[[str], None] | None = None,
                 ann_build: str = "background"):
        """`ann_build` says what to do when a large library has no ANN index in memory yet:
        "background" loads the saved one (or updates or builds it) in a thread and searches exactly
        over the memory-mapped vectors meanwhile (the GUI), "now" does that before answering,
        "never" searches exactly (a one-shot CLI run: one pass over the mapped matrix is cheaper
        than reading the index, let alone building it).

        Notices go into each SearchResult; `notify` also hears them as they happen (the CLI
        prints them on stderr). A notice said outside any search (a background index build)
        comes with the next result.
        """
        if ann_build not in ANN_BUILDS:
            raise ValueError(f"ann_build must be one of {ANN_BUILDS}")
        self.library = library
        self.embedder = embedder
        self.notify = notify or (lambda message: None)
        self.ann_build = ann_build
        self._builder: threading.Thread | None = None
        self._stop = threading.Event()  # set by close(): a background build ends at its next chunk
        self._snap: _Snapshot | None = None
        self._ann: LibraryAnn | None = None
        self._lock = threading.RLock()
        self._calls = threading.local()  # the notices of the search running on this thread
        self._pending: list[str] = []  # notices said outside any search, for the next result
        self.last_method = ""  # "exact" | "ann" | "regional": how the last ranking was done

    # public API

    def close(self, timeout: float = 10.0) -> None:
        """Stop a background index build and wait for it, and free the index (ending the process
        that holds it, if any): nothing of it runs past this call."""
        self._stop.set()
        builder = self._builder
        if builder is not None and builder.is_alive():
            builder.join(timeout)
        if self._ann is not None:
            self._ann.close()

    def search(self, query: str | Query, options: SearchOptions | None = None, **changes: Any) -> SearchResult:
        """Photos best matching the query (DESIGN query language), filtered, best first or newest first.

        `changes` are SearchOptions fields applied over `options` (k=5, folder="a", ...)."""
        o = _options(options, changes)
        parsed = query if isinstance(query, Query) else parse_query(query, [self.library.root])
        with self._collect() as notes:
            if parsed.people or parsed.not_people:
                o = replace(o, restrict=self._people_restrict(parsed, o.restrict))
                if not any(t.weight > 0 for t in parsed.terms):
                    return self._person_listing(o, notes)  # "person:Anna" alone: her photos, newest first
            if textsearch.wants_text(self, parsed):
                result = textsearch.search(self, parsed, o, notes)
                # Photos found by their text alone get their video and RAW details too (no best second:
                # the text, not a frame, matched).
                return SearchResult(self._media(list(result), None), result.notices, result.method)
            return self._rank(self.query_vector(parsed), o, notes)

    def similar(self, image: Path | int, options: SearchOptions | None = None, **changes: Any) -> SearchResult:
        """Photos that look like an indexed photo (by file id or path) or any image file on disk."""
        o = _options(options, changes)
        with self._collect() as notes:
            return self._rank(self.image_vector(image), o, notes)

    def similar_regional(self, image: Path | int, options: SearchOptions | None = None,
                         box: Sequence[float] | None = None, **changes: Any) -> SearchResult:
        """Photos that contain the parts of an image (core.regions), wherever they sit in the scene.

        `box` (left, top, right, bottom, as fractions of the image) narrows the query to one object
        in it. Needs region vectors in the library (its regional setting); photos indexed before
        the setting was turned on are left out until the next index run, and a notice says so.
        Regional matching is always exact (`options.exact` is ignored).
        """
        o = _options(options, changes)
        from .regions import match_scores

        with self._collect() as notes:
            snap = self._snapshot()
            rids, regions = self.library.regions(self._model_id())
            if len(rids) == 0:
                raise QueryError(
                    f"{self.library.root} has no region vectors for {self.embedder.spec}: turn them on with "
                    f"`clipgallery index {self.library.root} --regional` (in the app: Settings, regional vectors)")
            q = self.image_regions(image, box, expected=regions.shape[1:])
            if len(snap.ids) == 0:
                return SearchResult((), notes, "regional")
            rows = np.searchsorted(snap.ids, rids)
            rows = np.minimum(rows, len(snap.ids) - 1)
            present = snap.ids[rows] == rids  # a file that failed since has regions but no vector
            rows, sel = rows[present], np.flatnonzero(present)
            if len(rows) < len(snap.ids):
                self._say(f"{len(snap.ids) - len(rows)} photos have no region vectors yet and are left out; "
                          "index the folder again to add them")
            mask = self._candidates(snap, o)
            if mask is not None:
                keep = mask[rows]
                rows, sel = rows[keep], sel[keep]
            if len(rows) == 0:
                return SearchResult((), notes, "regional")
            scores = match_scores(q, regions if len(sel) == len(rids) else regions[sel])
            self.last_method = "regional"
            if o.threshold == AUTO:
                o = replace(o, threshold=adaptive_threshold(scores, scores))
            # Region vectors are not in the frames' space: a clip found this way has no best second.
            return SearchResult(self._media(self._hits(snap, rows, scores, o), None), notes, "regional")

    def image_regions(self, image: Path | int, box: Sequence[float] | None = None,
                      expected: tuple[int, ...] | None = None) -> np.ndarray:
        """The region vectors [count, c] of an indexed photo (stored) or of any image file, or of a
        box of either (encoded now; never added to the library)."""
        from .images import decode
        from .regions import check_box, crop_box

        if box is not None:
            try:
                box = check_box(box)
            except ValueError as e:
                raise QueryError(str(e)) from None
        fid = int(image) if isinstance(image, (int, np.integer)) else None
        path = None
        if not isinstance(image, (int, np.integer)):  # a file, not a file id
            path = Path(image).expanduser()
            if not path.exists():
                raise ImageError("file not found", path)
            if path.is_dir():  # anything else that is no photo (a FIFO, a device) the bounded read names
                raise ImageError("is a folder, not a file", path)
            rel = self.library.relpath_of(path)
            fid = self.library.file_ids([rel]).get(rel) if rel is not None else None
        if fid is not None and box is None:
            rids, regions = self.library.regions(self._model_id())
            r = int(np.searchsorted(rids, fid))
            if r < len(rids) and rids[r] == fid:
                return regions[r].astype(np.float32)
        if path is None:
            assert fid is not None  # an int was given
            info = self.library.files([fid])
            if not info:
                raise QueryError(f"photo {fid} is not in the library")
            path = info[0].path
        if not self.embedder.supports_regions:
            raise QueryError(f"{self.embedder.spec} has no spatial features to compare regions with")
        # Enough pixels that the box alone still fills the model's input.
        side = self.embedder.image_size if box is None else \
            math.ceil(self.embedder.image_size / min(box[2] - box[0], box[3] - box[1]))
        picture = decode(path, min_side=side).image
        if box is not None:
            try:
                picture = crop_box(picture, box)
            except ValueError as e:
                raise QueryError(f"{path.name}: {e}") from None
        q = self.embedder.encode_image_regions(picture)
        if expected is not None and q.shape[1:] != tuple(expected[1:]):
            raise QueryError(f"the stored region vectors are {expected[1]}-d but {self.embedder.spec} gives "
                             f"{q.shape[1]}-d ones: index the folder again")
        return q

    def rank_vector(self, vector: np.ndarray, options: SearchOptions | None = None,
                    **changes: Any) -> SearchResult:
        """Photos nearest to a vector already in this model's space (e.g. from query_vector)."""
        o = _options(options, changes)
        v = np.asarray(vector, np.float32).reshape(-1)
        norm = float(np.linalg.norm(v))
        if v.shape[0] != self.embedder.dim or norm < 1e-6:
            raise QueryError(f"a query vector must be a non-zero {self.embedder.dim}-d vector")
        with self._collect() as notes:
            return self._rank(v / norm, o, notes)

    def prepare(self) -> None:
        """Load vectors and bring the ANN index up to date now (for a worker thread, or after indexing)."""
        snap = self._snapshot()
        if len(snap.ids) >= EXACT_BELOW:
            assert self._ann is not None  # made by _snapshot
            self._ann.get(snap.generation, snap.ids, snap.mat, build=True)

    def query_vector(self, query: str | Query) -> np.ndarray:
        """The unit vector a query stands for."""
        parsed = query if isinstance(query, Query) else parse_query(query, [self.library.root])
        texts = [t.value for t in parsed.terms if t.kind == "text"]
        text_vecs = dict(zip(texts, self.text_vectors(texts))) if texts else {}
        v = np.zeros(self.embedder.dim, np.float64)
        for t in parsed.terms:
            if t.kind == "words":
                continue  # matched against the text read in photos (core.textsearch), not in CLIP's space
            u = text_vecs[t.value] if t.kind == "text" else self.image_vector(Path(t.value))
            v += t.weight * u.astype(np.float64)
        norm = float(np.linalg.norm(v))
        if not math.isfinite(norm):
            raise QueryError("the weights of the query are too large to compute with: use smaller ones")
        if norm < 1e-6:
            raise QueryError("the terms of the query cancel each other out: nothing is left to search for")
        return (v / norm).astype(np.float32)

    def text_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of texts, from the LRU cache when they were asked for recently."""
        key = (self.embedder.spec, self.embedder.device)
        out: list[np.ndarray | None] = [TEXT_CACHE.get((*key, t)) for t in texts]
        todo = sorted({t for t, v in zip(texts, out) if v is None})
        if todo:
            fresh = dict(zip(todo, self.embedder.encode_texts(todo)))
            for t, v in fresh.items():
                v.setflags(write=False)
                TEXT_CACHE.put((*key, t), v)
            out = [v if v is not None else fresh[t] for t, v in zip(texts, out)]
        return np.stack([v for v in out if v is not None])

    def image_vector(self, image: Path | int) -> np.ndarray:
        """An indexed photo's stored vector, or a file on disk encoded now (never added to the library)."""
        if isinstance(image, (int, np.integer)):
            snap = self._snapshot()
            row = snap.row_of(int(image))
            if row is None:
                raise QueryError(f"photo {int(image)} is not in the library (or has no vector for "
                                 f"{self.embedder.spec})")
            return snap.mat[row]
        path = Path(image).expanduser()
        if not path.exists():
            raise ImageError("file not found", path)
        rel = self.library.relpath_of(path)
        if rel is not None:
            fid = self.library.file_ids([rel]).get(rel)
            snap = self._snapshot()
            row = snap.row_of(fid) if fid is not None else None
            if row is not None:
                return snap.mat[row]
        return self._encode_file(path)

    # internals

    @contextmanager
    def _collect(self) -> Iterator[list[str]]:
        """Gather the notices of one search (plus those said since the last one) for its result."""
        with self._lock:
            notes, self._pending = self._pending, []
        self._calls.notes = notes
        try:
            yield notes
        finally:
            self._calls.notes = None

    def _say(self, message: str) -> None:
        self.notify(message)
        notes = getattr(self._calls, "notes", None)
        if notes is not None:
            notes.append(message)
        else:
            with self._lock:
                self._pending = [*self._pending[-4:], message]

    def _encode_file(self, path: Path) -> np.ndarray:
        from .images import decode

        try:  # the bounded open says what the path really is (a folder, a FIFO, a device...)
            decoded = decode(path, min_side=self.embedder.image_size)
        except ImageError as e:
            raise ImageError(e.reason, path) from None
        return self.embedder.encode_images([decoded.image])[0]

    def _model_id(self) -> int:
        spec = self.library.search_model(self.embedder.spec, strict=True)  # LibraryError names what was indexed
        mid = self.library.model_id(spec)
        assert mid is not None  # search_model returned a spec with vectors
        dim = self.library.model_dim(mid)
        if dim != self.embedder.dim:
            raise QueryError(f"model {spec} gives {self.embedder.dim}-d vectors but the library holds {dim}-d ones")
        return mid

    def _snapshot(self) -> _Snapshot:
        """Vectors, ids and dates at the current generation: memory-mapped from the library's
        cache files (core.vectorcache), relpaths read only for the rows a search shows."""
        with self._lock:
            gen = self.library.generation
            if self._snap is not None and self._snap.generation == gen:
                return self._snap
            mid = self._model_id()
            m = self.library.matrix(mid)
            self._snap = _Snapshot(m.ids, _LibraryPaths(self.library, m.ids), m.dates, generation=m.generation,
                                   mat=m.mat, library=self.library)
            if self._ann is None or self._ann.model_id != mid:
                # A build in the background leaves a core to the searches and the UI meanwhile.
                params = AnnParams(threads=max(1, (os.cpu_count() or 2) - 1)) \
                    if self.ann_build == "background" else AnnParams()
                if self._ann is not None:
                    self._ann.close()
                # The app keeps a large index in a process of its own: hnswlib holds the GIL while
                # it loads or saves one (seconds at a million photos), which froze the window.
                remote = PROCESS_MIN if self.ann_build == "background" else None
                self._ann = LibraryAnn(self.library, mid, params, notify=self._say, probes=self._probes,
                                       remote_from=remote)
            return self._snap

    def _probes(self) -> np.ndarray | None:
        if not hasattr(self.embedder, "encode_texts"):
            return None
        return self.text_vectors(CALIBRATION_PROMPTS)

    def _ann_for(self, snap: _Snapshot, forced: bool) -> Any:
        """The ANN index for this snapshot, or None: then this query goes exact."""
        lib_ann = self._ann
        assert lib_ann is not None  # made by _snapshot
        if forced or self.ann_build == "now":
            return lib_ann.get(snap.generation, snap.ids, snap.mat, build=True)
        # Loading a saved index reads more bytes than one exact pass over the memory-mapped
        # matrix (hnswlib keeps its own copy of the vectors, plus the graph): a query never waits
        # for it. A one-shot process ("never") answers exactly; a long-lived one loads, updates or
        # builds the index in the background and uses it from the first query after.
        ann = lib_ann.current(snap.generation, snap.ids)
        if ann is None and self.ann_build == "background":
            with self._lock:
                if self._builder is None or not self._builder.is_alive():
                    self._builder = threading.Thread(
                        target=lib_ann.get, args=(snap.generation, snap.ids, snap.mat, True, self._stop),
                        name="ann-build", daemon=True)
                    self._builder.start()
        return ann

    def _candidates(self, snap: _Snapshot, options: SearchOptions) -> np.ndarray | None:
        """A boolean mask over rows, or None when nothing is filtered."""
        folder = self._folder_relpath(options.folder) if options.folder is not None else ""
        if options.mark_filter().active:  # zero-shot tags count for the model searched with
            options = _with_marks(self.library, options, (self._model_id(),))
        mask = snap.mask(folder, options)
        if options.person is not None:  # resolved here: the folder view (filter_listing) has no library
            m = np.isin(snap.ids, np.array(self._photos_of(options.person), dtype=np.int64))
            mask = m if mask is None else mask & m
        return mask

    def _photos_of(self, name: str) -> list[int]:
        """File ids of a named person's photos (core.faces); QueryError naming the known people if none."""
        faces = self.library.faces
        return faces.photos_of(faces.find(name))

    def _people_restrict(self, query: Query, restrict: frozenset[int] | None) -> frozenset[int]:
        """The photos a query's person:/-person: terms allow, within `restrict`."""
        allowed = None if restrict is None else set(restrict)
        for name in query.people:
            ids = set(self._photos_of(name))
            allowed = ids if allowed is None else allowed & ids
        if allowed is None:  # only -person: terms: every photo but theirs
            allowed = {int(i) for i in self._snapshot().ids}
        for name in query.not_people:
            allowed -= set(self._photos_of(name))
        return frozenset(allowed)

    def _person_listing(self, o: SearchOptions, notes: list[str]) -> SearchResult:
        """Every photo the filters keep, newest first (a search that names only people)."""
        snap = self._snapshot()
        mask = self._candidates(snap, o)
        rows = np.flatnonzero(mask) if mask is not None else np.arange(len(snap.ids))
        o = replace(o, sort=o.sort if o.sort != "score" else "date", threshold=None)
        return SearchResult(self._hits(snap, rows, np.ones(len(rows), np.float32), o), notes, "exact")

    def _folder_relpath(self, folder: str) -> str:
        """A subfolder given relative to the root (or absolute, inside it) -> its POSIX relpath."""
        p = Path(str(folder).strip()).expanduser()
        if p.is_absolute():
            rel = self.library.relpath_of(p)
            if rel is None:
                raise QueryError(f"{folder} is not inside {self.library.root}")
            rel = "" if rel == "." else rel
        else:
            rel = relative_folder(folder, self.library.root)
        if rel and not (self.library.root / rel).is_dir() and not self._has_files_under(rel):
            raise QueryError(f"there is no folder '{folder}' in {self.library.root}")
        return rel

    def _has_files_under(self, rel: str) -> bool:
        return len(self._snapshot().rows_under(rel)) > 0

    def _rank(self, q: np.ndarray, o: SearchOptions, notes: list[str]) -> SearchResult:
        snap = self._snapshot()
        mask = self._candidates(snap, o)
        n = len(snap.ids)
        count = n if mask is None else int(mask.sum())
        if count == 0:
            return SearchResult((), notes, "exact")
        rows, scores = None, None
        if o.exact is False or (o.exact is None and n >= EXACT_BELOW and count >= EXACT_BELOW
                                and count >= MIN_ANN_FRACTION * n):
            rows, scores = self._ann_rank(snap, q, o.k, mask, count, forced=o.exact is False)
        if rows is None or scores is None:
            rows, scores = _exact_rank(snap.mat, q, o.k, mask, count)
            self.last_method = "exact"
        else:
            self.last_method = "ann"
        if o.threshold == AUTO:
            o = replace(o, threshold=adaptive_threshold(scores, snap.mat[background_sample(n)] @ q))
        return SearchResult(self._media(self._hits(snap, rows, scores, o), q), notes, self.last_method)

    def _media(self, hits: list[Hit], q: np.ndarray | None) -> list[Hit]:
        """Hits with their video (length, best-matching second) and RAW details (core.media)."""
        from .media import annotate_hits

        return annotate_hits(self.library.media, self.library.root, self._model_id(), q, hits)

    def _hits(self, snap: _Snapshot, rows: np.ndarray, scores: np.ndarray, o: SearchOptions) -> list[Hit]:
        """The best k scored rows as Hits, best first (ties by id, so runs agree) or newest first."""
        order = np.lexsort((snap.ids[rows], -scores))[:o.k]
        rows, scores = rows[order], scores[order]
        if o.threshold is not None:
            keep = scores >= float(o.threshold)
            rows, scores = rows[keep], scores[keep]
        paths = snap.relpaths
        if isinstance(paths, _LibraryPaths):
            paths.fetch(rows)  # one query for the hits; a file deleted since the snapshot is left out
            keep = np.array([paths.known(r) for r in rows], dtype=bool)
            rows, scores = rows[keep], scores[keep]
        hits = [Hit(int(snap.ids[r]), self.library.root / paths[r], float(s), float(snap.dates[r]))
                for r, s in zip(rows, scores)]
        return sort_hits(hits, o.sort)

    def _ann_rank(self, snap: _Snapshot, q: np.ndarray, k: int, mask: np.ndarray | None, count: int,
                  forced: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Candidates from the ANN index, rescored exactly; (None, None) where exact is the better way."""
        n = len(snap.ids)
        # Filters drop a share of the neighbours found, so ask for enough to keep k after filtering.
        want = k if mask is None else math.ceil(k * n / count * 1.5) + 16
        want = min(want, n)
        if want > MAX_ANN_K and not forced:
            return None, None  # a large share of the library: one matrix product is the better tool
        ann = self._ann_for(snap, forced)
        if ann is None or (not ann.reliable and not forced):
            return None, None
        labels = ann.query(q, want)
        if labels is None:
            return None, None
        rows = np.minimum(np.searchsorted(snap.ids, labels), n - 1)
        rows = rows[snap.ids[rows] == labels]  # the index covers exactly these ids; never trust it blindly
        if mask is not None:
            rows = rows[mask[rows]]
            if len(rows) < min(k, count) and want < n:
                return None, None  # the filter removed too many: exact over the candidates instead
        return rows, snap.mat[rows] @ q



SCAN_ROWS = 65536  # rows of a memory-mapped matrix scored at a time (128 MB of 512-d float32)


def scores_of(mat: np.ndarray, q: np.ndarray) -> np.ndarray:
    """mat @ q. Over a memory-mapped matrix, a slice at a time, each slice's pages let go of once
    scored: the process's memory stays at one slice instead of the whole matrix (2 GB at a
    million 512-d photos), and the pages stay in the OS cache for the next query."""
    base = getattr(mat, "_mmap", None)
    if base is None or len(mat) <= SCAN_ROWS or not hasattr(base, "madvise"):
        return np.asarray(mat @ q)
    import mmap

    out = np.empty(len(mat), np.float32)
    row_bytes = mat.strides[0]
    start_byte = getattr(mat, "offset", 0) % mmap.ALLOCATIONGRANULARITY  # where row 0 sits in the map
    page = mmap.PAGESIZE
    for lo in range(0, len(mat), SCAN_ROWS):
        hi = min(lo + SCAN_ROWS, len(mat))
        out[lo:hi] = mat[lo:hi] @ q
        first = (start_byte + lo * row_bytes) // page * page
        try:
            base.madvise(mmap.MADV_DONTNEED, first, start_byte + hi * row_bytes - first)
        except (OSError, ValueError):
            break  # not allowed here: the rest is scored as usual, just without letting go
    else:
        return out
    out[hi:] = mat[hi:] @ q
    return out


def _exact_rank(mat: np.ndarray, q: np.ndarray, k: int, mask: np.ndarray | None,
                count: int) -> tuple[np.ndarray, np.ndarray]:
    if mask is None:
        rows = np.arange(len(mat))
        scores = scores_of(mat, q)
    elif count < len(mat) // 4:
        rows = np.flatnonzero(mask)
        scores = mat[rows] @ q
    else:  # cheaper to score everything than to copy most of the matrix
        rows = np.flatnonzero(mask)
        scores = scores_of(mat, q)[rows]
    if len(rows) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        rows, scores = rows[part], scores[part]
    return rows, scores


def refresh_caches(library: Library, model_ids: Iterable[int] | None = None, ann: bool = True,
                   notify: Callable[[str], None] | None = None, stop: threading.Event | None = None) -> dict[str, Any]:
    """After the library changed (the end of `index` or `import`): write the memory-mapped vector
    matrix of each model (core.vectorcache) and, with `ann`, bring the persisted ANN index up to
    date (an update when the change is small, else a build), so that the next process searches
    without reading SQLite row by row and the app finds its index ready. Caches only: skipping
    this loses nothing, the first search does it instead. Returns what was done per model spec."""
    done: dict[str, Any] = {}
    if library.read_only:
        return done
    library.listing()  # the app's grid of the folder, mapped by the next process to open it
    wanted = None if model_ids is None else {int(i) for i in model_ids}
    for mid, spec, _dim, n in library.models():
        if n == 0 or (wanted is not None and mid not in wanted):
            continue
        m = library.matrix(mid)
        entry: dict[str, Any] = {"photos": len(m.ids), "matrix": m.source}
        if ann and len(m.ids) >= EXACT_BELOW:
            lib_ann = LibraryAnn(library, mid, notify=notify)
            if lib_ann.saved_current(m.generation, len(m.ids)):
                entry["ann"] = "current"
            else:
                lib_ann.get(m.generation, m.ids, m.mat, build=True, stop=stop)
                entry["ann"] = lib_ann.last_action or "stopped"
        done[spec] = entry
    return done
