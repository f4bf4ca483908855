"""Which file formats this installation reads (a registry), and the decoders beyond Pillow's own:
camera RAW through rawpy (LibRaw) and video through PyAV (FFmpeg)."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from .errors import ImageError

IMAGE, RAW, VIDEO = "image", "raw", "video"


@dataclass(frozen=True)
class Format:
    name: str  # as `clipgallery info` shows it
    kind: str  # IMAGE (Pillow and its plugins), RAW (rawpy) or VIDEO (PyAV)
    extensions: frozenset[str]
    install: str = ""  # the package that turns it on, when it is not Pillow itself


def _pillow_feature(feature: str) -> Callable[[], bool]:
    def check() -> bool:
        from PIL import features

        try:
            return bool(features.check(feature))
        except ValueError:  # a Pillow too old to know the feature
            return False
    return check


def _heif() -> bool:
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def _avif() -> bool:
    if _pillow_feature("avif")():  # Pillow 11.3+ reads AVIF itself
        return True
    try:  # pillow-heif before 1.0 also read AVIF
        import pillow_heif
    except ImportError:
        return False
    register = getattr(pillow_heif, "register_avif_opener", None)  # gone from pillow-heif 1.0
    if register is None:
        return False
    register()
    return True


def _module(name: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            importlib.import_module(name)  # pillow_jxl registers its Pillow plugin on import
        except Exception:  # ImportError, or a binary wheel that does not load on this system
            return False
        return True
    return check


def _always() -> bool:
    return True


def _exts(*names: str) -> frozenset[str]:
    return frozenset(names)


RAW_EXTENSIONS = _exts(".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf",
                       ".rw2", ".raf", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".rwl", ".erf", ".kdc", ".mrw")
VIDEO_EXTENSIONS = _exts(".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".3gp", ".mts", ".m2ts", ".wmv", ".mpg")

# (format, check): a check may import a plugin, which registers it with Pillow.
REGISTRY: list[tuple[Format, Callable[[], bool]]] = [
    (Format("jpeg", IMAGE, _exts(".jpg", ".jpeg", ".jpe", ".jfif")), _always),
    (Format("png", IMAGE, _exts(".png")), _always),
    (Format("gif", IMAGE, _exts(".gif")), _always),
    (Format("bmp", IMAGE, _exts(".bmp")), _always),
    (Format("tiff", IMAGE, _exts(".tif", ".tiff")), _always),
    (Format("webp", IMAGE, _exts(".webp")), _pillow_feature("webp")),
    (Format("mpo", IMAGE, _exts(".mpo")), _always),  # stereo/multi-picture JPEG: the first picture
    (Format("jpeg2000", IMAGE, _exts(".jp2", ".j2k", ".jpf", ".jpx", ".j2c")), _pillow_feature("jpg_2000")),
    (Format("heic", IMAGE, _exts(".heic", ".heif", ".hif"), "pillow-heif"), _heif),
    (Format("avif", IMAGE, _exts(".avif"), "pillow>=11.3"), _avif),
    (Format("jpegxl", IMAGE, _exts(".jxl"), "pillow-jxl-plugin"), _module("pillow_jxl")),
    (Format("raw", RAW, RAW_EXTENSIONS, "rawpy"), _module("rawpy")),
    (Format("video", VIDEO, VIDEO_EXTENSIONS, "av"), _module("av")),
]


@cache
def available() -> dict[str, bool]:
    """Every known format by name -> whether it can be read here (plugins are registered on the way)."""
    return {fmt.name: check() for fmt, check in REGISTRY}


def extensions(*kinds: str) -> frozenset[str]:
    """Lower-case extensions (with the dot) of the formats that are on, of the given kinds (all by default)."""
    on = available()
    out: set[str] = set()
    for fmt, _ in REGISTRY:
        if on[fmt.name] and (not kinds or fmt.kind in kinds):
            out |= fmt.extensions
    return frozenset(out)


def known_extensions() -> frozenset[str]:
    """Every extension of every format in the registry, whether or not it can be read here."""
    return frozenset(ext for fmt, _ in REGISTRY for ext in fmt.extensions)


def kind_of(name: str | os.PathLike | None) -> str | None:
    """IMAGE, RAW or VIDEO by a file name's extension (whether or not its decoder is installed)."""
    if name is None:
        return None
    return _kinds().get(os.path.splitext(os.fspath(name))[1].lower())


