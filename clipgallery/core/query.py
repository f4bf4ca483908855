"""The query language: words, +/-terms, weights, quoted phrases and image paths -> a Query.

Terms combine in embedding space (core.search): the weighted sum of their unit vectors, renormalised.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import QueryError
from .formats import known_extensions
from .scan import BASE_EXTENSIONS, HEIF_EXTENSIONS

# Every format clipgallery knows (installed or not: decoding then says what to install), videos included:
# a video as a query stands for its clip vector (indexed) or its middle frame (any other).
_IMAGE_SUFFIXES = BASE_EXTENSIONS | HEIF_EXTENSIONS | known_extensions()
_WEIGHT = re.compile(r"(\d+(?:\.\d+)?|\.\d+):(?!\d)")  # "2:" but not the "3:" of "3:00"


# -- query language --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    kind: str  # "text" | "image" | "words" (text:WORDS, the words written in a photo: core.textsearch)
    value: str  # the text, or the image file's absolute path, or the words to find
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
    the working folder or to one of `base_dirs`) is an image term. `text:word` / `text:"some words"`
    (signed and weighted alike) asks for photos with those words written in them.
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
        if body[:5].lower() == "text:":
            if not body[5:].strip():
                raise QueryError(f"'{raw}' has nothing after it: write the words to find, as in text:bakery")
            w = (weight if weight is not None else 1.0) * (-1.0 if sign == "-" else 1.0)
            terms.append(Term("words", body[5:].strip(), w))
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


MAX_WEIGHT = 1000.0  # far beyond any useful emphasis; larger ones overflow into NaN scores


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
        if not math.isfinite(weight) or abs(weight) > MAX_WEIGHT:
            raise QueryError(f"the weight in '{raw}' is too large: use a number up to {MAX_WEIGHT:g}, as in 2:{rest}")
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


_MOVED = {"Searcher", "Hit", "SearchOptions", "SearchResult", "TEXT_CACHE", "CALIBRATION_PROMPTS",
          "EXACT_BELOW", "MIN_ANN_FRACTION", "MAX_ANN_K", "SORTS", "ANN_BUILDS"}


def __getattr__(name: str) -> Any:
    """The searcher moved to core.search; `from .query import Searcher` still works for older callers."""
    if name in _MOVED:
        from . import search

        return getattr(search, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
