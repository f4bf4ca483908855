"""Every file a phone or camera makes, written here for real: HEIC, AVIF, JPEG 2000, JPEG XL, MPO,
DNG (preview and sensor data), videos; broken ones of each kind are reported, never crashed on."""

from __future__ import annotations

import io
import json
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import hash_tree, photo
from PIL import Image

from clipgallery import samples, shapes
from clipgallery.core import formats
from clipgallery.core.errors import ImageError
from clipgallery.core.images import decode
from clipgallery.core.scan import image_extensions, walk

# Pillow's name for each still format, and what must be installed for it.
STILLS = {"heic": ("HEIF", ".heic"), "avif": ("AVIF", ".avif"), "jpeg2000": ("JPEG2000", ".jp2"),
          "jpegxl": ("JXL", ".jxl")}


def _needs(name: str) -> None:
    if not formats.available()[name]:
        pytest.skip(f"{name} is not readable in this installation")


def _encode(im: Image.Image, pillow_format: str) -> bytes:
    buf = io.BytesIO()
    im.save(buf, pillow_format, quality=90) if pillow_format != "JPEG2000" else im.save(buf, pillow_format)
    return buf.getvalue()


def _diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b.resize(a.size), np.float32)).mean())


@pytest.mark.parametrize("name", sorted(STILLS))
def test_still_formats_decode_to_the_picture_written(name):
    _needs(name)
    im = photo(3, (320, 240))
    data = _encode(im, STILLS[name][0])
    d = decode(data, min_side=None)
    assert (d.width, d.height) == (320, 240)
    assert _diff(im, d.image) < 8  # lossy codecs, but the same picture


@pytest.mark.parametrize("name", sorted(STILLS))
def test_broken_still_files_are_reported_with_a_reason(name):
    _needs(name)
    data = _encode(photo(4, (320, 240)), STILLS[name][0])
    for broken in (data[: len(data) // 3], data[:40] + bytes(200)):
        with pytest.raises(ImageError) as e:
            decode(broken, name="x" + STILLS[name][1])
        assert e.value.reason and "\n" not in e.value.reason


def test_mpo_gives_its_first_picture():
    first, second = photo(5), Image.new("RGB", (320, 240), (0, 0, 255))
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second], quality=95)
    d = decode(buf.getvalue(), min_side=None)
    assert _diff(first, d.image) < 6 and _diff(second, d.image) > 40
    with pytest.raises(ImageError) as e:
        decode(buf.getvalue()[:2000], name="DSCF0001.MPO")
    assert e.value.reason == "truncated file"


def test_heic_keeps_its_orientation_and_date():
    _needs("heic")
    im = photo(6, (320, 240))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: shown after a quarter turn clockwise
    exif.get_ifd(0x8769)[36867] = "2019:07:08 09:10:11"
    buf = io.BytesIO()
    im.transpose(Image.Transpose.ROTATE_90).save(buf, "HEIF", exif=exif.tobytes(), quality=90)
    d = decode(buf.getvalue(), min_side=None)
    assert (d.width, d.height) == (320, 240)
    assert _diff(im, d.image) < 8
    assert d.taken_at == datetime(2019, 7, 8, 9, 10, 11).timestamp()


# -- RAW ----------------------------------------------------------------------------------------


def test_dng_preview_is_used_when_it_is_large_enough():
    _needs("raw")
    im = photo(7, (320, 240))
    data = samples.dng_bytes(im, preview=True, orientation=6)
    raw = formats.decode_raw(data, min_side=224)
    assert raw.source == "preview"
    assert (raw.width, raw.height) == (240, 320)  # the sensor is landscape; the camera was held upright
    assert raw.image.size == (240, 320)
    assert _diff(im.transpose(Image.Transpose.ROTATE_270), raw.image) < 6
    assert raw.taken_at == datetime(2021, 6, 5, 14, 3, 2).timestamp()
    # A preview smaller than the model needs is not blown up: the sensor data is demosaiced instead.
    assert formats.decode_raw(data, min_side=400).source == "demosaic"


