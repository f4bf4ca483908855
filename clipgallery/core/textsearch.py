"""Searching the text read in photos: `text:WORD` / `text:"several words"` terms, and the boost a plain
query gets where its words are written in a photo.

Matching is case-insensitive and tolerant of OCR slips: a word matches a word of a line that is
equal, starts with it (3+ letters), contains it (4+ letters), or is within one edit (5 to 8
letters) or two edits (9+ letters). Candidates come from the trigram FTS index: a line must hold
the word itself (3-4 letters) or one of its k + 1 parts (k the edits allowed; a line word within k
edits keeps at least one part intact), which keeps them few; only a five-letter word, too short to
split, asks for any shared 3-letter piece, so a misread middle letter in it can be missed. Chinese
(and any run without spaces) is matched as an exact substring.

Blending (plain queries, while the folder's text is read): score = clip + beta * coverage, where
coverage in [0, 1] is the share of the query's words (3+ letters, minus a few stop words) found
in the photo's text, each weighted by its match quality, and beta = BLEND * (best CLIP score -
median CLIP score) of this query. A photo whose text holds every word is lifted at most half way
from the median to the best CLIP match: it rises above ordinary photos but overtakes the best
match only when CLIP already rates it above that midpoint, so a strong CLIP match stays on top.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .errors import QueryError
from .query import Query
from .relevance import AUTO, adaptive_threshold, background_sample
from .store.text import TextStore

if TYPE_CHECKING:
    from .search import Hit, Searcher, SearchOptions, SearchResult

BLEND = 0.5
MEDIAN_SAMPLE = 4096  # rows the median CLIP score is taken over (evenly spaced)
STOP_WORDS = frozenset(
    ["the", "and", "for", "with", "from", "this", "that", "are", "was", "were", "not", "but", "you", "your", "our", "its", "his", "her", "their", "a", "an", "of", "in", "on", "at", "to", "by", "photo", "photos", "picture", "image", "images"])
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class TextMatch:
    file_id: int
    quality: float  # 1: exact; lower for prefixes, substrings and OCR slips
    line: str  # the best matching line


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def words_of(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


def _spaceless(text: str) -> bool:
    return any(unicodedata.east_asian_width(ch) in ("W", "F") for ch in text)


def _allowed(n: int) -> int:
    return 0 if n < 5 else 1 if n < 9 else 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, or limit + 1 as soon as it must exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


def word_quality(q: str, t: str) -> float:
    """How well the line word `t` matches the query word `q` (both normalised); 0: not at all."""
    if q == t:
        return 1.0
    if len(q) >= 3 and t.startswith(q):
        return 0.9
    if len(q) >= 4 and q in t:
        return 0.8
    k = _allowed(len(q))
    if k:
        d = edit_distance(q, t, k)
        if d <= k:
            return 1.0 - 0.5 * d / len(q)
    return 0.0


def line_quality(words: Sequence[str], line: str) -> float:
    """Best quality of the query words as consecutive words of the line (or run together, as OCR
    sometimes reads them); 0 when they are not there."""
    if not words:
        return 0.0
    if any(_spaceless(w) for w in words):
        return 1.0 if "".join(words) in "".join(words_of(line)) else 0.0
    toks = words_of(line)
    best = 0.0
    for i in range(len(toks) - len(words) + 1):
        qs = [word_quality(w, t) for w, t in zip(words, toks[i:i + len(words)])]
        if all(qs):
            best = max(best, sum(qs) / len(qs))
    if len(words) > 1:
        joined = "".join(words)
        best = max(best, max((word_quality(joined, t) for t in toks), default=0.0) * 0.95)
    return best


def _pieces(w: str) -> list[str]:
    """Substrings of which every line word matching `w` holds at least one (pigeonhole: k edits
    spoil at most k of k + 1 parts), each long enough for the trigram index. An exact, prefix or
    part match holds all of them; a 3-4 letter word allows no edit, so it is its own piece."""
    k = _allowed(len(w))
    n = len(w) // (k + 1)
    if k == 0 or n >= 3:
        cuts = [i * n for i in range(k + 1)] + [len(w)]
        return sorted({w[a:b] for a, b in zip(cuts, cuts[1:])})
    return sorted({w[i:i + 3] for i in range(len(w) - 2)})  # too short to split: any shared trigram


def find_text(store: TextStore, phrase: str) -> dict[int, TextMatch]:
    """Photos whose text holds the phrase, with the best line of each."""
    words = words_of(phrase)
    if not words:
        raise QueryError(f"text:{phrase} has no letters or digits to look for")
    groups, likes = [], []
    if any(_spaceless(w) for w in words):
        joined = "".join(words)
        (groups.append([joined]) if len(joined) >= 3 else likes.append(joined))
    else:
        for w in words:
            if len(w) >= 3:
                groups.append(_pieces(w))
            else:
                likes.append(w)
    out: dict[int, TextMatch] = {}
    for ln in store.candidates(groups, likes):
        q = line_quality(words, ln.text)
        if q > 0 and (ln.file_id not in out or q > out[ln.file_id].quality):
            out[ln.file_id] = TextMatch(ln.file_id, q, ln.text)
    return out


def coverage(store: TextStore, query_words: Sequence[str]) -> dict[int, TextMatch]:
    """Photos whose text holds some of the words, with the share held (weighted by quality)."""
    found: dict[int, dict[str, tuple[float, str]]] = {}
    for w in query_words:
        for fid, m in find_text(store, w).items():
            found.setdefault(fid, {})[w] = (m.quality, m.line)
    out = {}
    for fid, per in found.items():
        q = sum(v[0] for v in per.values()) / len(query_words)
        line = max(per.values())[1]
        out[fid] = TextMatch(fid, q, line)
    return out


def significant_words(text: str) -> list[str]:
    seen = []
    for w in words_of(text):
        if (len(w) >= 3 or _spaceless(w)) and w not in STOP_WORDS and not w.isdigit() and w not in seen:
            seen.append(w)
    return seen


# -- the search (Searcher.search hands a query over to these) -----------------------------------------


def wants_text(searcher: Searcher, parsed: Query) -> bool:
    """Whether this query is searched here: it has `text:` terms, or the folder's text is read."""
    return any(t.kind == "words" for t in parsed.terms) or searcher.library.text.any_lines()


