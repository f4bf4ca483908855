"""What the camera wrote into a photo (EXIF): camera, lens, exposure, date, GPS position, for the
viewer's panel. Reads only the file's header; a field that is missing or damaged is left out, and
nothing here raises for a photo's content."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

# Tags (EXIF 2.32 numbers) of IFD0, the Exif IFD and the GPS IFD that the panel shows.
_MAKE, _MODEL, _ORIENTATION, _DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
_EXPOSURE_TIME, _F_NUMBER, _ISO, _DATETIME_ORIGINAL = 0x829A, 0x829D, 0x8827, 0x9003
_OFFSET_TIME_ORIGINAL, _FOCAL_LENGTH, _FOCAL_35MM = 0x9011, 0x920A, 0xA405
_LENS_MAKE, _LENS_MODEL = 0xA433, 0xA434
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON, _GPS_ALT_REF, _GPS_ALT = 1, 2, 3, 4, 5, 6

MAP_URL = "https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=16/{lat:.6f}/{lon:.6f}"


@dataclass(frozen=True)
class ExifInfo:
    """One photo's header facts; None where the file does not say (or says nonsense)."""

    file_size: int | None = None
    width: int | None = None  # as shown: after EXIF orientation
    height: int | None = None
    make: str | None = None
    model: str | None = None
    lens: str | None = None
    exposure_time: float | None = None  # seconds
    f_number: float | None = None
    iso: int | None = None
    focal_length: float | None = None  # mm
    focal_length_35mm: int | None = None  # mm, the 35 mm film equivalent
    taken: str | None = None  # "YYYY-MM-DD HH:MM:SS", with the camera's UTC offset when it wrote one
    latitude: float | None = None  # decimal degrees, negative south
    longitude: float | None = None  # decimal degrees, negative west
    altitude: float | None = None  # metres, negative below sea level

    @property
    def camera(self) -> str | None:
        """"Canon EOS R5", not "Canon Canon EOS R5": the make only when the model does not start with it."""
        make, model = self.make, self.model
        if make and model:
            first = make.split()[0].lower()
            return model if model.lower().startswith(first) else f"{make} {model}"
        return model or make

    @property
    def map_url(self) -> str | None:
        if self.latitude is None or self.longitude is None:
            return None
        return MAP_URL.format(lat=self.latitude, lon=self.longitude)

    def rows(self) -> list[tuple[str, str]]:
        """(label, text) for every field the photo has, in the order people read them."""
        rows = [("Camera", self.camera), ("Lens", self.lens), ("Exposure", exposure_text(self.exposure_time)),
                ("Aperture", f"f/{self.f_number:.3g}" if self.f_number else None),
                ("ISO", str(self.iso) if self.iso else None),
                ("Focal length", focal_text(self.focal_length, self.focal_length_35mm)),
                ("Taken", self.taken),
                ("Dimensions", f"{self.width} × {self.height}" if self.width and self.height else None),
                ("File size", size_text(self.file_size) if self.file_size is not None else None),
                ("Location", location_text(self.latitude, self.longitude, self.altitude))]
        return [(label, text) for label, text in rows if text]


def exposure_text(seconds: float | None) -> str | None:
    if not seconds or seconds <= 0:
        return None
    if seconds < 0.5:  # cameras show fractions: 1/250 s
        return f"1/{round(1 / seconds)} s"
    return f"{seconds:.1f}".rstrip("0").rstrip(".") + " s"


def focal_text(mm: float | None, mm35: int | None) -> str | None:
    if not mm and not mm35:
        return None
    text = f"{mm:.3g} mm" if mm else ""
    if mm35 and (not mm or round(mm) != mm35):
        text = f"{text} ({mm35} mm in 35 mm)" if text else f"{mm35} mm (35 mm equivalent)"
    return text


def location_text(lat: float | None, lon: float | None, alt: float | None = None) -> str | None:
    if lat is None or lon is None:
        return None
    text = f"{lat:.5f}, {lon:.5f}"
    return f"{text}  ({alt:.0f} m)" if alt is not None else text