@cache
def _kinds() -> dict[str, str]:
    return {ext: fmt.kind for fmt, _ in REGISTRY for ext in fmt.extensions}


def missing_decoder(name: str | os.PathLike) -> str | None:
    """A sentence naming what to install when a file's format is known but its decoder is not installed."""
    ext = os.path.splitext(os.fspath(name))[1].lower()
    on = available()
    for fmt, _ in REGISTRY:
        if ext in fmt.extensions and not on[fmt.name]:
            return f"{fmt.name} files need {fmt.install or 'a newer Pillow'}: install it to read them"
    return None


# (offset, bytes) that open the files of each format: for a reader that refuses a file by its first
# bytes before reading the rest, so that what this module decodes gets through (a video is never read
# whole: the indexer streams it to hash it, PyAV seeks in it).
_TIFF = ((0, b"II*\x00"), (0, b"MM\x00*"))
_ISO_BMFF = ((4, b"ftyp"),)  # HEIC, AVIF, CR3, MP4, MOV, M4V, 3GP
SIGNATURES: dict[str, tuple[tuple[int, bytes], ...]] = {
    "jpeg": ((0, b"\xff\xd8\xff"),),
    "png": ((0, b"\x89PNG\r\n\x1a\n"),),
    "gif": ((0, b"GIF87a"), (0, b"GIF89a")),
    "bmp": ((0, b"BM"),),
    "tiff": _TIFF,
    "webp": ((8, b"WEBP"),),
    "mpo": ((0, b"\xff\xd8\xff"),),  # a JPEG with more pictures after the first
    "jpeg2000": ((0, b"\x00\x00\x00\x0cjP  \r\n\x87\n"), (0, b"\xff\x4f\xff\x51")),  # .jp2 box, .j2k stream
    "heic": _ISO_BMFF,
    "avif": _ISO_BMFF,
    "jpegxl": ((0, b"\xff\x0a"), (0, b"\x00\x00\x00\x0cJXL \r\n\x87\n")),  # bare codestream, container
    # DNG, CR2, NEF, NRW, ARW, SRF, SR2, PEF, SRW, 3FR, IIQ, ERF, KDC, RWL are TIFF underneath.
    "raw": _TIFF + _ISO_BMFF + (
        (0, b"IIRO"), (0, b"IIRS"), (0, b"MMOR"),  # Olympus ORF
        (0, b"IIU\x00"),  # Panasonic RW2, Leica RWL
        (0, b"FUJIFILMCCD-RAW"),  # Fujifilm RAF
        (0, b"II\x1a\x00\x00\x00HEAPCCDR"),  # Canon CRW
        (0, b"FOVb"),  # Sigma X3F
        (0, b"\x00MRM"),  # Minolta MRW
    ),
    "video": _ISO_BMFF + (
        (4, b"moov"), (4, b"mdat"), (4, b"wide"), (4, b"free"), (4, b"skip"),  # QuickTime without ftyp
        (0, b"\x1a\x45\xdf\xa3"),  # Matroska, WebM
        (8, b"AVI "),  # RIFF....AVI
        (0, b"\x47"), (4, b"\x47"),  # MPEG transport stream (.mts), with a 4-byte timecode (.m2ts)
        (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),  # ASF (.wmv)
        (0, b"\x00\x00\x01\xba"), (0, b"\x00\x00\x01\xb3"),  # MPEG program stream, elementary stream
    ),
}
HEAD_BYTES = 32  # enough for every signature above


def sniff(head: bytes) -> list[str]:
    """The formats whose signature the first bytes of a file carry (empty: none this module knows)."""
    return [name for name, sigs in SIGNATURES.items()
            if any(head[off:off + len(sig)] == sig for off, sig in sigs)]


# -- camera RAW --------------------------------------------------------------------------------------

# LibRaw's `flip` -> the EXIF orientation that does the same.
_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}


@dataclass
class RawPicture:
    image: Any  # PIL RGB, upright
    width: int  # the sensor picture's size as shown (after orientation)
    height: int
    taken_at: float | None
    source: str  # "preview" (the camera's embedded JPEG) or "demosaic"