def search(searcher: Searcher, parsed: Query, o: SearchOptions, notes: list[str]) -> SearchResult:
    """Searcher.search for a query with `text:` terms, or a plain one in a folder whose text is read."""
    from .search import SearchResult

    store = searcher.library.text
    word_terms = [t for t in parsed.terms if t.kind == "words"]
    clip_terms = tuple(t for t in parsed.terms if t.kind != "words")
    positive_clip = any(t.weight > 0 for t in clip_terms)
    if not word_terms:
        q = searcher.query_vector(parsed)
        words = [w for t in clip_terms if t.kind == "text" and t.weight > 0 for w in significant_words(t.value)]
        if not words:
            return searcher._rank(q, o, notes)
        return _blend(searcher, q, coverage(store, words), o, notes)
    if not store.enabled and store.counts().read == 0:
        raise QueryError(f"the text in the photos of {searcher.library.root} is not read: turn it on with "
                         f"`clipgallery index {searcher.library.root} --text` (in the app: Settings)")
    wanted: set[int] | None = None if o.restrict is None else set(o.restrict)
    best: dict[int, TextMatch] = {}
    for t in word_terms:
        found = find_text(store, t.value)
        if t.weight > 0:
            wanted = set(found) if wanted is None else wanted & set(found)
            for fid, m in found.items():
                if fid not in best or m.quality > best[fid].quality:
                    best[fid] = m
        else:
            if wanted is None:
                wanted = {int(i) for i in searcher._snapshot().ids}
            wanted -= set(found)
    narrowed = replace(o, restrict=frozenset(wanted) if wanted is not None else None)
    if positive_clip:
        q = searcher.query_vector(Query(clip_terms, parsed.source))
        result = searcher._rank(q, narrowed, notes)
        return SearchResult([_with_line(h, best) for h in result], result.notices, result.method)
    # Text alone: the photos that hold it, best match first. Every one of them is a match, so the
    # adaptive cut (made for CLIP's scores) keeps them all.
    if narrowed.threshold == AUTO:
        narrowed = replace(narrowed, threshold=None)
    snap = searcher._snapshot()
    mask = searcher._candidates(snap, narrowed)
    rows = np.flatnonzero(mask) if mask is not None else np.arange(len(snap.ids))
    rows = rows[[int(snap.ids[r]) in best for r in rows]] if len(rows) else rows
    if len(rows) == 0:
        return SearchResult((), notes, "text")
    scores = np.array([best[int(snap.ids[r])].quality for r in rows], np.float32)
    hits = searcher._hits(snap, rows, scores, narrowed)
    return SearchResult([_with_line(h, best) for h in hits], notes, "text")