def test_dng_without_preview_is_demosaiced_upright():
    _needs("raw")
    im = Image.new("RGB", (300, 200), (40, 190, 40))
    im.paste((220, 30, 30), (0, 0, 150, 200))  # left half red, right half green
    raw = formats.decode_raw(samples.dng_bytes(im, preview=False, orientation=1), min_side=64)
    assert raw.source == "demosaic" and raw.image.size == (150, 100)  # half size is enough for 64 px
    a = np.asarray(raw.image, np.float32)
    left, right = a[:, :60].mean(axis=(0, 1)), a[:, -60:].mean(axis=(0, 1))
    assert left[0] > left[1] + 60 and right[1] > right[0] + 60
    turned = formats.decode_raw(samples.dng_bytes(im, preview=False, orientation=8), min_side=None)
    assert turned.image.size == (200, 300) and (turned.width, turned.height) == (200, 300)
    t = np.asarray(turned.image, np.float32)  # turned a quarter left: the red half is now at the bottom
    assert t[-60:].mean(axis=(0, 1))[0] > t[:60].mean(axis=(0, 1))[0] + 60


@pytest.mark.parametrize("cut", ["header", "directory", "garbage"])
def test_broken_raw_files_are_reported(cut):
    _needs("raw")
    data = samples.dng_bytes(photo(8), preview=False)
    broken = {"header": data[:8] + bytes(64), "directory": data[: len(data) - 200],
              "garbage": b"not a raw file at all " * 50}[cut]
    with pytest.raises(ImageError) as e:
        decode(broken, name="IMG_0001.NEF")
    assert "RAW" in e.value.reason


# -- video --------------------------------------------------------------------------------------


def _clip(path: Path, *objects: tuple[str, str], seconds_each: float = 1.0, **kw) -> Path:
    pictures = [shapes.draw([o], seed=7_000_000 + i, size=(160, 120), background="white")
                for i, o in enumerate(objects)]
    return samples.write_video(path, pictures, seconds_each=seconds_each, **kw)


def test_video_frames_are_sampled_across_the_clip(tmp_path):
    _needs("video")
    red, blue = Image.new("RGB", (160, 120), (220, 30, 30)), Image.new("RGB", (160, 120), (30, 30, 220))
    path = samples.write_video(tmp_path / "clip.mp4", [red, blue], creation_time="2020-01-02T03:04:05.000000Z")
    clip = formats.read_clip(path)
    times = [t for t, _ in clip.frames]
    assert clip.duration == pytest.approx(2.0, abs=0.15)
    assert len(times) == formats.FRAMES_PER_CLIP and times == sorted(times)
    assert times[0] > 0.1 and times[-1] < 2.0  # never the first frame, never past the end
    assert (clip.width, clip.height) == (160, 120)
    assert clip.taken_at == datetime.fromisoformat("2020-01-02T03:04:05+00:00").timestamp()
    early, late = np.asarray(clip.frames[0][1], np.float32), np.asarray(clip.frames[-1][1], np.float32)
    assert early[..., 0].mean() > early[..., 2].mean() and late[..., 2].mean() > late[..., 0].mean()
    poster = decode(path)  # what thumbnails and the viewer show
    assert (poster.width, poster.height) == (160, 120)


def test_a_phone_video_held_upright_is_read_upright(tmp_path):
    _needs("video")
    picture = Image.new("RGB", (96, 160), (0, 0, 0))  # portrait, red along the top
    picture.paste((230, 20, 20), (0, 0, 96, 40))
    path = samples.write_video(tmp_path / "IMG_0009.MOV", [picture], turned=True)
    clip = formats.read_clip(path, count=1, min_side=None)
    im = np.asarray(clip.frames[0][1], np.float32)
    assert (clip.width, clip.height) == (96, 160) and im.shape[:2] == (160, 96)
    assert im[:30, :, 0].mean() > 200 and im[-60:, :, 0].mean() < 40
    assert (decode(path).width, decode(path).height) == (96, 160)


@pytest.mark.parametrize("ext,codec", [(".webm", "libvpx-vp9"), (".mkv", "mpeg4"), (".avi", "mpeg4"),
                                       (".mov", "mpeg4")])
