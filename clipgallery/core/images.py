"""Decode one image file robustly into an RGB picture no larger than needed, or a typed error."""

from __future__ import annotations

import io
import os
import stat as stat_mod
import warnings
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageFile, UnidentifiedImageError

from .errors import ImageError
from .formats import SIGNATURES as FORMAT_SIGNATURES

# Larger than any real camera or panorama we expect; a 20000x20000 PNG would need 1.6 GB.
DEFAULT_MAX_PIXELS = 250_000_000
BACKGROUND = (255, 255, 255)  # transparent areas are shown on white, as every viewer does

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_DATETIME = 306


@cache
def heif_available() -> bool:
    from .formats import available

    return available()["heic"]


@dataclass
class Decoded:
    image: Image.Image  # RGB, upright, at least `min_side` on its shortest side when the file allows
    width: int  # full size of the photo as shown (after EXIF orientation)
    height: int
    taken_at: float | None  # EXIF DateTimeOriginal as a POSIX timestamp (local time), if any


def decode(source: Path | bytes, min_side: int | None = 224, max_pixels: int = DEFAULT_MAX_PIXELS,
           name: str | None = None) -> Decoded:
    """Open, shrink early, orient, and convert to RGB; raise ImageError with a plain reason.

    JPEGs are decoded at a reduced scale (libjpeg DCT scaling via Image.draft) so that a
    12-megapixel photo never has to be decoded at full size to make a 224-pixel input.
    Camera RAW files and videos (known by `name`'s or the path's extension) go to core.formats.
    """
    # -- formats beyond Pillow (core.formats): RAW by rawpy, videos by PyAV (a poster frame) --
    from . import formats

    kind = formats.kind_of(name if name is not None else (None if isinstance(source, bytes) else source))
    if kind == formats.VIDEO:
        clip = formats.poster(source, min_side)
        return Decoded(clip.frames[0][1], clip.width, clip.height, clip.taken_at)
    # -- end of formats beyond Pillow --
    data = source if isinstance(source, bytes) else _read(source)
    if not data:
        raise ImageError("empty file")
    if kind == formats.RAW:
        raw = formats.decode_raw(data, min_side, max_pixels)
        return Decoded(raw.image, raw.width, raw.height, raw.taken_at)
    formats.available()  # registers the plugins (HEIC, JPEG XL) with Pillow once
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on odd EXIF and on large images
            im = Image.open(io.BytesIO(data))
            width, height = im.size
            if width * height > max_pixels:
                raise ImageError(f"image too large: {width}x{height}")
            if im.format == "MPO" or getattr(im, "n_frames", 1) > 1:
                im.seek(0)
            exif = im.getexif()
            orientation = exif.get(0x0112, 1)
            if min_side and im.format == "JPEG":
                im.draft(im.mode if im.mode in ("RGB", "L") else None, (min_side, min_side))
            im.load()
            im = _orient(im, orientation)
            rgb = _to_rgb(im)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(f"image too large: {e}") from None
    except UnidentifiedImageError:
        raise ImageError(_unidentified_reason(data, name if name is not None else source)) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError) as e:
        raise ImageError(_reason(e)) from None
    except MemoryError:
        raise ImageError("not enough memory to decode this image") from None
    except RuntimeError:  # plugins (pillow-jxl) raise it for damaged data, with advice meant for developers
        raise ImageError("corrupt image: its decoder cannot read it") from None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return Decoded(rgb, width, height, _taken_at(exif))


def _read(path: Path) -> bytes:
    return open_regular(path)


# -- bounded reading (issue 13): nothing a folder holds can hang a read or exhaust memory --------

# No photo we can decode is this large; a bigger file is refused before it is read. Videos are not
# read whole (core.formats streams them, through open_stream below), so the cap does not apply to them.
MAX_FILE_BYTES = 1 << 30
_HEAD = 64

# (offset, bytes) that start every file of a format we (or core.formats) decode, videos included; a
# file that starts with none of them is refused after reading only its first bytes (a 3 GiB archive
# renamed .jpg costs 64 bytes). core.formats.SIGNATURES is the one list per format; Pillow also
# reads ICO and the netpbm formats.
VIDEO_SIGNATURES: list[tuple[int, bytes]] = list(FORMAT_SIGNATURES["video"])
IMAGE_SIGNATURES: list[tuple[int, bytes]] = list(dict.fromkeys(
    [sig for sigs in FORMAT_SIGNATURES.values() for sig in sigs]
    + [(0, b"\x00\x00\x01\x00")]  # ICO
    + [(0, b"P%d" % n) for n in range(1, 7)]  # PBM/PGM/PPM
))


def sniff(head: bytes) -> bool:
    """Whether the first bytes of a file are those of an image, RAW or video format we know."""
    return any(head[off:off + len(sig)] == sig for off, sig in IMAGE_SIGNATURES)


def _open_fd(path: Path) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise ImageError("is a folder, not a file") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except FileNotFoundError:
        raise ImageError("file disappeared") from None
    except OSError as e:
        raise ImageError(f"cannot read file: {e.strerror or e}") from None


def open_stream(path: Path) -> BinaryIO:
    """A video (or any large media file) opened for streaming reads, bounded like open_regular but
    with no size cap: refused without blocking when a FIFO, device or folder stands behind the name,
    or when its first bytes are no image or video container."""
    fd = _open_fd(path)
    try:
        st = os.fstat(fd)
        if not stat_mod.S_ISREG(st.st_mode):
            raise ImageError(_kind_of(st.st_mode))
        head = os.pread(fd, _HEAD, 0)
        if len(head) >= 2 and not sniff(head):
            raise ImageError(_unidentified_reason(head).replace("not an image", "not a video"))
        os.set_blocking(fd, True)  # a regular file: blocking reads are bounded by its size
        return os.fdopen(fd, "rb")
    except OSError as e:
        os.close(fd)
        raise ImageError(f"cannot read file: {e.strerror or e}") from None
    except BaseException:
        os.close(fd)
        raise


