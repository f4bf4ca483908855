"""EXIF for the viewer's panel (core/exif.py): real JPEG files written here with Pillow, camera fields,
GPS rationals in every hemisphere, files without EXIF and with damaged EXIF."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational as R

from clipgallery.core.exif import ExifInfo, exposure_text, focal_text, read_exif
from clipgallery.core.images import decode

EXIF_IFD, GPS_IFD = 0x8769, 0x8825


def dms(degrees: int, minutes: int, seconds: float) -> tuple[R, R, R]:
    return (R(degrees, 1), R(minutes, 1), R(round(seconds * 100), 100))


def write_photo(path: Path, size=(120, 80), orientation: int | None = None, base=None, sub=None, gps=None) -> Path:
    exif = Image.Exif()
    for tag, value in (base or {}).items():
        exif[tag] = value
    if orientation:
        exif[0x0112] = orientation
    if sub:
        exif[EXIF_IFD] = sub
    if gps:
        exif[GPS_IFD] = gps
    Image.new("RGB", size, (90, 140, 200)).save(path, "JPEG", exif=exif.tobytes(), quality=90)
    return path


CAMERA = {0x010F: "Canon", 0x0110: "Canon EOS R5"}
SETTINGS = {0x829A: R(1, 250), 0x829D: R(28, 10), 0x8827: 400, 0x920A: R(50, 1), 0xA405: 80,
            0xA434: "RF24-105mm F4 L IS USM", 0x9003: "2024:05:01 14:03:22", 0x9011: "+02:00"}


def test_camera_lens_exposure_date_and_size_are_read(tmp_path):
    path = write_photo(tmp_path / "shot.jpg", size=(120, 80), orientation=6, base=CAMERA, sub=SETTINGS)
    info = read_exif(path)
    assert info.camera == "Canon EOS R5"  # not "Canon Canon EOS R5"
    assert info.lens == "RF24-105mm F4 L IS USM"
    assert info.exposure_time == pytest.approx(1 / 250) and info.f_number == pytest.approx(2.8)
    assert info.iso == 400 and info.focal_length == pytest.approx(50) and info.focal_length_35mm == 80
    assert info.taken == "2024-05-01 14:03:22 +02:00"
    # Orientation 6 stands the 120x80 pixels up: the photo is seen 80 wide, as decode() shows it.
    assert (info.width, info.height) == (80, 120) == (decode(path).width, decode(path).height)
    assert info.file_size == path.stat().st_size
    rows = dict(info.rows())
    assert rows["Exposure"] == "1/250 s" and rows["Aperture"] == "f/2.8" and rows["ISO"] == "400"
    assert rows["Focal length"] == "50 mm (80 mm in 35 mm)" and rows["Dimensions"] == "80 × 120"
    assert "Location" not in rows and info.map_url is None


def test_make_is_kept_when_the_model_does_not_name_it(tmp_path):
    path = write_photo(tmp_path / "d.jpg", base={0x010F: "NIKON CORPORATION", 0x0110: "D750"})
    assert read_exif(path).camera == "NIKON CORPORATION D750"


@pytest.mark.parametrize("lat_ref,lon_ref,lat_sign,lon_sign", [
    ("N", "E", 1, 1), ("S", "E", -1, 1), ("N", "W", 1, -1), ("S", "W", -1, -1)])
def test_gps_rationals_become_signed_decimal_degrees(tmp_path, lat_ref, lon_ref, lat_sign, lon_sign):
    gps = {1: lat_ref, 2: dms(33, 51, 31.56), 3: lon_ref, 4: dms(151, 12, 30.0)}
    info = read_exif(write_photo(tmp_path / "gps.jpg", base=CAMERA, gps=gps))
    assert info.latitude == pytest.approx(lat_sign * (33 + 51 / 60 + 31.56 / 3600), abs=1e-6)
    assert info.longitude == pytest.approx(lon_sign * (151 + 12 / 60 + 30 / 3600), abs=1e-6)
    url = info.map_url
    assert url is not None and f"mlat={info.latitude:.6f}" in url and f"mlon={info.longitude:.6f}" in url
    assert url.startswith("https://www.openstreetmap.org/?")
    assert dict(info.rows())["Location"].startswith(f"{info.latitude:.5f}, {info.longitude:.5f}")


def test_altitude_below_sea_level_and_nonsense_positions(tmp_path):
    dead_sea = {1: "N", 2: dms(31, 30, 0), 3: "E", 4: dms(35, 30, 0), 5: b"\x01", 6: R(430, 1)}
    info = read_exif(write_photo(tmp_path / "low.jpg", gps=dead_sea))
    assert info.latitude == pytest.approx(31.5) and info.altitude == pytest.approx(-430)
    # A latitude of 95 degrees, a zero denominator, or a latitude without a longitude: no position at all.
    for n, gps in enumerate([{1: "N", 2: dms(95, 0, 0), 3: "E", 4: dms(10, 0, 0)},
                             {1: "N", 2: (R(10, 0), R(0, 1), R(0, 1)), 3: "E", 4: dms(10, 0, 0)},
                             {1: "N", 2: dms(10, 0, 0)}]):
        info = read_exif(write_photo(tmp_path / f"bad{n}.jpg", base=CAMERA, gps=gps))
        assert info.latitude is None and info.longitude is None and info.map_url is None
        assert info.camera == "Canon EOS R5"  # the rest of the EXIF is still there


def test_a_photo_without_exif_has_only_its_size_and_dimensions(tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (50, 30), "white").save(path)
    info = read_exif(path)
    assert info == ExifInfo(file_size=path.stat().st_size, width=50, height=30)
    assert [label for label, _ in info.rows()] == ["Dimensions", "File size"]


def _tiff_with_broken_gps_pointer() -> bytes:
    """IFD0 holds a good Make and a GPS pointer far past the end of the block."""
    entries = [(0x010F, 2, 6, 38), (GPS_IFD, 4, 1, 0x7FFFFFF0)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + struct.pack("<I", 0)
    return b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd + b"Canon\x00"


@pytest.mark.parametrize("raw", [
    b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff",  # an IFD that claims 65,535 entries and ends
    b"Exif\x00\x00garbage, not TIFF at all",
    b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x02\x00\x0f\x01\x02\x00\xff\xff\xff\x0f\x00\x01",  # cut short
    _tiff_with_broken_gps_pointer(),
])
def test_damaged_exif_never_raises(tmp_path, raw):
    path = tmp_path / "broken.jpg"
    Image.new("RGB", (40, 30), "red").save(path, "JPEG", exif=raw)
    info = read_exif(path)
    assert (info.width, info.height, info.file_size) == (40, 30, path.stat().st_size)
    assert info.latitude is None and info.taken is None
    if raw == _tiff_with_broken_gps_pointer():
        assert info.make == "Canon"  # what could be read of it is kept


def test_files_that_are_not_photos_give_their_size_only(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    assert read_exif(text) == ExifInfo(file_size=text.stat().st_size)
    half = tmp_path / "half.jpg"
    write_photo(tmp_path / "whole.jpg", base=CAMERA)
    half.write_bytes((tmp_path / "whole.jpg").read_bytes()[:20])
    assert read_exif(half).camera is None
    assert read_exif(tmp_path / "gone.jpg") == ExifInfo()


def test_formatting_of_exposure_and_focal_length():
    assert exposure_text(1 / 8000) == "1/8000 s" and exposure_text(0.3) == "1/3 s"
    assert exposure_text(2.0) == "2 s" and exposure_text(1.5) == "1.5 s" and exposure_text(0) is None
    assert focal_text(4.25, 26) == "4.25 mm (26 mm in 35 mm)" and focal_text(None, 28) == "28 mm (35 mm equivalent)"
    assert focal_text(35.0, 35) == "35 mm" and focal_text(None, None) is None