def decode_raw(data: bytes, min_side: int | None = 224, max_pixels: int = 250_000_000,
               prefer_preview: bool = True, half_size: bool = True) -> RawPicture:
    """A camera RAW file -> upright RGB. The embedded preview JPEG when it is at least `min_side`
    (fast: no demosaicing), else LibRaw's demosaic, at half size when that is still large enough."""
    try:
        import rawpy
    except ImportError:
        raise ImageError("RAW files need rawpy: install it to read them") from None
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            w, h, flip = raw.sizes.width, raw.sizes.height, raw.sizes.flip
            if w * h > max_pixels:
                raise ImageError(f"image too large: {w}x{h}")
            taken = _raw_timestamp(raw)
            orientation = _FLIP_TO_ORIENTATION.get(flip, 1)
            if orientation in (6, 8):
                w, h = h, w
            im = _raw_preview(raw, min_side, orientation) if prefer_preview else None
            source = "preview"
            if im is None:
                half = half_size and bool(min_side) and min(w, h) // 2 >= (min_side or 0)
                from PIL import Image

                # postprocess() turns the picture by the file's own orientation.
                rgb = raw.postprocess(half_size=half, use_camera_wb=True, output_bps=8)
                im, source = Image.fromarray(rgb, "RGB"), "demosaic"
    except ImageError:
        raise
    except rawpy.LibRawFileUnsupportedError:
        raise ImageError("not a RAW file LibRaw can read (unsupported camera or damaged header)") from None
    except rawpy.LibRawTooBigError:
        raise ImageError("RAW image too large") from None
    except (rawpy.LibRawIOError, rawpy.LibRawDataError) as e:
        raise ImageError(f"corrupt RAW file: {_libraw_message(e)}") from None
    except rawpy.LibRawError as e:
        raise ImageError(f"cannot decode RAW file: {_libraw_message(e)}") from None
    except MemoryError:
        raise ImageError("not enough memory to decode this RAW file") from None
    return RawPicture(im, w, h, taken, source)


def _raw_preview(raw: Any, min_side: int | None, orientation: int) -> Any:
    """The camera's embedded preview, upright, or None when there is none or it is too small."""
    import rawpy
    from PIL import Image

    from .images import _orient, _to_rgb

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError, rawpy.LibRawError):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im: Image.Image
            if thumb.format == rawpy.ThumbFormat.JPEG:
                im = Image.open(io.BytesIO(thumb.data))
                if min(im.size) < (min_side or 0):
                    return None
                own = im.getexif().get(0x0112, 1)
                if min_side:
                    im.draft("RGB", (min_side, min_side))
                im.load()
                # A preview that says how to turn itself knows best; most carry no EXIF (the RAW does).
                im = _orient(im, own if own != 1 else orientation)
            else:
                im = Image.fromarray(thumb.data)
                if min(im.size) < (min_side or 0):
                    return None
                im = _orient(im, orientation)
            return _to_rgb(im)
    except (OSError, ValueError, SyntaxError, EOFError):
        return None  # a damaged preview: the sensor data may still be fine


def _raw_timestamp(raw: Any) -> float | None:
    try:
        ts = raw.other.timestamp
    except Exception:
        return None
    if isinstance(ts, datetime):
        return ts.timestamp() if ts.year > 1970 else None
    if isinstance(ts, (int, float)) and ts > 0:
        return float(ts)
    return None


def _libraw_message(e: Exception) -> str:
    msg = e.args[0] if e.args else ""
    if isinstance(msg, bytes):
        msg = msg.decode("utf-8", "replace")
    return str(msg).strip().rstrip(".").lower() or type(e).__name__


# -- video -------------------------------------------------------------------------------------------

FRAMES_PER_CLIP = 4


@dataclass
class Clip:
    frames: list[tuple[float, Any]]  # (seconds from the start, PIL RGB upright), in time order
    duration: float | None  # seconds
    width: int  # as shown (after the rotation a phone records)
    height: int
    taken_at: float | None  # the container's creation time


def sample_times(duration: float, count: int = FRAMES_PER_CLIP) -> list[float]:
    """Evenly spread over the clip, never at 0 (a fade-in's first frame is often black)."""
    return [duration * (i + 0.5) / count for i in range(count)]