def test_other_containers(tmp_path, ext, codec):
    _needs("video")
    if codec not in __import__("av").codecs_available:
        pytest.skip(f"this FFmpeg has no {codec} encoder")
    path = _clip(tmp_path / f"clip{ext}", ("green", "triangle"), codec=codec)
    clip = formats.read_clip(path)
    assert clip.frames and clip.frames[0][1].size == (160, 120)


def test_broken_videos_are_reported(tmp_path):
    _needs("video")
    good = _clip(tmp_path / "good.mp4", ("red", "circle")).read_bytes()
    for name, data in [("cut.mp4", good[: len(good) // 2]), ("text.mov", b"hello " * 100), ("empty.mkv", b"")]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageError) as e:
            formats.read_clip(tmp_path / name)
        assert "video" in e.value.reason and "\n" not in e.value.reason


# -- scan, index, search ------------------------------------------------------------------------


def test_the_scan_takes_every_installed_format():
    exts = image_extensions()
    for fmt, _ in formats.REGISTRY:
        assert (fmt.extensions <= exts) == formats.available()[fmt.name]
    assert formats.kind_of("a/IMG_0001.CR3") == formats.RAW and formats.kind_of("b.MOV") == formats.VIDEO


@pytest.fixture(scope="module")
def camera_roll(tmp_path_factory):
    """A phone's camera roll: a HEIC of a red circle, a video of a blue square, one that shows a green
    triangle then an orange star, a RAW+JPEG pair, a RAW alone, and one broken file of each kind; all other shapes as JPEGs."""
    for name in ("heic", "video", "raw"):
        if not formats.available()[name]:
            pytest.skip(f"{name} is not readable in this installation")
    root = tmp_path_factory.mktemp("roll")
    shapes.draw([("red", "circle")], seed=7_100_000, size=(320, 240)).save(root / "IMG_0001.HEIC", "HEIF")
    _clip(root / "IMG_0002.MOV", ("blue", "square"), seconds_each=3.0)
    _clip(root / "IMG_0005.MP4", ("green", "triangle"), ("orange", "star"), seconds_each=2.0)
    pair = shapes.draw([("yellow", "star")], seed=7_100_001, size=(320, 240))
    pair.save(root / "IMG_0003.JPG", quality=92)
    (root / "IMG_0003.DNG").write_bytes(samples.dng_bytes(pair, preview=True))
    alone = shapes.draw([("purple", "circle")], seed=7_100_002, size=(320, 240))
    (root / "IMG_0004.DNG").write_bytes(samples.dng_bytes(alone, preview=True))
    for i, (colour, shape) in enumerate([("orange", "square"), ("red", "triangle"), ("purple", "star"),
                                         ("green", "circle"), ("blue", "triangle"), ("yellow", "square")]):
        shapes.draw([(colour, shape)], seed=7_100_010 + i, size=(320, 240)).save(root / f"other{i}.jpg")
    (root / "broken-photo.heic").write_bytes((root / "IMG_0001.HEIC").read_bytes()[:300])
    (root / "broken-clip.mp4").write_bytes((root / "IMG_0002.MOV").read_bytes()[:2000])
    (root / "broken-raw.dng").write_bytes(b"II*\x00" + bytes(100))
    return root


def _cli_json(capsys, *argv: str):
    from clipgallery.cli import main

    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_camera_roll_is_indexed_and_searched(camera_roll, tmp_path, capsys):
    root = camera_roll
    before = hash_tree(root)
    lib = ["--library-dir", str(tmp_path / "lib")]
    report = _cli_json(capsys, *lib, "index", str(root), "--model", "shapes-tiny", "--json")
    failed = {Path(f["path"]).name: f["error"] for f in report["failed"]}
    assert set(failed) == {"broken-photo.heic", "broken-clip.mp4", "broken-raw.dng"}
    assert "video" in failed["broken-clip.mp4"] and "RAW" in failed["broken-raw.dng"]
    assert report["indexed"] == 11  # IMG_0003.DNG is shown with its JPEG, not on its own

    def search(*words, k="3"):
        return _cli_json(capsys, *lib, "search", str(root), *words, "--json", "-k", k)

    heic = search("red", "circle")
    assert Path(heic[0]["path"]).name == "IMG_0001.HEIC"
    square = search("blue", "square")
    assert Path(square[0]["path"]).name == "IMG_0002.MOV"
    assert square[0]["duration"] == pytest.approx(3.0, abs=0.2) and 0 < square[0]["at"] < 3.0
    assert "at" not in heic[0] and "raw" not in heic[0]  # keys only where they mean something

    def scene(*words):  # the two-scene clip, wherever it ranks: at which second did it match?
        hit = next(h for h in search(*words, k="20") if h["path"].endswith("IMG_0005.MP4"))
        return hit["at"]

    assert scene("green", "triangle") < 2.0 <= scene("orange", "star")
    star = search("yellow", "star")
    assert Path(star[0]["path"]).name == "IMG_0003.JPG"
    assert star[0]["raw"] == [str(root / "IMG_0003.DNG")]
    assert Path(search("purple", "circle")[0]["path"]).name == "IMG_0004.DNG"

    like_clip = _cli_json(capsys, *lib, "similar", str(root), str(root / "IMG_0002.MOV"), "--json", "-k", "1")
    assert Path(like_clip[0]["path"]).name == "IMG_0002.MOV"  # a video as the query: its clip vector

    info = _cli_json(capsys, *lib, "info", str(root), "--json")
    assert info["formats"]["heic"] and info["formats"]["video"] and info["formats"]["raw"]
    assert info["videos"] == 2 and info["raw_pairs"] == 1
    assert hash_tree(root) == before  # the camera roll is never written to


@pytest.mark.slow
def test_clips_follow_their_file_and_pairs_follow_the_folder(camera_roll, tmp_path, embedders):
    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library

    root = tmp_path / "roll"
    shutil.copytree(camera_roll, root)
    for p in root.glob("broken-*"):
        p.unlink()
    lib = Library(root, tmp_path / "lib")
    emb = embedders("tiny-random")
    index_folder(lib, emb)
    store = lib.media
    mid = lib.model_id(emb.spec)
    vid = lib.file_ids(["IMG_0005.MP4"])["IMG_0005.MP4"]
    frames = store.frames(vid, mid)
    assert len(frames) == formats.FRAMES_PER_CLIP
    ids, mat = lib.vectors(mid)
    clip_vec = mat[list(ids).index(vid)]
    mean = np.mean([f.vec for f in frames], axis=0)
    assert np.allclose(clip_vec, mean / np.linalg.norm(mean), atol=1e-5)

    shutil.copy(root / "IMG_0005.MP4", root / "copy.mov")  # a copy reuses the frames, no decoding
    (root / "IMG_0003.JPG").unlink()  # the RAW of that shot is now a photo of its own
    report = index_folder(lib, emb)
    assert report.reused == 1 and report.indexed == 1 and not report.failed
    copy = lib.file_ids(["copy.mov"])["copy.mov"]
    assert [f.at for f in store.frames(copy, mid)] == [f.at for f in frames]
    assert store.pair_count() == 0 and "IMG_0003.DNG" in lib.file_ids(["IMG_0003.DNG"])

    (root / "IMG_0006.JPG").write_bytes(b"\xff\xd8 a JPEG the camera never finished")
    (root / "IMG_0006.DNG").write_bytes(samples.dng_bytes(photo(9)))
    index_folder(lib, emb)  # the broken JPEG fails; its RAW waits beside it
    assert "IMG_0006.DNG" not in lib.file_ids(["IMG_0006.DNG"])
    index_folder(lib, emb)  # a JPEG that cannot be read no longer hides its RAW
    assert "IMG_0006.DNG" in lib.file_ids(["IMG_0006.DNG"])

    _clip(root / "IMG_0005.MP4", ("red", "star"), seconds_each=1.0)  # new content: old frames go
    index_folder(lib, emb)
    assert {round(f.at, 1) for f in store.frames(vid, mid)} != {round(f.at, 1) for f in frames}
    assert store.durations([vid])[vid] == pytest.approx(1.0, abs=0.15)
    lib.close()


def test_walk_lists_raw_and_video_files(tmp_path):
    _needs("video")
    (tmp_path / "a.MP4").write_bytes(b"x")
    (tmp_path / "b.cr3").write_bytes(b"x")
    (tmp_path / "c.txt").write_bytes(b"x")
    names = {f.relpath for f in walk(tmp_path)}
    assert "a.MP4" in names and "c.txt" not in names
    assert ("b.cr3" in names) == formats.available()["raw"]


def test_raw_files_pair_with_the_still_of_the_same_shot():
    from clipgallery.core.media import pair_raws

    pairs = pair_raws(["a/IMG_1.CR3", "a/img_1.jpg", "a/IMG_1.HEIC", "b/IMG_1.NEF", "a/IMG_2.ARW",
                       "a/IMG_2.mov", "c/x.dng", "c/x.xmp", "d/y.raf", "d/y.png"])
    # The camera's JPEG first (case does not matter); never across folders; a video or sidecar is no partner.
    assert pairs == {"a/IMG_1.CR3": "a/img_1.jpg", "d/y.raf": "d/y.png"}


def test_a_raw_travels_with_its_jpeg_on_export(camera_roll, tmp_path):
    from clipgallery.core.export import Selected, export

    root = camera_roll
    result = export([Selected(root / "IMG_0003.JPG", "stars"), Selected(root / "IMG_0004.DNG", "stars")],
                    tmp_path / "out", photo_root=root)
    written = sorted(Path(w.dest).name for w in result.written)
    assert written == ["IMG_0003.DNG", "IMG_0003.JPG", "IMG_0004.DNG"]
    assert (tmp_path / "out" / "stars" / "IMG_0003.DNG").read_bytes() == (root / "IMG_0003.DNG").read_bytes()


def test_every_format_written_here_carries_its_header_signature(tmp_path):
    """What a first-bytes check (issue 13's bounded reads) must let through: each kind as written for real."""
    written: dict[str, bytes] = {}
    im = photo(5, (320, 240))
    for name, (pillow_format, _) in STILLS.items():
        if formats.available()[name]:
            written[name] = _encode(im, pillow_format)
    buf = io.BytesIO()
    im.save(buf, "JPEG2000", no_jp2=True)  # a bare codestream, as .j2k files hold
    written["jpeg2000 (.j2k)"] = buf.getvalue()
    buf = io.BytesIO()
    im.save(buf, "MPO", save_all=True, append_images=[photo(6, (320, 240))])
    written["mpo"] = buf.getvalue()
    written["raw"] = samples.dng_bytes(im)
    for ext in (".mp4", ".mov", ".mkv", ".avi"):
        written["video" + ext] = samples.write_video(tmp_path / f"v{ext}", [im], seconds_each=0.3).read_bytes()
    assert {"heic", "avif", "raw", "mpo", "video.mp4", "video.mkv"} <= set(written)
    for label, data in written.items():
        assert label.split(" ")[0].split(".")[0] in formats.sniff(data[:formats.HEAD_BYTES]), label
    assert formats.sniff(b"not a picture at all, just text") == []


@pytest.mark.slow
def test_a_video_found_by_its_objects_has_its_length_but_no_best_second(tmp_path, embedders):
    """Region vectors are not in the frames' space: a regional search must not score frames with them."""
    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library
    from clipgallery.core.search import Searcher

    root = tmp_path / "roll"
    root.mkdir()
    pictures = [shapes.draw([(c, "square")], seed=7_300_000 + i, size=(320, 240))
                for i, c in enumerate(("blue", "red"))]
    samples.write_video(root / "clip.mp4", pictures, seconds_each=1.0)
    pictures[0].save(root / "still.jpg")
    lib = Library(root, tmp_path / "lib")
    lib.set_regional(True)
    emb = embedders("tiny-random")
    assert not index_folder(lib, emb).failed
    s = Searcher(lib, emb)
    hits = {h.path.name: h for h in s.similar_regional(root / "still.jpg", k=5)}
    assert hits["clip.mp4"].duration == pytest.approx(2.0, abs=0.2) and hits["clip.mp4"].at is None
    assert hits["still.jpg"].duration is None
    text = {h.path.name: h for h in s.search("a square", k=5)}
    assert text["clip.mp4"].at is not None  # a text query does pick a second