def size_text(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{n:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n:,} bytes"


def read_exif(path: Path) -> ExifInfo:
    """The EXIF facts of one photo. A file Pillow cannot open (a video, an unreadable RAW) gives its
    size only; a damaged EXIF block gives what could be read of it. Never raises for the file's content."""
    from . import formats
    from .errors import ImageError
    from .images import open_stream

    path = Path(path)
    try:
        size: int | None = os.stat(path).st_size
    except OSError:
        size = None
    if formats.kind_of(path) == formats.VIDEO:
        return ExifInfo(file_size=size)
    formats.available()  # registers the HEIC / JPEG XL plugins with Pillow
    from PIL import Image

    try:
        with open_stream(path) as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about odd EXIF; we judge each value ourselves
            im = Image.open(f)
            width, height = im.size
            return _from_exif(_exif_of(im), size, width, height)
    except ImageError:
        return ExifInfo(file_size=size)
    except Exception:  # noqa: BLE001 (Pillow raises many kinds for damaged headers; none may reach the viewer)
        return ExifInfo(file_size=size)


def _exif_of(im: Image.Image) -> Image.Exif | None:
    try:
        return im.getexif()
    except Exception:  # noqa: BLE001 (a damaged EXIF block: the rest of the photo is still fine)
        return None


def _ifd(exif: Image.Exif, which: int) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(which))
    except Exception:  # noqa: BLE001
        return {}


def _from_exif(exif: Image.Exif | None, size: int | None, width: int, height: int) -> ExifInfo:
    if exif is None:
        return ExifInfo(file_size=size, width=width, height=height)
    base = _safe_items(exif)
    from PIL import ExifTags

    sub = _ifd(exif, ExifTags.IFD.Exif)
    gps = _ifd(exif, ExifTags.IFD.GPSInfo)
    if _int(base.get(_ORIENTATION)) in (5, 6, 7, 8):
        width, height = height, width
    lat = _coordinate(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), "S", 90)
    lon = _coordinate(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), "W", 180)
    if lat is None or lon is None:
        lat = lon = None  # half a position is no position
    alt = _number(gps.get(_GPS_ALT)) if lat is not None else None
    if alt is not None and _int(gps.get(_GPS_ALT_REF)) == 1:
        alt = -alt
    lens = _text(sub.get(_LENS_MODEL))
    lens_make = _text(sub.get(_LENS_MAKE))
    if lens and lens_make and not lens.lower().startswith(lens_make.split()[0].lower()):
        lens = f"{lens_make} {lens}"
    iso = _int(sub.get(_ISO))
    focal35 = _int(sub.get(_FOCAL_35MM))
    return ExifInfo(
        file_size=size, width=width, height=height,
        make=_text(base.get(_MAKE)), model=_text(base.get(_MODEL)), lens=lens or lens_make,
        exposure_time=_positive(sub.get(_EXPOSURE_TIME)), f_number=_positive(sub.get(_F_NUMBER)),
        iso=iso if iso and iso > 0 else None,
        focal_length=_positive(sub.get(_FOCAL_LENGTH)), focal_length_35mm=focal35 if focal35 and focal35 > 0 else None,
        taken=_date(sub.get(_DATETIME_ORIGINAL) or base.get(_DATETIME), sub.get(_OFFSET_TIME_ORIGINAL)),
        latitude=lat, longitude=lon, altitude=alt)


def _safe_items(exif: Image.Exif) -> dict[int, Any]:
    out: dict[int, Any] = {}
    try:
        keys = list(exif.keys())
    except Exception:  # noqa: BLE001
        return out
    for key in keys:
        try:
            out[key] = exif[key]
        except Exception:  # noqa: BLE001 (one unreadable value costs only itself)
            continue
    return out


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = " ".join(value.replace("\x00", " ").split())
    return text if text and any(c.isalnum() for c in text) else None


def _number(value: Any) -> float | None:
    if isinstance(value, tuple | list | bytes):  # a one-element array, or a BYTE tag (altitude's reference)
        value = value[0] if len(value) == 1 else None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _positive(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(round(number)) if number is not None else None


def _coordinate(value: Any, ref: Any, negative: str, limit: float) -> float | None:
    """Degrees, minutes, seconds (three rationals) and a hemisphere letter -> signed decimal degrees."""
    if not isinstance(value, tuple | list) or not 1 <= len(value) <= 3:
        return None
    parts = [_number(v) for v in value]
    if any(p is None or p < 0 for p in parts):
        return None
    degrees = sum(p / 60 ** i for i, p in enumerate(parts) if p is not None)
    if degrees > limit:
        return None
    hemisphere = _text(ref)
    if hemisphere is not None and hemisphere.upper().startswith(negative):
        degrees = -degrees
    return round(degrees, 7)


def _date(value: Any, offset: Any) -> str | None:
    text = _text(value)
    if not text or len(text) < 19 or text.startswith("0000"):
        return None
    day, _, clock = text[:19].partition(" ")
    parts = day.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or len(clock) != 8:
        return None
    stamp = f"{'-'.join(parts)} {clock}"
    zone = _text(offset)
    return f"{stamp} {zone}" if zone and len(zone) == 6 and zone[0] in "+-" else stamp