def open_regular(path: Path, max_bytes: int | None = None) -> bytes:
    """Read a regular image file whole, or raise ImageError without blocking or reading too much.

    Opened with O_NONBLOCK (a FIFO swapped in after the scan would block forever otherwise) and
    checked with fstat after opening, so a device or pipe behind the name is refused. The header is
    looked at before the rest is read; at most `max_bytes` (the size the scan saw, when given) or
    the file's size, whichever is smaller, and never more than MAX_FILE_BYTES.
    """
    fd = _open_fd(path)
    try:
        st = os.fstat(fd)
        if not stat_mod.S_ISREG(st.st_mode):
            raise ImageError(_kind_of(st.st_mode))
        size = st.st_size if max_bytes is None else min(st.st_size, max_bytes)
        head = os.read(fd, min(size, _HEAD))
        if len(head) >= 2 and not sniff(head):
            raise ImageError(_unidentified_reason(head))
        if size > MAX_FILE_BYTES:
            raise ImageError(f"file too large to be a photo ({st.st_size / 2**30:.1f} GiB; "
                             f"the limit is {MAX_FILE_BYTES >> 30} GiB)")
        chunks, got = [head], len(head)
        while got < size:
            chunk = os.read(fd, min(size - got, 1 << 20))
            if not chunk:
                break  # truncated meanwhile: decode says what is wrong with what is there
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)
    except OSError as e:
        raise ImageError(f"cannot read file: {e.strerror or e}") from None
    finally:
        os.close(fd)


def _kind_of(mode: int) -> str:
    if stat_mod.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat_mod.S_ISFIFO(mode):
        return "is a pipe (FIFO), not a photo"
    if stat_mod.S_ISCHR(mode) or stat_mod.S_ISBLK(mode):
        return "is a device, not a photo"
    if stat_mod.S_ISSOCK(mode):
        return "is a socket, not a photo"
    return "not a regular file"


def _orient(im: Image.Image, orientation: int) -> Image.Image:
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        method = {
            2: Image.Transpose.FLIP_LEFT_RIGHT,
            3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_270,
            7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90,
        }[orientation]
        return im.transpose(method)
    return im


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB; transparency is composited on a neutral background."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _high_depth_to_rgb(im)
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode in ("P", "L", "RGB") and "transparency" in im.info
    )
    if has_alpha:
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    return im.convert("RGB")


def _high_depth_to_rgb(im: Image.Image) -> Image.Image:
    """16-bit and float greyscale: scale the real range to 8 bits instead of clipping at 255."""
    import numpy as np

    arr = np.asarray(im, dtype=np.float64)
    if im.mode.startswith("I;16"):
        lo, hi = 0.0, 65535.0
    else:
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    scaled = np.nan_to_num((arr - lo) * (255.0 / max(hi - lo, 1e-9)))
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L").convert("RGB")


def _taken_at(exif: Image.Exif) -> float | None:
    try:
        value = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    except Exception:
        return None
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S").timestamp()
    except ValueError:
        return None


def _unidentified_reason(data: bytes, name: object = None) -> str:
    head = data[:512]
    if head.startswith((b"\xff\xd8", b"\x89PNG", b"GIF8", b"RIFF", b"BM", b"II*\x00", b"MM\x00*")):
        return "corrupt image: the header is damaged"
    if isinstance(name, (str, Path)):
        from .formats import missing_decoder

        missing = missing_decoder(name)
        if missing:
            return missing
    if b"ftypheic" in head or b"ftypmif1" in head or b"ftypavif" in head:
        if heif_available():
            return "corrupt HEIC/AVIF image: its structure is damaged"
        return "HEIC/AVIF image: install pillow-heif to read it"
    if head.startswith(b"\xff\x0a") or head[4:12] == b"JXL \r\n\x87\n":
        return "JPEG XL image: install pillow-jxl-plugin to read it"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "not an image (it is a text file)"
    return "not an image (unrecognised format)"


def _reason(e: Exception) -> str:
    msg = " ".join(str(e).split())  # plugins (libheif) end their messages with a newline
    low = msg.lower()
    if "truncated" in low or "premature end" in low or "end of file" in low or isinstance(e, EOFError):
        return "truncated file"
    if "crc" in low or "broken png" in low or "checksum" in low:
        return "corrupt image: checksum error"
    return f"corrupt image: {msg}" if msg else f"corrupt image ({type(e).__name__})"


# decode() checks the pixel count itself (DEFAULT_MAX_PIXELS) before any pixel is decoded, with a
# message that names the size; Pillow's own guard would fire first with a technical one.
Image.MAX_IMAGE_PIXELS = None
# Truncated JPEGs are refused rather than half-decoded into grey: a broken file must be reported.
ImageFile.LOAD_TRUNCATED_IMAGES = False


def thumbnail(source: Path | bytes, size: int) -> Image.Image:
    """An RGB thumbnail whose longest side is at most `size`, decoded at reduced scale."""
    decoded = decode(source, min_side=size)
    im = decoded.image
    im.thumbnail((size, size), Image.Resampling.LANCZOS if max(im.size) < 4 * size else Image.Resampling.BILINEAR)
    return im


