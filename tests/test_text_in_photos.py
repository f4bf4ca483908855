"""Text in photos: words drawn at test time are read (RapidOCR), found by text:WORD, blended into plain
queries without burying a strong CLIP match, and deleted by --no-text."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import photo
from PIL import Image, ImageDraw, ImageFont

from clipgallery.core.errors import QueryError
from clipgallery.core.search import Searcher
from clipgallery.core.store.text import ReadResult, TextLine

pytest.importorskip("rapidocr_onnxruntime", reason="rapidocr-onnxruntime is not installed")

FONT_DIRS = [Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts"), Path("/Library/Fonts"),
             Path("C:/Windows/Fonts")]


def fonts() -> list[Path]:
    """Every TrueType font on the machine, the DejaVu family first (Debian's fonts-dejavu-core)."""
    found = []
    for d in FONT_DIRS:
        if d.is_dir():
            found += sorted(d.rglob("*.ttf"))
    return sorted(set(found), key=lambda p: (not p.name.startswith("DejaVu"), p.name))


def font(index: int, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    ttf = fonts()
    if ttf:
        return ImageFont.truetype(str(ttf[index % len(ttf)]), size)
    return ImageFont.load_default(size=size)  # Pillow's own scalable font


def sign(seed: int, word: str, font_index: int, size: int, angle: float, light_on_dark: bool,
         canvas: tuple[int, int] = (800, 600)) -> Image.Image:
    """A photo-like background with a sign holding `word`, turned by `angle` degrees."""
    im = photo(seed, canvas)
    f = font(font_index, size)
    box = ImageDraw.Draw(im).textbbox((0, 0), word, font=f)
    w, h = box[2] - box[0] + size, box[3] - box[1] + size
    panel = Image.new("RGBA", (w, h), (25, 30, 40, 255) if light_on_dark else (245, 240, 225, 255))
    ImageDraw.Draw(panel).text((size // 2 - box[0], size // 2 - box[1]), word, font=f,
                               fill=(250, 250, 240, 255) if light_on_dark else (20, 20, 25, 255))
    panel = panel.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
    im.paste(panel, ((canvas[0] - panel.width) // 2, (canvas[1] - panel.height) // 3), panel)
    return im


# word, font, size, angle, light on dark
SIGNS = [
    ("BAKERY", 0, 64, 0, True),
    ("harbour", 1, 40, 8, False),
    ("Pharmacy", 2, 52, -12, True),
    ("RECEIPT", 3, 34, 0, False),
]


@pytest.fixture(scope="module")
def read_library(tmp_path_factory, embedders):
    """Four signs among six photos without text, indexed with tiny-random, then read."""
    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library
    from clipgallery.core.textread import read_folder

    root = tmp_path_factory.mktemp("text-photos")
    paths = {}
    for i, (word, fi, size, angle, light) in enumerate(SIGNS):
        p = root / f"sign_{i}.jpg"
        sign(100 + i, word, fi, size, angle, light).save(p, "JPEG", quality=90)
        paths[word] = p
    for i in range(6):
        photo(200 + i, (800, 600)).save(root / f"plain_{i}.jpg", "JPEG", quality=90)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    lib = Library(root, tmp_path_factory.mktemp("text-lib"))
    report = index_folder(lib, embedders("tiny-random"), batch_size=16)
    assert [f.path.name for f in report.failed] == ["broken.jpg"]
    lib.text.set_enabled(True)
    text_report = read_folder(lib, batch_size=4)
    return lib, paths, report, text_report


@pytest.mark.slow
def test_drawn_words_are_found_first_among_photos_without_text(read_library, embedders):
    lib, paths, _, report = read_library
    assert report.failed == [] and not report.cancelled
    assert report.with_text == len(SIGNS)
    assert report.read + report.gated == 10  # every photo was looked at once
    s = Searcher(lib, embedders("tiny-random"))
    for word, p in paths.items():
        for asked in (word, word.lower(), word.upper()):
            hits = s.search(f"text:{asked}", k=5)
            assert hits and hits[0].path == p, (asked, [(h.path.name, h.text) for h in hits])
            assert word.lower() in hits[0].text.lower()
            assert all(h.path.name.startswith("sign_") for h in hits)


@pytest.mark.slow
def test_small_ocr_slips_and_prefixes_still_match(read_library, embedders):
    lib, paths, _, _ = read_library
    s = Searcher(lib, embedders("tiny-random"))
    assert s.search("text:pharmacv")[0].path == paths["Pharmacy"]  # one misread letter
    assert s.search("text:harbor")[0].path == paths["harbour"]  # a dropped letter (US spelling)
    assert s.search("text:bake")[0].path == paths["BAKERY"]  # a prefix
    assert s.search("text:zebra") == []


@pytest.mark.slow
def test_text_terms_combine_with_the_rest_of_the_query(read_library, embedders):
    lib, paths, _, _ = read_library
    s = Searcher(lib, embedders("tiny-random"))
    hits = s.search("text:receipt +sunset", k=20)
    assert [h.path for h in hits] == [paths["RECEIPT"]]
    assert hits[0].text and "receipt" in hits[0].text.lower()
    left = {h.path for h in s.search("text:bakery -text:bakery", k=20)}
    assert left == set()
    others = {h.path for h in s.search("sunset -text:receipt", k=20)}
    assert paths["RECEIPT"] not in others and len(others) == 9
    with pytest.raises(QueryError):
        s.search("text:")


@pytest.mark.slow
def test_the_read_pass_does_nothing_twice_and_a_broken_image_is_a_reported_failure(read_library, embedders):
    from clipgallery.core.textread import read_folder

    lib, paths, report, _ = read_library
    again = read_folder(lib)
    assert (again.read, again.gated, again.copied, again.failed) == (0, 0, 0, [])
    assert lib.failed_files() == [("broken.jpg", report.failed[0].error)]


def test_a_photo_that_breaks_after_indexing_is_reported_not_fatal(tmp_path, make_library):
    from clipgallery.core.textread import read_folder

    root = tmp_path / "p"
    root.mkdir()
    photo(1, (320, 240)).save(root / "a.jpg", quality=90)
    photo(2, (320, 240)).save(root / "b.jpg", quality=90)
    lib, _ = make_library(root)
    lib.text.set_enabled(True)
    (root / "b.jpg").write_bytes(b"\xff\xd8\xff broken since")  # damaged after it was indexed
    report = read_folder(lib)
    assert [f.path.name for f in report.failed] == ["b.jpg"]
    assert report.read + report.gated == 1
    assert not lib.text.was_read(lib.file_ids(["b.jpg"])["b.jpg"])  # tried again next run



@pytest.mark.slow
def test_photos_gated_at_once_read_each_content_once_and_every_copy_gets_its_lines(tmp_path, make_library):
    """Two workers, batches of three: a copy of a photo that failed is tried itself, copies inside a
    batch and across batches are read once, and every photo is accounted for exactly once."""
    from clipgallery.core.textread import TextReader, read_folder

    root = tmp_path / "p"
    root.mkdir()
    sign(11, "CAFE", 0, 60, 0, False, (480, 360)).save(root / "a0.jpg", quality=90)
    data = (root / "a0.jpg").read_bytes()
    for name in ("a1.jpg", "a2.jpg", "z9.jpg"):  # the same bytes: two in a0's batch, one in the last
        (root / name).write_bytes(data)
    for i in range(5):
        photo(20 + i, (480, 360)).save(root / f"m{i}.jpg", quality=90)
    lib, _ = make_library(root)
    lib.text.set_enabled(True)
    (root / "a0.jpg").write_bytes(b"\xff\xd8\xff broken since")  # damaged after it was indexed
    reader = TextReader()
    looked_at: list[tuple[int, int]] = []
    gate = reader.gate_boxes
    reader.gate_boxes = lambda im: looked_at.append(im.size) or gate(im)  # type: ignore[method-assign]
    report = read_folder(lib, reader, batch_size=3, workers=2)
    assert (report.read, report.gated, report.copied, report.with_text) == (1, 5, 2, 1)
    assert [f.path.name for f in report.failed] == ["a0.jpg"]
    assert len(looked_at) == 6  # a1 once for its three copies, each plain photo once
    ids = lib.file_ids(["a0.jpg", "a1.jpg", "a2.jpg", "z9.jpg", "m0.jpg"])
    assert not lib.text.was_read(ids["a0.jpg"])
    for name in ("a1.jpg", "a2.jpg", "z9.jpg"):
        assert [ln.text.upper() for ln in lib.text.lines(ids[name])] == ["CAFE"], name
    assert lib.text.was_read(ids["m0.jpg"]) and lib.text.lines(ids["m0.jpg"]) == []

@pytest.mark.slow
def test_no_text_deletes_everything_read_and_the_cli_reports_it(tmp_path, capsys):
    import signal

    from clipgallery.cli import main

    root = tmp_path / "p"
    root.mkdir()
    sign(7, "CAFE", 0, 60, 0, False, (480, 360)).save(root / "cafe.jpg", quality=90)
    photo(8, (480, 360)).save(root / "plain.jpg", quality=90)
    base = ["--library-dir", str(tmp_path / "lib")]
    handler = signal.getsignal(signal.SIGINT)

    def run(*args, rc=0):
        capsys.readouterr()
        try:
            assert main([*base, *args]) == rc
        finally:
            signal.signal(signal.SIGINT, handler)  # index installs its Ctrl-C handler
        return capsys.readouterr()

    index = json.loads(run("index", str(root), "--model", "tiny-random", "--text", "--json").out)
    assert index["text"]["with_text"] == 1 and index["text"]["failed"] == []
    hits = json.loads(run("search", str(root), "text:cafe", "--model", "tiny-random", "--json").out)
    assert [Path(h["path"]).name for h in hits] == ["cafe.jpg"]
    assert set(hits[0]) >= {"path", "score", "date", "text"} and "CAFE" in hits[0]["text"].upper()
    lines = json.loads(run("text", str(root), "cafe.jpg", "--json").out)["lines"]
    assert len(lines) == 1 and all(0 <= v <= 1 for pt in lines[0]["box"] for v in pt)
    info = json.loads(run("info", str(root), "--json").out)["text"]
    assert info == {"enabled": True, "read": 2, "with_text": 1, "lines": 1}

    # Remembered: a plain index run reads a new photo too.
    sign(9, "MARKET", 1, 56, 0, True, (480, 360)).save(root / "market.jpg", quality=90)
    again = json.loads(run("index", str(root), "--model", "tiny-random", "--json").out)
    assert again["text"]["with_text"] == 1

    run("index", str(root), "--model", "tiny-random", "--no-text", "--json")
    db = sqlite3.connect(tmp_path / "lib" / "library.sqlite")
    assert [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("text_lines", "text_read", "text_fts")] == [0, 0, 0]
    db.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "lib").glob("library.sqlite*"))
    assert b"CAFE" not in raw and b"MARKET" not in raw  # overwritten, not left in free pages
    info = json.loads(run("info", str(root), "--json").out)["text"]
    assert info["enabled"] is False and info["lines"] == 0
    failed = run("search", str(root), "text:cafe", "--model", "tiny-random", rc=1)
    assert "--text" in failed.err and "Traceback" not in failed.err


# -- blending a plain query with the text (no OCR needed: the lines are stored directly) -------------


@pytest.mark.slow
def test_written_words_lift_a_photo_without_burying_the_strong_clip_match(tmp_path, make_library, embedders):
    from clipgallery.core import textsearch
    from clipgallery.shapes import write_folder

    root = tmp_path / "shapes"
    truth = write_folder(root, per_class=2, seed=4_200_000)
    lib, _ = make_library(root, "shapes-tiny")
    s = Searcher(lib, embedders("shapes-tiny"))
    plain = s.search("red circle", k=len(truth))
    assert truth[plain[0].path] == ("red", "circle")
    ids = [h.file_id for h in plain]
    # A blue square in the lower half of the ranking has "Red circle" written on it.
    lifted = next(h for h in plain[len(plain) // 2:] if truth[h.path] == ("blue", "square"))
    before = ids.index(lifted.file_id)
    store = lib.text
    store.save([ReadResult(lifted.file_id, _hash(lib, lifted.file_id),
                           (TextLine("Red circle cafe", ((0.1, 0.1), (0.5, 0.1), (0.5, 0.2), (0.1, 0.2)), 0.95),),
                           "read")])
    blended = s.search("red circle", k=len(truth))
    order = [h.file_id for h in blended]
    after = order.index(lifted.file_id)
    assert after < before  # it helps ...
    assert blended[0].file_id == plain[0].file_id  # ... and the strong CLIP match stays on top
    assert blended[after].text == "Red circle cafe"
    # The bound of the docstring: lifted by at most half the gap from the median to the best.
    q = s.query_vector("red circle")
    _, mat = lib.vectors(lib.model_id("shapes-tiny"))
    clip_scores = mat @ q
    beta = textsearch.BLEND * (clip_scores.max() - np.median(clip_scores))
    assert blended[after].score == pytest.approx(lifted.score + beta, abs=1e-5)
    # Other photos keep their CLIP score and their relative order.
    rest_before = [i for i in ids if i != lifted.file_id]
    rest_after = [i for i in order if i != lifted.file_id]
    assert rest_before == rest_after


def _hash(lib, fid):
    return lib.conn.execute("SELECT content_hash FROM files WHERE id=?", (fid,)).fetchone()[0]


def test_matching_rules():
    from clipgallery.core.textsearch import line_quality, word_quality

    assert word_quality("bakery", "bakery") == 1.0
    assert 0 < word_quality("bakery", "bakcry") < 1.0
    assert word_quality("cat", "cot") == 0.0  # short words must be exact
    assert word_quality("bak", "bakery") > 0
    assert line_quality(["fresh", "bread"], "FRESH BREAD daily") > 0.9
    assert line_quality(["fresh", "bread"], "bread, fresh") == 0.0  # a phrase keeps its order
    assert line_quality(["fresh", "bread"], "FRESHBREAD") > 0  # run together by the OCR
    assert line_quality(["面包"], "新鲜面包店") == 1.0


# -- the gate's boxes steer the full read: lines are detected only around them -----------------------


def test_regions_widen_each_gate_box_merge_overlaps_and_stay_inside_the_photo():
    from clipgallery.core.textread import regions

    def quad(x0, y0, x1, y1):
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)

    # One small box: widened by 32 px (its half height, 10 px, is less), clamped at the top edge.
    assert regions([quad(0.25, 0.01, 0.5, 0.035)], 800, 800) == [(168, 0, 432, 60)]
    # Two boxes whose widened rectangles overlap become one; a third far away stays apart.
    got = regions([quad(0.1, 0.1, 0.2, 0.15), quad(0.22, 0.1, 0.3, 0.15), quad(0.8, 0.8, 0.9, 0.85)], 1000, 1000)
    assert got == [(68, 68, 332, 182), (768, 768, 932, 882)]
    # A tall box gets half its height as margin, clamped at the photo's edges.
    assert regions([quad(0.1, 0.1, 0.2, 0.5)], 1000, 1000) == [(0, 0, 400, 700)]
    # Merging goes on until nothing overlaps: c touches neither a nor b, only what a and b became.
    got = regions([quad(0.1, 0.1, 0.14, 0.13), quad(0.16, 0.15, 0.2, 0.18), quad(0.21, 0.06, 0.25, 0.08)], 1000, 1000)
    assert got == [(68, 28, 282, 212)]



def test_the_gate_feeds_the_detector_exactly_what_rapidocr_would():
    """The gate prepares its input itself (one resize, no copies): same BGR order, scaling and layout
    as RapidOCR's own preprocessing, so its boxes are the detector's."""
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    from clipgallery.core.textread import TextReader

    reader = TextReader()
    rgb = np.asarray(sign(5, "Exit", 0, 40, 0, True, (480, 352)))  # already a multiple of 32: no resize
    fed = []
    infer = reader.gate_det.infer
    reader.gate_det.infer = lambda x: fed.append(x.copy()) or infer(x)
    boxes = reader.gate_boxes(Image.fromarray(rgb))
    expected = DetPreProcess(reader.gate_side, "max")(rgb[:, :, ::-1].copy())
    assert fed[0].dtype == np.float32 and fed[0].shape == expected.shape == (1, 3, 352, 480)
    assert np.array_equal(fed[0], expected)
    assert len(boxes) == 1 and all(0 <= v <= 1 for v in boxes[0].ravel())

@pytest.mark.slow
def test_reading_around_the_gate_boxes_finds_what_reading_the_whole_photo_finds():
    """Two signs in opposite corners and a three-line notice (its lines' regions merge into one): the
    region read finds exactly the lines the whole-photo read finds (without the margin around the
    gate's boxes, "Cash 20.00" comes out as "Cash20.00")."""
    from clipgallery.core.images import decode
    from clipgallery.core.textread import READ_SIDE, TextReader, regions

    im = photo(300, (1600, 1200))
    draw = ImageDraw.Draw(im)
    for (x, y), word in (((40, 40), "BAKERY"), ((1250, 1080), "Garage")):
        draw.rectangle((x - 12, y - 10, x + 330, y + 80), fill=(240, 236, 220))
        draw.text((x, y), word, font=font(0, 64), fill=(20, 20, 25))
    draw.rectangle((600, 500, 1000, 640), fill=(250, 250, 245))
    for i, line in enumerate(("Total 12.50", "Cash 20.00", "Change 7.50")):
        draw.text((615, 505 + 44 * i), line, font=font(0, 32), fill=(10, 10, 10))
    reader = TextReader()
    boxes = reader.gate_boxes(decode(_jpeg(im), min_side=reader.gate_side * 3 // 4).image)
    assert len(regions(boxes, 1600, 1200)) == 3  # each sign apart: the whole photo is not detected
    full_res = decode(_jpeg(im), min_side=READ_SIDE * 3 // 4).image
    whole = [ln.text for ln in reader.read(full_res)]
    around = [ln.text for ln in reader.read(full_res, boxes)]
    assert sorted(whole) == sorted(around)
    assert {"BAKERY", "Garage", "Total 12.50", "Cash 20.00", "Change 7.50"} <= {t.strip() for t in around}, around


def _jpeg(im: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()
