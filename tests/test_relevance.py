"""The adaptive relevance cut: a search shows its matches, not the whole library."""

from __future__ import annotations

import numpy as np
import pytest

from clipgallery.core.errors import QueryError
from clipgallery.core.query import Searcher
from clipgallery.core.relevance import AUTO, adaptive_threshold
from clipgallery.shapes import COLOURS, SHAPES


@pytest.mark.parametrize("query, wanted", [
    ("red circle", {("red", "circle")}),
    ("blue star", {("blue", "star")}),
    ("yellow triangle", {("yellow", "triangle")}),
    ("circle", {(c, "circle") for c in COLOURS}),
    ("something green", {("green", s) for s in SHAPES}),
])
def test_the_default_cut_keeps_exactly_the_matching_drawings(shapes_library, embedders, query, wanted):
    lib, truth = shapes_library
    hits = Searcher(lib, embedders("shapes-tiny")).search(query, k=2000, threshold=AUTO)
    shown = [truth[h.path.resolve()] for h in hits]
    assert sum(c in wanted for c in shown) == sum(c in wanted for c in truth.values())  # every match
    # ...and little else: at most one drawing in five that the model itself scores among them
    # (one red square scores between the red circles), never the library (120 drawings).
    assert sum(c in wanted for c in shown) >= 0.8 * len(shown), shown


def test_newest_first_sorts_the_matches_not_the_library(shapes_library, embedders):
    lib, truth = shapes_library
    s = Searcher(lib, embedders("shapes-tiny"))
    by_score = s.search("red circle", k=2000, threshold=AUTO)
    by_date = s.search("red circle", k=2000, threshold=AUTO, sort="date")
    assert {h.file_id for h in by_date} == {h.file_id for h in by_score}
    dates = [h.date for h in by_date]
    assert dates == sorted(dates, reverse=True)


def test_more_like_this_keeps_more_than_the_photo_itself(shapes_library, embedders):
    lib, truth = shapes_library
    s = Searcher(lib, embedders("shapes-tiny"))
    first = next(p for p, c in sorted(truth.items()) if c == ("blue", "star"))
    hits = s.similar(first, k=2000, threshold=AUTO)
    assert hits[0].path.resolve() == first and len(hits) > 1
    assert all("blue" in truth[h.path.resolve()] or "star" in truth[h.path.resolve()] for h in hits)


def test_the_cut_on_plain_score_distributions():
    rng = np.random.default_rng(0)
    bulk = rng.normal(0.2, 0.02, 5000)
    matches = rng.normal(0.32, 0.01, 40)
    t = adaptive_threshold(np.concatenate([bulk[:500], matches]), bulk)
    assert (matches >= t).mean() > 0.95 and (bulk >= t).mean() < 0.005
    # Nothing stands out: a handful at most (the tail of the bulk), never an empty page.
    top = np.sort(bulk)[::-1][:200]
    t = adaptive_threshold(top, bulk)
    assert 1 <= (bulk >= t).sum() <= 0.005 * len(bulk)
    assert adaptive_threshold(np.array([0.21, 0.2]), bulk) == pytest.approx(0.21)  # the best is always shown
    # Full matches, then partial ones: the dominant gap ends the matches.
    tiers = np.array([0.66, 0.655, 0.65, 0.46, 0.41, 0.40, 0.39, 0.385, 0.38, 0.37])
    wide = rng.normal(0.1, 0.25, 1000)  # a small model's spread-out scores: no narrow bulk to stand out of
    assert 0.46 < adaptive_threshold(tiers, wide) < 0.65


def test_a_threshold_that_is_not_a_number_is_refused(shapes_library, embedders):
    lib, _ = shapes_library
    with pytest.raises(QueryError, match="must be a number"):
        Searcher(lib, embedders("shapes-tiny")).search("red", threshold="most")
    with pytest.raises(QueryError):
        Searcher(lib, embedders("shapes-tiny")).search("red", threshold=float("nan"))


def test_cli_threshold_auto(shapes_library, capsys):
    import json

    from clipgallery.cli import main

    lib, truth = shapes_library
    assert main(["search", str(lib.root), "red", "circle", "--threshold", "auto", "-k", "500",
                 "--library-dir", str(lib.dir), "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    shown = [truth[__import__("pathlib").Path(h["path"]).resolve()] for h in hits]
    assert shown.count(("red", "circle")) == 5 and shown.count(("red", "circle")) >= 0.8 * len(shown)


def test_a_tier_of_two_is_found():
    """Two photos of what was asked, then the rest: both are shown, not just the best one."""
    rng = np.random.default_rng(1)
    top = np.array([0.62, 0.615, 0.45, 0.44, 0.436, 0.43, 0.42, 0.415, 0.41])
    wide = rng.normal(0.1, 0.25, 1000)  # a small model's spread-out scores
    t = adaptive_threshold(top, wide)
    assert 0.45 < t <= 0.615
