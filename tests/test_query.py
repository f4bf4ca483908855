"""Search as a person uses it: the query language, meaning (shapes-tiny), similar photos, filters, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import hash_tree, photo
from PIL import Image

from clipgallery.cli import main
from clipgallery.core.errors import ImageError, LibraryError, QueryError
from clipgallery.core.query import Term, parse_query
from clipgallery.core.search import TEXT_CACHE, Searcher, SearchOptions, filter_listing

# -- the query language ----------------------------------------------------------------------------


def test_plain_words_are_one_text_term():
    q = parse_query("kids on the beach at sunset")
    assert q.terms == (Term("text", "kids on the beach at sunset", 1.0),)


def test_plus_minus_and_weights():
    q = parse_query("beach 2:sunset -0.5:people +dog -red .5:sky")
    assert q.terms == (Term("text", "beach", 1.0), Term("text", "sunset", 2.0), Term("text", "people", -0.5),
                       Term("text", "dog", 1.0), Term("text", "red", -1.0), Term("text", "sky", 0.5))


def test_quoted_phrases():
    q = parse_query('+"blue sky" -2:"red car" a "-quoted" word')
    assert q.terms == (Term("text", 'a -quoted word', 1.0), Term("text", "blue sky", 1.0),
                       Term("text", "red car", -2.0))
    # Times and hyphenated words are words, not weights or subtractions.
    assert parse_query("meeting at 3:00 well-lit").terms == (Term("text", "meeting at 3:00 well-lit", 1.0),)


def test_image_paths_are_image_terms(tmp_path, monkeypatch):
    (tmp_path / "my photos").mkdir()
    img = tmp_path / "my photos" / "star.png"
    Image.new("RGB", (8, 8)).save(img)
    q = parse_query(f'red circle "{img}" -0.5:"{img}"')
    assert q.terms == (Term("text", "red circle", 1.0), Term("image", str(img), 1.0), Term("image", str(img), -0.5))
    # Relative to the library's folder, or to the working folder.
    assert parse_query("star.png", [tmp_path / "my photos"]).terms == (Term("image", str(img), 1.0),)
    monkeypatch.chdir(tmp_path)
    assert parse_query('"my photos/star.png"').terms == (Term("image", str(img), 1.0),)


@pytest.mark.parametrize("text, message", [
    ("", "the query is empty"),
    ("   ", "the query is empty"),
    ('""', "the query is empty"),
    ("-red -blue", "only says what to leave out"),
    ("0:red", "only says what to leave out"),
    ("beach - people", "'-' must be followed by a term"),
    ("beach 2:\"\"", "has nothing after it"),
    ("holiday/IMG_0001.jpg", "image not found: holiday/IMG_0001.jpg"),
])
def test_bad_queries_say_what_is_wrong(text, message):
    with pytest.raises(QueryError, match=message.replace("(", r"\(")):
        parse_query(text)


# -- meaning, with the shapes-tiny model -----------------------------------------------------------


@pytest.fixture(scope="module")
def shapes(shapes_library, embedders):
    lib, truth = shapes_library
    return Searcher(lib, embedders("shapes-tiny")), truth


def ranks_of(hits, truth, cls) -> list[int]:
    return [i for i, h in enumerate(hits) if truth[h.path] == cls]


def test_red_circle_finds_red_circles(shapes):
    s, truth = shapes
    hits = s.search("red circle", k=5)
    assert sum(truth[h.path] == ("red", "circle") for h in hits) >= 4  # precision@5 >= 0.8
    assert s.last_method == "exact"


def test_subtracting_red_pushes_red_circles_down(shapes):
    s, truth = shapes
    n = len(truth)
    plain = ranks_of(s.search("circle", k=n), truth, ("red", "circle"))
    minus = ranks_of(s.search("circle -red", k=n), truth, ("red", "circle"))
    assert len(plain) == len(minus) == 5
    assert np.mean(minus) > np.mean(plain) + 10
    assert all(m > p for m, p in zip(sorted(minus), sorted(plain)))
    # Still about circles: the top results are circles of other colours.
    top = s.search("circle -red", k=5)
    assert sum(truth[h.path][1] == "circle" and truth[h.path][0] != "red" for h in top) >= 4


def test_an_image_term_moves_the_mix(shapes, tmp_path):
    from clipgallery.shapes import draw

    s, truth = shapes
    star = tmp_path / "blue star.png"  # outside the library: encoded on the fly, never added
    draw([("blue", "star")], seed=123_456_789).save(star)
    count_before = s.library.count()
    n = s.library.count()
    before = s.search("red circle", k=n)
    mixed_all = s.search(f'red circle "{star}"', k=n)
    mixed = mixed_all[:10]
    # Every blue star ranks higher once the image is part of the query, and blue stars enter the top 10.
    ranks_before = ranks_of(before, truth, ("blue", "star"))
    ranks_mixed = ranks_of(mixed_all, truth, ("blue", "star"))
    assert all(m < b for m, b in zip(ranks_mixed, ranks_before)), (ranks_before, ranks_mixed)
    assert min(ranks_before) >= 10 and min(ranks_mixed) < 10
    # A mix of both: every top result is red or blue and a circle or a star (red stars rise too),
    # and the text half still holds some red circles.
    assert all(truth[h.path][0] in ("red", "blue") and truth[h.path][1] in ("circle", "star") for h in mixed)
    assert sum(truth[h.path] == ("red", "circle") for h in mixed) >= 1
    assert s.library.count() == count_before
    assert s.library.relpath_of(star) is None


def test_weights_shift_the_balance(shapes):
    s, truth = shapes
    light = s.search("red circle +0.3:star", k=10)
    heavy = s.search("red circle +3:star", k=10)
    stars = [sum(truth[h.path][1] == "star" for h in hits) for hits in (light, heavy)]
    assert stars[1] > stars[0]


# -- similar photos --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["tiny-random", "shapes-tiny"])
def test_similar_finds_the_photo_then_its_resized_copy(tmp_path, make_library, embedders, model):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(40):
        photo(1000 + i, (640, 480)).save(root / f"p{i:02d}.jpg", "JPEG", quality=92)
    original = Image.open(root / "p07.jpg")
    original.resize((400, 300), Image.Resampling.LANCZOS).save(root / "copy_small.jpg", "JPEG", quality=60)
    lib, report = make_library(root, model)
    assert report.indexed == 41
    s = Searcher(lib, embedders(model))
    hits = s.similar(root / "p07.jpg", k=5)
    assert [h.path.name for h in hits[:2]] == ["p07.jpg", "copy_small.jpg"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    by_id = s.similar(hits[0].file_id, k=2)
    assert [h.path for h in by_id] == [h.path for h in hits[:2]]


def test_similar_to_an_image_outside_the_library(tmp_path, make_library, embedders):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(10):
        photo(i).save(root / f"{i}.jpg")
    lib, _ = make_library(root)
    before = hash_tree(root)
    outside = tmp_path / "elsewhere.png"
    photo(3).resize((200, 150)).save(outside)
    s = Searcher(lib, embedders("tiny-random"))
    assert s.similar(outside, k=1)[0].path == root / "3.jpg"
    assert lib.count() == 10 and hash_tree(root) == before
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    with pytest.raises(ImageError, match="not an image"):
        s.similar(bad)
    with pytest.raises(ImageError, match="file not found"):
        s.similar(tmp_path / "missing.jpg")
    with pytest.raises(QueryError, match="not in the library"):
        s.similar(987654)


# -- filters and order -----------------------------------------------------------------------------

DAY = 86400.0


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.fixture
def dated(tmp_path, make_library, embedders):
    """Photos in a/, ab/ and a/deep/, with known dates: mtimes set by os.utime, one from EXIF."""
    root = tmp_path / "photos"
    layout = {"a/1.jpg": "2020-01-10", "a/2.jpg": "2020-06-01", "a/deep/3.jpg": "2021-03-03",
              "ab/4.jpg": "2021-07-07", "ab/5.jpg": "2022-02-02", "top.jpg": "2019-05-05"}
    for i, (rel, day) in enumerate(layout.items()):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        photo(i).save(p, "JPEG")
        os.utime(p, (_ts(day) + 3600, _ts(day) + 3600))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2018:12:24 18:30:00"  # DateTimeOriginal wins over the mtime
    photo(99).save(root / "ab" / "camera.jpg", "JPEG", exif=exif.tobytes())
    os.utime(root / "ab" / "camera.jpg", (_ts("2023-01-01"), _ts("2023-01-01")))
    lib, report = make_library(root)
    assert report.indexed == 7
    return Searcher(lib, embedders("tiny-random")), root


def rels(hits, root) -> set[str]:
    return {h.path.relative_to(root).as_posix() for h in hits}


def test_folder_filter_is_a_subtree_and_a_is_not_ab(dated):
    s, root = dated
    assert rels(s.search("photo", folder="a"), root) == {"a/1.jpg", "a/2.jpg", "a/deep/3.jpg"}
    assert rels(s.search("photo", folder="a/"), root) == {"a/1.jpg", "a/2.jpg", "a/deep/3.jpg"}
    assert rels(s.search("photo", folder="ab"), root) == {"ab/4.jpg", "ab/5.jpg", "ab/camera.jpg"}
    assert rels(s.search("photo", folder=str(root / "a" / "deep")), root) == {"a/deep/3.jpg"}
    assert len(s.search("photo", folder=".")) == 7
    with pytest.raises(QueryError, match="no folder 'nope'"):
        s.search("photo", folder="nope")
    with pytest.raises(QueryError, match="leaves"):
        s.search("photo", folder="../elsewhere")


def test_date_filters_use_exif_then_mtime(dated):
    s, root = dated
    assert rels(s.search("photo", after=_ts("2021-01-01")), root) == {"a/deep/3.jpg", "ab/4.jpg", "ab/5.jpg"}
    assert rels(s.search("photo", before=_ts("2020-01-01")), root) == {"top.jpg", "ab/camera.jpg"}
    assert rels(s.search("photo", after=_ts("2018-12-24"), before=_ts("2018-12-25")), root) == {"ab/camera.jpg"}
    both = s.search("photo", folder="a", after=_ts("2020-03-01"), before=_ts("2021-12-31"))
    assert rels(both, root) == {"a/2.jpg", "a/deep/3.jpg"}
    camera = next(h for h in s.search("photo", k=10) if h.path.name == "camera.jpg")
    assert camera.date == pytest.approx(_ts("2018-12-24T18:30:00"))
    with pytest.raises(QueryError, match="date range is empty"):
        s.search("photo", after=_ts("2022-01-01"), before=_ts("2021-01-01"))


def test_sort_by_date_threshold_k_and_restrict(dated):
    s, root = dated
    by_date = s.search("photo", sort="date")
    assert [h.date for h in by_date] == sorted((h.date for h in by_date), reverse=True)
    assert by_date[0].path == root / "ab" / "5.jpg"
    by_score = s.search("photo")
    assert [h.score for h in by_score] == sorted((h.score for h in by_score), reverse=True)
    cut = (by_score[2].score + by_score[3].score) / 2
    assert [h.path for h in s.search("photo", threshold=cut)] == [h.path for h in by_score[:3]]
    assert [h.path for h in s.search("photo", k=2)] == [h.path for h in by_score[:2]]
    keep = {by_score[-1].file_id, by_score[-2].file_id}
    assert {h.file_id for h in s.search("photo", restrict=keep)} == keep
    assert s.search("photo", restrict=set()) == []
    with pytest.raises(QueryError, match="at least 1"):
        s.search("photo", k=0)
    with pytest.raises(QueryError, match="unknown sort order"):
        s.search("photo", sort="size")


def test_sort_oldest_first_and_by_name(dated):
    s, root = dated
    oldest = s.search("photo", sort="oldest")
    assert [h.path.relative_to(root).as_posix() for h in oldest] == [
        "ab/camera.jpg", "top.jpg", "a/1.jpg", "a/2.jpg", "a/deep/3.jpg", "ab/4.jpg", "ab/5.jpg"]
    assert [h.path for h in oldest] == [h.path for h in reversed(s.search("photo", sort="date"))]
    by_name = s.search("photo", sort="name")  # file names, whatever their folder
    assert [h.path.name for h in by_name] == ["1.jpg", "2.jpg", "3.jpg", "4.jpg", "5.jpg", "camera.jpg", "top.jpg"]
    # The sort orders what the filters kept: k takes the best k, then orders them by date.
    best2 = {h.path for h in s.search("photo", k=2)}
    two = s.search("photo", k=2, sort="oldest")
    assert {h.path for h in two} == best2 and two[0].date <= two[1].date


def test_sort_keys_of_listings_natural_names_and_unknown_dates(tmp_path):
    entries = [("b/IMG_10.jpg", 1, 300.0), ("a/img_2.jpg", 2, None), ("c/IMG_1.jpg", 3, 100.0),
               ("a/IMG_10.jpg", 4, 200.0)]
    keep = filter_listing(entries, SearchOptions(sort="name"), tmp_path)
    assert [entries[i][0] for i in keep] == ["c/IMG_1.jpg", "a/img_2.jpg", "a/IMG_10.jpg", "b/IMG_10.jpg"]
    keep = filter_listing(entries, SearchOptions(sort="oldest"), tmp_path)
    assert [entries[i][1] for i in keep] == [3, 4, 1, 2]  # the photo of unknown date last
    keep = filter_listing(entries, SearchOptions(sort="date"), tmp_path)
    assert [entries[i][1] for i in keep] == [1, 4, 3, 2]
    keep = filter_listing(entries, SearchOptions(folder="a", sort="oldest"), tmp_path)
    assert [entries[i][1] for i in keep] == [4, 2]
    assert filter_listing(entries, SearchOptions(), tmp_path) == [0, 1, 2, 3]  # the listing's own order


def test_query_vectors_are_cached_and_terms_can_cancel(dated):
    s, _ = dated
    TEXT_CACHE.clear()
    s.search("sunset over water")
    cached = TEXT_CACHE.get((s.embedder.spec, s.embedder.device, "sunset over water"))
    assert cached is not None
    assert np.array_equal(s.text_vectors(["sunset over water"])[0], cached)
    with pytest.raises(QueryError, match="cancel each other out"):
        s.search("red -red")


def test_new_files_are_searchable_after_reindexing(dated, embedders):
    from clipgallery.core.indexer import index_folder

    s, root = dated
    photo(500).save(root / "a" / "new.jpg")
    index_folder(s.library, embedders("tiny-random"))
    assert "a/new.jpg" in rels(s.search("photo", folder="a"), root)
    (root / "ab" / "4.jpg").unlink()
    index_folder(s.library, embedders("tiny-random"))
    assert "ab/4.jpg" not in rels(s.search("photo", k=50), root)


# -- the command line ------------------------------------------------------------------------------


@pytest.fixture
def cli_library(tmp_path, make_library):
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for i in range(6):
        photo(i).save(root / f"{i}.jpg")
    photo(6).save(root / "sub" / "6.jpg")
    os.utime(root / "sub" / "6.jpg", (_ts("2015-05-05"), _ts("2015-05-05")))
    lib, _ = make_library(root)
    return root, lib.dir


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_search_json(cli_library, capsys):
    root, libdir = cli_library
    code, out, err = run_cli(capsys, "--library-dir", libdir, "search", root, "kids", "on", "the", "beach",
                             "-red", "-k", "3", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert len(data) == 3 and all({"path", "score", "date"} <= set(d) for d in data)
    assert all(Path(d["path"]).is_absolute() and Path(d["path"]).is_file() for d in data)
    assert [d["score"] for d in data] == sorted((d["score"] for d in data), reverse=True)
    datetime.fromisoformat(data[0]["date"])

    code, out, _ = run_cli(capsys, "--library-dir", libdir, "search", root, "beach", "--in", "sub", "--json")
    assert code == 0 and [d["path"] for d in json.loads(out)] == [str(root / "sub" / "6.jpg")]
    code, out, _ = run_cli(capsys, "--library-dir", libdir, "search", "--before", "2016-01-01", root, "beach",
                           "--json", "--exact", "--sort", "date", "--threshold", "-1")
    assert code == 0 and [d["path"] for d in json.loads(out)] == [str(root / "sub" / "6.jpg")]


def test_cli_search_sort_oldest_and_name(cli_library, capsys):
    root, libdir = cli_library
    code, out, err = run_cli(capsys, "--library-dir", libdir, "search", root, "beach", "--sort", "oldest",
                             "--threshold", "-1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data[0]["path"] == str(root / "sub" / "6.jpg")  # 2015: older than the photos drawn today
    assert [d["date"] for d in data] == sorted(d["date"] for d in data)
    code, out, err = run_cli(capsys, "--library-dir", libdir, "search", root, "beach", "--sort", "name",
                             "--threshold", "-1", "--json")
    assert code == 0, err
    assert [Path(d["path"]).name for d in json.loads(out)] == [f"{i}.jpg" for i in range(7)]


def test_cli_options_after_the_query_and_terms_that_look_like_options(cli_library, capsys):
    root, libdir = cli_library
    code, out, err = run_cli(capsys, "--library-dir", libdir, "search", root, "beach", "-kids", "--json", "-k", "2")
    assert code == 0, err
    assert len(json.loads(out)) == 2
    code, out, _ = run_cli(capsys, "--library-dir", libdir, "search", root, "beach", "-k=1")
    assert code == 0 and len(out.strip().splitlines()) == 7  # "-k=1" is a term (subtract "k=1"), not -k 1


def test_cli_text_output_and_similar(cli_library, capsys):
    root, libdir = cli_library
    code, out, _ = run_cli(capsys, "--library-dir", libdir, "similar", root, root / "3.jpg", "-k", "2")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    score, path = lines[0].split("  ", 1)
    assert float(score) == pytest.approx(1.0, abs=1e-3) and path == str(root / "3.jpg")
    code, out, _ = run_cli(capsys, "--library-dir", libdir, "similar", root, "3.jpg", "-k", "1", "--json")
    assert code == 0 and json.loads(out)[0]["path"] == str(root / "3.jpg")  # relative to PATH


def test_cli_bad_input_is_one_clear_error(cli_library, capsys, tmp_path):
    root, libdir = cli_library
    (tmp_path / "empty").mkdir()
    code, out, err = run_cli(capsys, "--library-dir", tmp_path / "none", "search", tmp_path / "empty", "beach")
    assert code == 1 and out == "" and "has not been indexed yet" in err
    cases = [
        (["search", root], "the query is empty"),
        (["search", root, "-people"], "only says what to leave out"),
        (["search", root, "beach", "--model", "NoSuchNet"], "was not indexed with model NoSuchNet"),
        (["similar", root, tmp_path / "missing.jpg"], "file not found"),
    ]
    text_file = tmp_path / "fake.jpg"
    text_file.write_text("hello")
    cases.append((["similar", root, text_file], "not an image (it is a text file)"))
    cases.append((["search", root, "beach", text_file], "not an image (it is a text file)"))
    for args, message in cases:
        code, out, err = run_cli(capsys, "--library-dir", libdir, *args)
        assert code == 1, (args, err)
        assert out == ""
        assert message in err.strip().splitlines()[-1], (args, err)


def test_cli_tag_filter_is_clear_when_unavailable_or_unknown(cli_library, capsys):
    root, libdir = cli_library
    code, out, err = run_cli(capsys, "--library-dir", libdir, "search", root, "beach", "--tag", "no-such-tag")
    assert code == 1 and out == ""
    try:
        import clipgallery.core.tagging  # noqa: F401
    except ImportError:
        assert "filtering by tag is not available" in err
    else:
        assert "no-such-tag" in err and "Traceback" not in err


@pytest.mark.slow  # runs clipgallery in a subprocess
def test_cli_in_a_subprocess_keeps_stdout_pure_json(cli_library, tmp_path):
    root, libdir = cli_library
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CLIPGALLERY_MODEL_CACHE": str(tmp_path / "model-cache")}

    def search():
        return subprocess.run([sys.executable, "-m", "clipgallery.cli", "--library-dir", str(libdir), "search",
                               str(root), "beach", "--json"], capture_output=True, text=True, timeout=300, env=env)

    first, second = search(), search()
    for out in (first, second):
        assert out.returncode == 0, out.stderr
        assert len(json.loads(out.stdout)) == 7
    # The first run loads torch and builds the fast text encoder (saying so on stderr); the second uses it.
    assert "Loading model" in first.stderr and "Built the fast text encoder" in first.stderr
    assert "Loading model" not in second.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert [h["path"] for h in a] == [h["path"] for h in b]
    assert all(abs(x["score"] - y["score"]) <= 1e-4 for x, y in zip(a, b))


def test_library_errors_reach_the_searcher(tmp_path, embedders):
    from clipgallery.core.library import Library

    (tmp_path / "p").mkdir()
    lib = Library(tmp_path / "p", tmp_path / "lib")
    with pytest.raises(LibraryError, match="no indexed photos yet"):
        Searcher(lib, embedders("tiny-random")).search("beach")
    lib.close()
