"""CLIP's byte-level BPE tokenizer (open_clip's SimpleTokenizer, clean="lower") without torch.

The same merges file, the same text cleaning and the same truncation, so token ids equal
open_clip's; tests check that on many texts. Output is a numpy int64 array.
"""

from __future__ import annotations

import gzip
import html
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import numpy as np

MERGES_FILE = "bpe_simple_vocab_16e6.txt.gz"
_MERGE_COUNT = 49152 - 256 - 2
_SPECIAL = ("<start_of_text>", "<end_of_text>")


def open_clip_merges() -> Path | None:
    """open_clip's merges file, found without importing open_clip (which imports torch)."""
    from importlib.util import find_spec

    spec = find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / MERGES_FILE
        if path.is_file():
            return path
    return None


@cache
def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


class ClipTokenizer:
    """texts -> [n, context_length] int64 ids: <start_of_text> tokens <end_of_text>, zero padded.

    The vocabulary comes from the merges file (about 0.3 s to read and index) or from a small
    SQLite table made from it once (make_table), which a query's process opens in a millisecond
    and asks only for the pairs its words contain.
    """

    def __init__(self, rank: Callable[[tuple[str, str]], int | None], token_id: Callable[[str], int],
                 context_length: int = 77):
        import regex

        self._rank, self._token_id = rank, token_id
        self.sot_id, self.eot_id = token_id("<start_of_text>"), token_id("<end_of_text>")
        self.context_length = context_length
        self._cache: dict[str, list[int]] = {}
        self._ranks: dict[tuple[str, str], int | None] = {}
        self._byte_encoder = _bytes_to_unicode()
        self._pat = regex.compile("|".join(_SPECIAL) + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                                  regex.IGNORECASE)

    @classmethod
    def from_merges(cls, merges_path: Path, context_length: int = 77) -> ClipTokenizer:
        merges, vocab = _read_merges(merges_path)
        encoder = {tok: i for i, tok in enumerate(vocab)}
        ranks = {m: i for i, m in enumerate(merges)}
        return cls(ranks.get, encoder.__getitem__, context_length)

    @classmethod
    def from_table(cls, table: Path, context_length: int = 77) -> ClipTokenizer:
        import sqlite3

        conn = sqlite3.connect(f"file:{table}?mode=ro", uri=True, check_same_thread=False)

        def rank(pair: tuple[str, str]) -> int | None:
            row = conn.execute("SELECT rank FROM merges WHERE pair=?", (f"{pair[0]} {pair[1]}",)).fetchone()
            return row[0] if row else None

        def token_id(token: str) -> int:
            row = conn.execute("SELECT id FROM vocab WHERE token=?", (token,)).fetchone()
            if row is None:
                raise KeyError(token)
            return row[0]

        return cls(rank, token_id, context_length)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.context_length), np.int64)
        for i, text in enumerate(texts):
            ids = [self.sot_id, *self.encode(text), self.eot_id]
            if len(ids) > self.context_length:
                ids = ids[:self.context_length]
                ids[-1] = self.eot_id
            out[i, :len(ids)] = ids
        return out

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for token in self._pat.findall(_clean(text)):
            chars = "".join(self._byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self._bpe(chars))
        return ids

    def _rank_of(self, pair: tuple[str, str]) -> float:
        if pair not in self._ranks:
            self._ranks[pair] = self._rank(pair)
        r = self._ranks[pair]
        return float("inf") if r is None else r

    def _bpe(self, token: str) -> list[int]:
        """Merge the lowest-ranked adjacent pair until none is in the table (CLIP's BPE)."""
        hit = self._cache.get(token)
        if hit is not None:
            return hit
        if token in _SPECIAL:
            return [self._token_id(token)]
        word = (*token[:-1], token[-1] + "</w>")
        while len(word) > 1:
            best = min(set(zip(word, word[1:])), key=self._rank_of)
            if self._rank_of(best) == float("inf"):
                break
            first, second = best
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        ids = [self._token_id(w) for w in word]
        self._cache[token] = ids
        return ids


def _read_merges(merges_path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    with gzip.open(merges_path) as f:
        lines = f.read().decode("utf-8").split("\n")[1:_MERGE_COUNT + 1]
    merges = [(pair[0], pair[1]) for pair in (line.split() for line in lines)]
    byte_chars = list(_bytes_to_unicode().values())
    vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges] + list(_SPECIAL)
    return merges, vocab


def make_table(merges_path: Path, table: Path) -> None:
    """Write the vocabulary as SQLite (pair -> rank, token -> id) for ClipTokenizer.from_table."""
    import sqlite3

    merges, vocab = _read_merges(merges_path)
    conn = sqlite3.connect(table)
    try:
        conn.executescript("CREATE TABLE merges(pair TEXT PRIMARY KEY, rank INTEGER NOT NULL) WITHOUT ROWID;"
                           "CREATE TABLE vocab(token TEXT PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID;")
        conn.executemany("INSERT INTO merges VALUES(?, ?)", ((f"{a} {b}", i) for i, (a, b) in enumerate(merges)))
        conn.executemany("INSERT OR IGNORE INTO vocab VALUES(?, ?)", ((t, i) for i, t in enumerate(vocab)))
        conn.commit()
    finally:
        conn.close()


_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - {"&"}


def _clean(text: str) -> str:
    """open_clip's "lower" cleaning: ftfy, HTML entities unescaped twice, whitespace collapsed, lower case.

    ftfy (0.2 s to import) changes nothing in printable ASCII without '&' (it fixes mojibake,
    control characters, entities, quotes and widths, none of which such text has), so a typical
    typed query skips it; tests check that against ftfy itself.
    """
    if not all(c in _PLAIN for c in text.replace("\t", " ").replace("\n", " ")):
        import ftfy

        text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return " ".join(text.split()).strip().lower()