def _with_line(h: Hit, best: dict[int, TextMatch]) -> Hit:
    m = best.get(h.file_id)
    return replace(h, text=m.line) if m is not None else h


def _blend(searcher: Searcher, q: np.ndarray, found: dict[int, TextMatch], o: SearchOptions,
           notes: list[str]) -> SearchResult:
    """CLIP's ranking, with the photos whose text holds the query's words lifted (module docstring)."""
    from .search import Hit, SearchResult

    result = searcher._rank(q, replace(o, threshold=None, sort="score"), notes)
    if not found or not result:
        return SearchResult(_finish(searcher, q, list(result), o), result.notices, result.method)
    snap = searcher._snapshot()
    mask = searcher._candidates(snap, o)
    fids = np.array(sorted(found), dtype=np.int64)
    rows = np.searchsorted(snap.ids, fids)
    rows = np.minimum(rows, len(snap.ids) - 1)
    rows = rows[snap.ids[rows] == fids]
    if mask is not None:
        rows = rows[mask[rows]]
    step = max(1, len(snap.ids) // MEDIAN_SAMPLE)
    median = float(np.median(snap.mat[::step] @ q))
    clip = {h.file_id: h.score for h in result}
    for r in rows:
        clip[int(snap.ids[r])] = float(snap.mat[r] @ q)
    top = max(clip.values())
    beta = BLEND * max(top - median, 0.0)
    by_id = {h.file_id: h for h in result}
    out = []
    for fid, s in clip.items():
        m = found.get(fid)
        score = s + beta * m.quality if m else s
        h = by_id.get(fid)
        if h is None:
            r = int(np.searchsorted(snap.ids, fid))
            h = Hit(fid, searcher.library.root / snap.relpaths[r], score, float(snap.dates[r]))
        out.append(replace(h, score=score, text=m.line if m else h.text))
    out.sort(key=lambda h: (-h.score, h.file_id))
    return SearchResult(_finish(searcher, q, out[:o.k], o), result.notices, result.method + "+text")


def _finish(searcher: Searcher, q: np.ndarray, hits: list[Hit], o: SearchOptions) -> list[Hit]:
    """The options' threshold (AUTO: the adaptive cut over the blended scores) and sort."""
    threshold = o.threshold
    if threshold == AUTO and hits:
        snap = searcher._snapshot()
        threshold = adaptive_threshold(np.array([h.score for h in hits]),
                                       snap.mat[background_sample(len(snap.ids))] @ q)
    if threshold is not None and threshold != AUTO:
        hits = [h for h in hits if h.score >= float(threshold)]
    from .search import sort_hits  # (search imports this module)

    return sort_hits(hits, o.sort)
