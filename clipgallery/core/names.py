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
_ANY_SURROGATE = re.compile("[\ud800-\udfff]")


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
    """For people, JSON and Qt: each undecodable byte (or any other lone surrogate) becomes U+FFFD."""
    return _ANY_SURROGATE.sub("\ufffd", text) if _ANY_SURROGATE.search(text) else text
