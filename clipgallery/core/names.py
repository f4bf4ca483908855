"""File names as the filesystem gives them: stored losslessly in SQLite, shown readably.

On POSIX a name is bytes; Python decodes the bytes that are not UTF-8 as lone surrogates
(U+DC80..U+DCFF, "surrogateescape"). SQLite text must be valid UTF-8, so each such surrogate is
stored as NUL + two hex digits: no real file name contains NUL, so the mapping is reversible and
every UTF-8 name is stored unchanged.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\udc80-\udcff]")
_ESCAPED = re.compile("\x00([0-9a-f]{2})")


def to_db(name: str) -> str:
    """A relpath (possibly with surrogate-escaped bytes) -> text SQLite accepts; from_db undoes it."""
    if not _SURROGATE.search(name):
        return name
    return _SURROGATE.sub(lambda m: f"\x00{ord(m.group()) - 0xDC00:02x}", name)


def from_db(text: str) -> str:
    """Text stored by to_db -> the relpath as os functions take it."""
    if "\x00" not in text:
        return text
    return _ESCAPED.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), text)


def shown(text: str) -> str:
    """For people and for JSON: undecodable bytes become U+FFFD, everything else is kept."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if not re.search(
        "[\ud800-\udc7f\udd00-\udfff]", text) else re.sub("[\ud800-\udfff]", "\ufffd", text)
