"""Search a library: the query language (words, +/-terms, weights, images), filters, exact or ANN ranking.

Terms combine in embedding space: the weighted sum of their unit vectors, renormalised.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from .ann import LibraryAnn
from .embed import Embedder
from .errors import ImageError, QueryError
from .library import Library
from .scan import BASE_EXTENSIONS, HEIF_EXTENSIONS

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
SORTS = ("score", "date")
_IMAGE_SUFFIXES = BASE_EXTENSIONS | HEIF_EXTENSIONS
_WEIGHT = re.compile(r"(\d+(?:\.\d+)?|\.\d+):(?!\d)")  # "2:" but not the "3:" of "3:00"


# -- query language --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    kind: str  # "text" | "image"
    value: str  # the text, or the image file's absolute path
    weight: float


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...]
    source: str
    people: tuple[str, ...] = ()  # person:NAME terms: only photos of all of them (core.faces)
    not_people: tuple[str, ...] = ()  # -person:NAME: none of theirs


def parse_query(text: str, base_dirs: Sequence[Path] = ()) -> Query:
    """Read the query language; QueryError with a plain sentence when it cannot be searched.

    Plain words (and bare "quoted phrases") form one text term. `+t` / `-t` add / subtract a
    concept, `2:t`, `-0.5:t` weight it; a path to an existing image file (absolute, relative to
    the working folder or to one of `base_dirs`) is an image term.
    """
    words: list[str] = []
    terms: list[Term] = []
    people: dict[str, list[str]] = {"+": [], "-": []}
    for raw in _split(text):
        sign, weight, body, quoted = _prefix(raw)
        if not body:
            if sign or weight is not None:
                raise QueryError(f"'{raw}' has nothing after it: write a term, as in {sign or ''}red")
            continue
        if body[:7].lower() == "person:":
            name = " ".join(body[7:].split())
            if not name or weight is not None:
                raise QueryError(f"'{raw}': write person:NAME (quoted for spaces: person:\"Anna Maria\")")
            people["-" if sign == "-" else "+"].append(name)
            continue
        image = _image_path(body, base_dirs)
        if image is not None:
            w = (weight if weight is not None else 1.0) * (-1.0 if sign == "-" else 1.0)
            terms.append(Term("image", str(image), w))
        elif sign or weight is not None:
            w = (weight if weight is not None else 1.0) * (-1.0 if sign == "-" else 1.0)
            terms.append(Term("text", body, w))
        else:
            words.append(body)
    if words:
        terms.insert(0, Term("text", " ".join(words), 1.0))
    if people["+"] and not any(t.weight > 0 for t in terms):  # "person:Anna" alone lists her photos
        return Query(tuple(terms), text, tuple(people["+"]), tuple(people["-"]))
    if not terms:
        raise QueryError("the query is empty: type what to look for (for example: kids on the beach), "
                         "or give an image")
    if not any(t.weight > 0 for t in terms):
        raise QueryError("the query only says what to leave out (-term): add what to look for, "
                         "as in: beach -people")
    return Query(tuple(terms), text, tuple(people["+"]), tuple(people["-"]))


def _split(text: str) -> list[str]:
    """Whitespace-separated tokens; a "quoted part" keeps its spaces (an unclosed quote runs to the end)."""
    tokens, cur, quoted, started = [], [], False, False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            cur.append(ch)
            started = True
        elif ch.isspace() and not quoted:
            if started:
                tokens.append("".join(cur))
            cur, started = [], False
        else:
            cur.append(ch)
            started = True
    if started:
        tokens.append("".join(cur))
    return tokens


def _prefix(raw: str) -> tuple[str, float | None, str, bool]:
    """'-2:"blue sky"' -> ('-', 2.0, 'blue sky', True). A lone + or - is a mistake, not a word."""
    sign, rest = "", raw
    if rest in ("+", "-"):
        raise QueryError(f"'{raw}' must be followed by a term, as in {raw}red")
    if rest[:1] in "+-" and rest[:1]:
        sign, rest = rest[0], rest[1:]
    weight = None
    m = _WEIGHT.match(rest)
    if m and len(rest) > m.end():
        weight, rest = float(m.group(1)), rest[m.end():]
    quoted = '"' in rest
    return sign, weight, rest.replace('"', "").strip(), quoted


def _image_path(body: str, base_dirs: Sequence[Path]) -> Path | None:
    """The image file a term names, if it names one; a missing file with an image suffix is an error."""
    looks_like_image = Path(body).suffix.lower() in _IMAGE_SUFFIXES
    looks_like_path = looks_like_image or "/" in body or "\\" in body or body.startswith("~")
    if not looks_like_path:
        return None
    p = Path(body).expanduser()
    candidates = [p] if p.is_absolute() else [Path.cwd() / p, *(Path(b) / p for b in base_dirs)]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    if looks_like_image:
        raise QueryError(f"image not found: {body}")
    return None


# -- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    file_id: int
    path: Path
    score: float
    date: float | None  # when taken (EXIF), else last modified; POSIX seconds


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


@dataclass
class _Snapshot:
    """The library's searchable state at one generation: vectors plus what filters need."""

    generation: int
    ids: np.ndarray  # sorted file ids
    mat: np.ndarray  # [n, dim] unit vectors, rows aligned with ids
    relpaths: list[str]
    dates: np.ndarray  # float64 POSIX seconds
    _sorted: tuple[list[str], np.ndarray] | None = None

    def row_of(self, file_id: int) -> int | None:
        r = int(np.searchsorted(self.ids, file_id))
        return r if r < len(self.ids) and self.ids[r] == file_id else None

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


