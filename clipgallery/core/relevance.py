"""Where the matches of a search end: an adaptive relevance cut from the scores themselves.

A CLIP score means little on its own (a good match scores 0.3 with one model and 0.65 with
another), so a fixed threshold either shows everything or nothing. Two signs of where the
matches end are read from the scores of each search:

- a gap: the sorted scores drop by far more than the spacing around that point (full matches,
  then partial ones: "red circle" over red circles, then orange circles and red squares);
- the bulk: most photos of a library do not match a given search, so their scores form the bulk
  of the distribution; a score that stands out of it (median + Z robust standard deviations, from
  a sample of the whole library) is a match. This is what a large model's narrow, unimodal score
  distributions show.

The cut is the lower of the two (each alone can miss matches), and never above the best score,
so a search always shows its best photo.
"""

from __future__ import annotations

import numpy as np

AUTO = "auto"
Z = 3.0  # robust z-score a match must reach above the bulk of the library
SAMPLE = 4096  # photos scored to estimate the bulk
GAP_RATIO = 8.0  # a gap this many times the spacing around it ends the matches
NEIGHBOURS = 5  # spacings on each side that set "the spacing around it"
IDENTICAL = 0.999  # the query photo itself, in a "more like this" search
EPS = 1e-4


def background_sample(n: int, seed: int = 0) -> np.ndarray:
    """Rows to score for the bulk estimate: all of a small library, a fixed sample of a large one."""
    if n <= SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, SAMPLE, replace=False))


def adaptive_threshold(top: np.ndarray, background: np.ndarray, z: float = Z) -> float:
    """The score a photo needs to count as a match of this search.

    `top`: the best scores of the search (any order, as many as will be shown at most);
    `background`: the scores of a sample of the whole library.
    """
    top = np.sort(np.asarray(top, dtype=np.float64))[::-1]
    if len(top) == 0:
        return float("inf")
    bg = np.asarray(background, dtype=np.float64)
    if len(bg) == 0:
        bg = top
    median, sigma = _robust(bg)
    cut = min(median + z * sigma, gap_cut(top, floor=median + sigma))
    return float(min(cut, top[0]))


def _robust(scores: np.ndarray) -> tuple[float, float]:
    median = float(np.median(scores))
    return median, max(1.4826 * float(np.median(np.abs(scores - median))), EPS)


def gap_cut(top: np.ndarray, floor: float = -np.inf) -> float:
    """Midway across the widest gap, above `floor`, that is GAP_RATIO times the spacing of the scores
    just above it; inf when there is none. Comparing with the spacing above (a tier of matches is
    tight) rather than below keeps the top of a smooth distribution, whose spacings widen towards
    the best score, from looking like a gap."""
    start = int(np.count_nonzero(top >= IDENTICAL))  # the query photo says nothing about the others
    s = top[start:]
    gaps = s[:-1] - s[1:]
    best, best_gap = -1, 0.0
    for i in range(1, len(gaps)):  # at least one spacing above: two photos kept
        if s[i] < floor:
            break
        g = float(gaps[i])
        above = gaps[max(0, i - NEIGHBOURS):i]
        if g > best_gap and g >= GAP_RATIO * max(float(np.median(above)), EPS):
            best, best_gap = i, g
    return float((s[best] + s[best + 1]) / 2) if best >= 0 else float("inf")