def read_clip(source: Path | bytes, count: int = FRAMES_PER_CLIP, min_side: int | None = 224,
              max_pixels: int = 250_000_000, at: float | None = None) -> Clip:
    """Decode `count` frames spread across a video (or the one at `at` seconds); ImageError with a plain
    reason when it cannot be read."""
    try:
        import av
    except ImportError:
        raise ImageError("videos need PyAV: install `av` to read them") from None
    src: Any = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    try:
        with av.open(src, "r") as container:
            if not container.streams.video:
                raise ImageError("no video stream in this file (audio only?)")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            w, h = stream.codec_context.width, stream.codec_context.height
            if w * h > max_pixels:
                raise ImageError(f"video too large: {w}x{h}")
            duration = _duration(container, stream)
            if at is not None:
                frames = _frames_at(container, stream, [max(0.0, at)], min_side)
            elif duration:
                frames = _frames_at(container, stream, sample_times(duration, count), min_side)
            else:
                frames = _frames_in_order(container, stream, count, min_side)
            taken = _creation_time(container, stream)
    except ImageError:
        raise
    except av.FFmpegError as e:
        raise ImageError(f"corrupt or unsupported video: {_av_message(e)}") from None
    except (OSError, ValueError, IndexError) as e:
        raise ImageError(f"corrupt or unsupported video: {e}") from None
    except MemoryError:
        raise ImageError("not enough memory to decode this video") from None
    if not frames:
        raise ImageError("corrupt video: no frame could be decoded")
    fw, fh = frames[0][1].size
    if (fw > fh) != (w > h) and w != h:
        w, h = h, w  # the frames were turned upright
    return Clip(frames, duration, w, h, taken)


def poster(source: Path | bytes, min_side: int | None = 224, at: float | None = None) -> Clip:
    """One frame from the middle of the clip (or at `at` seconds), for thumbnails and the viewer."""
    return read_clip(source, count=1, min_side=min_side, at=at)


def _duration(container: Any, stream: Any) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def _frames_at(container: Any, stream: Any, times: list[float], min_side: int | None) -> list[tuple[float, Any]]:
    """For each time, the first frame shown at or after it (seek to the keyframe before, decode on)."""
    out: list[tuple[float, Any]] = []
    tb = float(stream.time_base)
    start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    for t in times:
        with contextlib.suppress(Exception):  # a stream that cannot seek is decoded from where it is
            container.seek(int((start + t) / tb), stream=stream, backward=True, any_frame=False)
        last = None
        for frame in container.decode(stream):
            when = (frame.time if frame.time is not None else 0.0) - start
            last = (when, frame)
            if when >= t - 1e-3:
                break
        if last is not None and (not out or last[0] > out[-1][0]):
            out.append((round(max(last[0], 0.0), 3), _frame_image(last[1], min_side)))
    return out


def _frames_in_order(container: Any, stream: Any, count: int, min_side: int | None) -> list[tuple[float, Any]]:
    """A stream that does not know its length: every frame is decoded once, `count` kept evenly."""
    frames = [(f.time or 0.0, f) for f in container.decode(stream)]
    if not frames:
        return []
    step = len(frames) / count
    picked = sorted({min(len(frames) - 1, int(step * (i + 0.5))) for i in range(count)})
    return [(round(frames[i][0], 3), _frame_image(frames[i][1], min_side)) for i in picked]


def _frame_image(frame: Any, min_side: int | None) -> Any:
    """A decoded frame -> PIL RGB, scaled in FFmpeg so its shorter side is about `min_side`, upright."""
    from PIL import Image

    w, h = frame.width, frame.height
    if min_side and min(w, h) > 2 * min_side:
        s = 2 * min_side / min(w, h)  # keep some margin for the model's own resize and crop
        w, h = max(2, round(w * s)), max(2, round(h * s))
    im = frame.to_image(width=w, height=h) if (w, h) != (frame.width, frame.height) else frame.to_image()
    rotation = getattr(frame, "rotation", 0) or 0  # the phone's display matrix, counter-clockwise
    turn = {90: Image.Transpose.ROTATE_90, -270: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
            -180: Image.Transpose.ROTATE_180, -90: Image.Transpose.ROTATE_270, 270: Image.Transpose.ROTATE_270}
    if int(rotation) in turn:
        im = im.transpose(turn[int(rotation)])
    return im.convert("RGB")


def _creation_time(container: Any, stream: Any) -> float | None:
    for meta in (container.metadata, stream.metadata):
        value = meta.get("creation_time") or meta.get("com.apple.quicktime.creationdate")
        if value:
            try:
                when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            if when.year > 1970:
                return when.timestamp()
    return None


def _av_message(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return str(msg).strip().rstrip(".").lower() or type(e).__name__