# -- the searcher ----------------------------------------------------------------------------------


class Searcher:
    """Text and image search over one library with one model; safe to call from worker threads."""

    def __init__(self, library: Library, embedder: Embedder, notify: Callable[[str], None] | None = None,
                 ann_build: str = "background"):
        """`ann_build` says what to do when a large library has no usable ANN index yet:
        "background" builds it in a thread and searches exactly meanwhile (the GUI), "now" builds
        it before answering, "never" uses a saved one only (a one-shot CLI run: exact is cheaper
        than a build). Small changes to an existing index are always applied at once.
        """
        if ann_build not in ANN_BUILDS:
            raise ValueError(f"ann_build must be one of {ANN_BUILDS}")
        self.library = library
        self.embedder = embedder
        self.notify = notify or (lambda message: None)
        self.ann_build = ann_build
        self._builder: threading.Thread | None = None
        self._encode_lock = threading.Lock()  # an Embedder runs one encode call at a time
        self._snap: _Snapshot | None = None
        self._ann: LibraryAnn | None = None
        self._lock = threading.RLock()
        self.last_method = ""  # "exact" | "ann": how the last ranking was done (for tests and logs)

    # public API

    def search(self, query: str | Query, k: int = 50, threshold: float | None = None, folder: str | None = None,
               after: float | None = None, before: float | None = None, sort: str = "score",
               restrict: Collection[int] | None = None, exact: bool | None = None) -> list[Hit]:
        """Photos best matching the query (DESIGN query language), filtered, best first or newest first."""
        _check_options(k, sort, after, before)
        parsed = query if isinstance(query, Query) else parse_query(query, [self.library.root])
        if parsed.people or parsed.not_people:
            restrict = _people_restrict(self.library, parsed, restrict)
            if not any(t.weight > 0 for t in parsed.terms):  # only people named: their photos, newest first
                snap = self._snapshot()
                mask = self._candidates(snap, folder, after, before, restrict)
                rows = np.flatnonzero(mask) if mask is not None else np.arange(len(snap.ids))
                return self._hits(snap, rows, np.ones(len(rows), np.float32), len(rows), None, "date")[:k]
        q = self.query_vector(parsed)
        return self._rank(q, k, threshold, folder, after, before, sort, restrict, exact)

    def similar(self, image: Path | int, k: int = 50, threshold: float | None = None, folder: str | None = None,
                after: float | None = None, before: float | None = None, sort: str = "score",
                restrict: Collection[int] | None = None, exact: bool | None = None) -> list[Hit]:
        """Photos that look like an indexed photo (by file id or path) or any image file on disk."""
        _check_options(k, sort, after, before)
        q = self.image_vector(image)
        return self._rank(q, k, threshold, folder, after, before, sort, restrict, exact)

    def similar_regional(self, image: Path | int, k: int = 50, box: Sequence[float] | None = None,
                         threshold: float | None = None, folder: str | None = None, after: float | None = None,
                         before: float | None = None, sort: str = "score",
                         restrict: Collection[int] | None = None) -> list[Hit]:
        """Photos that contain the parts of an image (core.regions), wherever they sit in the scene.

        `box` (left, top, right, bottom, as fractions of the image) narrows the query to one object
        in it. Needs region vectors in the library (its regional setting); photos indexed before
        the setting was turned on are left out until the next index run, and `notify` says so.
        """
        _check_options(k, sort, after, before)
        from .regions import match_scores

        snap = self._snapshot()
        rids, regions = self.library.regions(self._model_id())
        if len(rids) == 0:
            raise QueryError(
                f"{self.library.root} has no region vectors for {self.embedder.spec}: turn them on with "
                f"`clipgallery index {self.library.root} --regional` (in the app: Settings, regional vectors)")
        q = self.image_regions(image, box, expected=regions.shape[1:])
        if len(snap.ids) == 0:
            return []
        rows = np.searchsorted(snap.ids, rids)
        rows = np.minimum(rows, len(snap.ids) - 1)
        present = snap.ids[rows] == rids  # a file that failed since has regions but no vector
        rows, sel = rows[present], np.flatnonzero(present)
        if len(rows) < len(snap.ids):
            self.notify(f"{len(snap.ids) - len(rows)} photos have no region vectors yet and are left out; "
                        "index the folder again to add them")
        mask = self._candidates(snap, folder, after, before, restrict)
        if mask is not None:
            keep = mask[rows]
            rows, sel = rows[keep], sel[keep]
        if len(rows) == 0:
            return []
        scores = match_scores(q, regions if len(sel) == len(rids) else regions[sel])
        self.last_method = "regional"
        return self._hits(snap, rows, scores, k, threshold, sort)

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
        if fid is None:
            path = Path(image).expanduser()
            if not path.exists():
                raise ImageError("file not found", path)
            if not path.is_file():
                raise ImageError("is a folder, not a file", path)
            rel = self.library.relpath_of(path)
            fid = self.library.file_ids([rel]).get(rel) if rel is not None else None
        if fid is not None and box is None:
            rids, regions = self.library.regions(self._model_id())
            r = int(np.searchsorted(rids, fid))
            if r < len(rids) and rids[r] == fid:
                return regions[r].astype(np.float32)
        if path is None:
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
        with self._encode_lock:
            q = self.embedder.encode_image_regions(picture)
        if expected is not None and q.shape[1:] != tuple(expected[1:]):
            raise QueryError(f"the stored region vectors are {expected[1]}-d but {self.embedder.spec} gives "
                             f"{q.shape[1]}-d ones: index the folder again")
        return q

    def rank_vector(self, vector: np.ndarray, k: int = 50, threshold: float | None = None,
                    folder: str | None = None, after: float | None = None, before: float | None = None,
                    sort: str = "score", restrict: Collection[int] | None = None,
                    exact: bool | None = None) -> list[Hit]:
        """Photos nearest to a vector already in this model's space (e.g. from query_vector)."""
        _check_options(k, sort, after, before)
        v = np.asarray(vector, np.float32).reshape(-1)
        norm = float(np.linalg.norm(v))
        if v.shape[0] != self.embedder.dim or norm < 1e-6:
            raise QueryError(f"a query vector must be a non-zero {self.embedder.dim}-d vector")
        return self._rank(v / norm, k, threshold, folder, after, before, sort, restrict, exact)

    def prepare(self) -> None:
        """Load vectors and bring the ANN index up to date now (for a worker thread, or after indexing)."""
        snap = self._snapshot()
        if len(snap.ids) >= EXACT_BELOW:
            self._ann.get(snap.generation, snap.ids, snap.mat, build=True)

    def query_vector(self, query: str | Query) -> np.ndarray:
        """The unit vector a query stands for."""
        parsed = query if isinstance(query, Query) else parse_query(query, [self.library.root])
        texts = [t.value for t in parsed.terms if t.kind == "text"]
        text_vecs = dict(zip(texts, self.text_vectors(texts))) if texts else {}
        v = np.zeros(self.embedder.dim, np.float64)
        for t in parsed.terms:
            u = text_vecs[t.value] if t.kind == "text" else self.image_vector(Path(t.value))
            v += t.weight * u.astype(np.float64)
        norm = float(np.linalg.norm(v))
        if norm < 1e-6:
            raise QueryError("the terms of the query cancel each other out: nothing is left to search for")
        return (v / norm).astype(np.float32)

    def text_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of texts, from the LRU cache when they were asked for recently."""
        key = (self.embedder.spec, self.embedder.device)
        out: list[np.ndarray | None] = [TEXT_CACHE.get((*key, t)) for t in texts]
        todo = sorted({t for t, v in zip(texts, out) if v is None})
        if todo:
            with self._encode_lock:
                fresh = dict(zip(todo, self.embedder.encode_texts(todo)))
            for t, v in fresh.items():
                v.setflags(write=False)
                TEXT_CACHE.put((*key, t), v)
            out = [v if v is not None else fresh[t] for t, v in zip(texts, out)]
        return np.stack(out)

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

    def _encode_file(self, path: Path) -> np.ndarray:
        from .images import decode

        decoded = decode(path, min_side=self.embedder.image_size) if path.is_file() else None
        if decoded is None:
            raise ImageError("is a folder, not a file", path)
        with self._encode_lock:
            return self.embedder.encode_images([decoded.image])[0]

    def _model_id(self) -> int:
        spec = self.library.indexed_model(self.embedder.spec)  # LibraryError names what was indexed
        mid = self.library.model_id(spec)
        dim = self.library.conn.execute("SELECT dim FROM models WHERE id=?", (mid,)).fetchone()[0]
        if dim != self.embedder.dim:
            raise QueryError(f"model {spec} gives {self.embedder.dim}-d vectors but the library holds {dim}-d ones")
        return mid

    def _snapshot(self) -> _Snapshot:
        with self._lock:
            for _ in range(5):
                gen = self.library.generation
                if self._snap is not None and self._snap.generation == gen:
                    return self._snap
                mid = self._model_id()
                ids, mat = self.library.vectors(mid)
                rows = self.library.conn.execute(
                    "SELECT id, relpath, COALESCE(taken_at, mtime_ns / 1e9) FROM files WHERE status='ok' "
                    "ORDER BY id").fetchall()
                if self.library.generation != gen:
                    continue  # an index run committed meanwhile: read again
                by_id = {r[0]: r for r in rows}
                if any(int(i) not in by_id for i in ids):
                    continue
                meta = [by_id[int(i)] for i in ids]
                self._snap = _Snapshot(gen, ids, mat, [r[1] for r in meta],
                                       np.array([r[2] for r in meta], dtype=np.float64))
                if self._ann is None or self._ann.model_id != mid:
                    self._ann = LibraryAnn(self.library, mid, notify=self.notify, probes=self._probes)
                return self._snap
            raise QueryError("the library keeps changing while being read (is an index run writing to it?); "
                             "try again in a moment")

    def _probes(self) -> np.ndarray | None:
        if not hasattr(self.embedder, "encode_texts"):
            return None
        return self.text_vectors(CALIBRATION_PROMPTS)

    def _ann_for(self, snap: _Snapshot, forced: bool):
        """The ANN index for this snapshot, or None: then this query goes exact."""
        lib_ann = self._ann
        ann = lib_ann.get(snap.generation, snap.ids, snap.mat, build=forced or self.ann_build == "now")
        if ann is None and not forced and self.ann_build == "background":
            with self._lock:
                if self._builder is None or not self._builder.is_alive():
                    self._builder = threading.Thread(
                        target=lib_ann.get, args=(snap.generation, snap.ids, snap.mat, True),
                        name="ann-build", daemon=True)
                    self._builder.start()
        return ann

    def _candidates(self, snap: _Snapshot, folder: str | None, after: float | None, before: float | None,
                    restrict: Collection[int] | None) -> np.ndarray | None:
        """A boolean mask over rows, or None when nothing is filtered."""
        mask = None
        if folder is not None:
            rel = self._folder_relpath(folder)
            if rel:
                mask = np.zeros(len(snap.ids), bool)
                mask[snap.rows_under(rel)] = True
        if after is not None or before is not None:
            m = np.ones(len(snap.ids), bool)
            if after is not None:
                m &= snap.dates >= after
            if before is not None:
                m &= snap.dates < before
            mask = m if mask is None else mask & m
        if restrict is not None:
            wanted = np.fromiter((int(i) for i in restrict), dtype=np.int64)
            m = np.isin(snap.ids, wanted)
            mask = m if mask is None else mask & m
        return mask

    def _folder_relpath(self, folder: str) -> str:
        """A subfolder given relative to the root (or absolute, inside it) -> its POSIX relpath."""
        text = str(folder).strip()
        p = Path(text).expanduser()
        if p.is_absolute():
            rel = self.library.relpath_of(p)
            if rel is None:
                raise QueryError(f"{folder} is not inside {self.library.root}")
        else:
            parts = PurePosixPath(text.replace("\\", "/")).parts
            if ".." in parts:
                raise QueryError(f"the folder '{folder}' leaves {self.library.root}; give a subfolder")
            rel = "/".join(x for x in parts if x not in (".", "/"))
        rel = "" if rel == "." else rel
        if rel and not (self.library.root / rel).is_dir() and not self._has_files_under(rel):
            raise QueryError(f"there is no folder '{folder}' in {self.library.root}")
        return rel

    def _has_files_under(self, rel: str) -> bool:
        return len(self._snapshot().rows_under(rel)) > 0

    def _rank(self, q: np.ndarray, k: int, threshold: float | None, folder: str | None, after: float | None,
              before: float | None, sort: str, restrict: Collection[int] | None,
              exact: bool | None) -> list[Hit]:
        snap = self._snapshot()
        mask = self._candidates(snap, folder, after, before, restrict)
        n = len(snap.ids)
        count = n if mask is None else int(mask.sum())
        if count == 0:
            return []
        rows, scores = None, None
        if exact is False or (exact is None and n >= EXACT_BELOW and count >= EXACT_BELOW
                              and count >= MIN_ANN_FRACTION * n):
            rows, scores = self._ann_rank(snap, q, k, mask, count, forced=exact is False)
        if rows is None:
            rows, scores = _exact_rank(snap.mat, q, k, mask, count)
            self.last_method = "exact"
        else:
            self.last_method = "ann"
        return self._hits(snap, rows, scores, k, threshold, sort)

    def _hits(self, snap: _Snapshot, rows: np.ndarray, scores: np.ndarray, k: int, threshold: float | None,
              sort: str) -> list[Hit]:
        """The best k scored rows as Hits, best first (ties by id, so runs agree) or newest first."""
        order = np.lexsort((snap.ids[rows], -scores))[:k]
        rows, scores = rows[order], scores[order]
        if threshold is not None:
            keep = scores >= threshold
            rows, scores = rows[keep], scores[keep]
        hits = [Hit(int(snap.ids[r]), self.library.root / snap.relpaths[r], float(s), float(snap.dates[r]))
                for r, s in zip(rows, scores)]
        if sort == "date":
            hits.sort(key=lambda h: (-(h.date or 0.0), -h.score))
        return hits

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


def _exact_rank(mat: np.ndarray, q: np.ndarray, k: int, mask: np.ndarray | None,
                count: int) -> tuple[np.ndarray, np.ndarray]:
    if mask is None:
        rows = np.arange(len(mat))
        scores = mat @ q
    elif count < len(mat) // 4:
        rows = np.flatnonzero(mask)
        scores = mat[rows] @ q
    else:  # cheaper to score everything than to copy most of the matrix
        rows = np.flatnonzero(mask)
        scores = (mat @ q)[rows]
    if len(rows) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        rows, scores = rows[part], scores[part]
    return rows, scores


def _people_restrict(library: Library, query: Query, restrict: Collection[int] | None) -> set[int]:
    """The photos a query's person: terms allow, within `restrict`; QueryError for an unknown name."""
    from .faces import photos_of_person

    allowed = None if restrict is None else {int(i) for i in restrict}
    for name in query.people:
        ids = set(photos_of_person(library, name))
        allowed = ids if allowed is None else allowed & ids
    if allowed is None:  # only -person: terms: every photo but theirs
        allowed = {int(i) for i in _all_file_ids(library)}
    for name in query.not_people:
        allowed -= set(photos_of_person(library, name))
    return allowed


def _all_file_ids(library: Library) -> list[int]:
    return [r[0] for r in library.conn.execute("SELECT id FROM files WHERE status='ok'")]


def _check_options(k: int, sort: str, after: float | None, before: float | None) -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise QueryError(f"the number of results must be a whole number of at least 1, not {k!r}")
    if sort not in SORTS:
        raise QueryError(f"unknown sort order '{sort}': use score or date")
    if after is not None and before is not None and after >= before:
        raise QueryError("the date range is empty: the 'after' date must come before the 'before' date")
