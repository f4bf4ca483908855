"""Decoding: reduced-size JPEG decode, orientation, every mode to RGB, and plain-words errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import photo, save_with_orientation
from PIL import Image

from clipgallery.core.errors import ImageError
from clipgallery.core.images import decode, thumbnail


def jpeg_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kw)
    return buf.getvalue()


def test_large_jpeg_is_decoded_at_reduced_scale_but_reports_full_size():
    big = photo(1, (4000, 3000))
    d = decode(jpeg_bytes(big), min_side=224)
    assert (d.width, d.height) == (4000, 3000)
    assert min(d.image.size) >= 224
    assert d.image.size == (500, 375)  # libjpeg scaled by 1/8, never the full 12 megapixels


def test_reduced_decode_looks_like_the_full_decode():
    big = photo(2, (2400, 1600))
    data = jpeg_bytes(big, quality=92)
    small = np.asarray(decode(data, min_side=224).image.resize((240, 160), Image.Resampling.BILINEAR), np.float32)
    full = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((240, 160), Image.Resampling.BILINEAR),
                      np.float32)
    assert np.abs(small - full).mean() < 6


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(tmp_path, orientation):
    upright = photo(3, (300, 200))
    path = tmp_path / "r.png"
    save_with_orientation(upright, path, orientation, "PNG")
    d = decode(path)
    assert (d.width, d.height) == (300, 200)
    assert np.array_equal(np.asarray(d.image), np.asarray(upright))


@pytest.mark.parametrize("mode", ["CMYK", "P", "LA", "RGBA", "L", "1", "I;16", "I", "F"])
def test_every_mode_becomes_rgb(mode):
    base = photo(4, (64, 48))
    if mode in ("I;16", "I", "F"):
        arr = np.asarray(base.convert("L"), np.float32) * 200
        im = Image.fromarray(arr.astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
        if mode == "I;16":
            im = im.convert("I;16") if im.mode != "I;16" else im
    else:
        im = base.convert(mode)
    d = decode(_png_or_tiff(im))
    assert d.image.mode == "RGB" and d.image.size == (64, 48)
    if mode in ("I;16", "I", "F"):
        # high bit depths are scaled, not clipped to white
        assert np.asarray(d.image).std() > 20


def _png_or_tiff(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "TIFF" if im.mode in ("I", "F", "CMYK") else "PNG")
    return buf.getvalue()


def test_transparency_composited_on_white():
    im = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    assert decode(buf.getvalue()).image.getpixel((5, 5)) == (255, 255, 255)


def test_first_frame_of_animation():
    frames = [Image.new("RGB", (20, 20), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    r, g, b = decode(buf.getvalue()).image.getpixel((10, 10))
    assert r > 200 and b < 50


def test_exif_date_taken_is_read():
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2019:07:14 15:30:00"
    d = decode(jpeg_bytes(photo(5, (50, 50)), exif=exif.tobytes()))
    from datetime import datetime

    assert datetime.fromtimestamp(d.taken_at) == datetime(2019, 7, 14, 15, 30)


@pytest.mark.parametrize("data, words", [
    (b"", "empty file"),
    (b"hello, I am text\n" * 10, "not an image"),
    (b"\x00\x01\x02\x03" * 100, "not an image"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "corrupt"),
])
def test_bad_bytes_give_plain_reasons(data, words):
    with pytest.raises(ImageError) as e:
        decode(data)
    assert words in e.value.reason


def test_truncated_jpeg_and_bomb():
    data = jpeg_bytes(photo(6, (800, 600)))
    with pytest.raises(ImageError, match="truncated"):
        decode(data[: len(data) // 2])
    buf = io.BytesIO()
    Image.new("1", (30000, 30000)).save(buf, "PNG")
    with pytest.raises(ImageError, match="image too large: 30000x30000"):
        decode(buf.getvalue())


def test_missing_file_reason(tmp_path):
    with pytest.raises(ImageError, match="disappeared"):
        decode(tmp_path / "nope.jpg")


def test_thumbnail_bounded_and_upright(tmp_path):
    path = tmp_path / "t.jpg"
    save_with_orientation(photo(7, (1200, 800)), path, 6)
    t = thumbnail(path, 128)
    assert max(t.size) == 128 and t.size[0] > t.size[1]
