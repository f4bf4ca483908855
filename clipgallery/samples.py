"""Real files of the formats cameras and phones write, made on the spot for tests and benchmarks:
a minimal DNG (Bayer sensor data, optional embedded preview JPEG) and a short video of drawn pictures."""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

_ASCII, _BYTE, _SHORT, _LONG, _RATIONAL, _SRATIONAL = 2, 1, 3, 4, 5, 10


def dng_bytes(rgb: Image.Image, preview: bool = True, orientation: int = 1,
              taken: str = "2021:06:05 14:03:02") -> bytes:
    """A DNG 1.4 that LibRaw reads: the picture sampled through an RGGB colour filter as 16-bit sensor
    values (black level 64), EXIF DateTimeOriginal, an orientation, and, with `preview`, the picture
    as a JPEG preview in IFD0 with the sensor data in a SubIFD, the way cameras lay it out."""
    a = np.asarray(rgb.convert("RGB"), dtype=np.uint16) * 64 + 64
    h, w = a.shape[0] - a.shape[0] % 2, a.shape[1] - a.shape[1] % 2
    cfa = np.empty((h, w), np.uint16)
    cfa[0::2, 0::2] = a[0:h:2, 0:w:2, 0]
    cfa[0::2, 1::2] = a[0:h:2, 1:w:2, 1]
    cfa[1::2, 0::2] = a[1:h:2, 0:w:2, 1]
    cfa[1::2, 1::2] = a[1:h:2, 1:w:2, 2]
    sensor = cfa.astype("<u2").tobytes()
    raw_ifd = [(254, _LONG, [0]), (256, _LONG, [w]), (257, _LONG, [h]), (258, _SHORT, [16]), (259, _SHORT, [1]),
               (262, _SHORT, [32803]), (273, _LONG, ["sensor"]), (277, _SHORT, [1]), (278, _LONG, [h]),
               (279, _LONG, [len(sensor)]), (284, _SHORT, [1]), (33421, _SHORT, [2, 2]),
               (33422, _BYTE, [0, 1, 1, 2]), (50714, _LONG, [64]), (50717, _LONG, [16383])]
    camera = [(271, _ASCII, "clipgallery"), (272, _ASCII, "Test DNG"), (274, _SHORT, [orientation]),
              (306, _ASCII, taken), (34665, _LONG, ["exif"]), (50706, _BYTE, [1, 4, 0, 0]),
              (50707, _BYTE, [1, 1, 0, 0]), (50708, _ASCII, "clipgallery Test DNG"),
              (50721, _SRATIONAL, [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)]),
              (50728, _RATIONAL, [(1, 1), (1, 1), (1, 1)]), (50778, _SHORT, [21])]
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    offsets: dict[str, int] = {}

    def put(name: str, data: bytes) -> None:
        if len(out) % 2:
            out.append(0)
        offsets[name] = len(out)
        out.extend(data)

    put("sensor", sensor)
    if preview:
        buf = io.BytesIO()
        rgb.convert("RGB").save(buf, "JPEG", quality=90)
        jpg = buf.getvalue()
        put("preview", jpg)
        pw, ph = rgb.size
        ifd0 = camera + [(254, _LONG, [1]), (256, _LONG, [pw]), (257, _LONG, [ph]), (258, _SHORT, [8, 8, 8]),
                         (259, _SHORT, [7]), (262, _SHORT, [6]), (273, _LONG, ["preview"]), (277, _SHORT, [3]),
                         (278, _LONG, [ph]), (279, _LONG, [len(jpg)]), (330, _LONG, ["raw"])]
    else:
        ifd0 = camera + raw_ifd
    put("exif", b"")
    out.extend(_ifd([(36867, _ASCII, taken)], len(out), offsets))
    if preview:
        put("raw", b"")
        out.extend(_ifd(raw_ifd, len(out), offsets))
    put("ifd0", b"")
    out.extend(_ifd(ifd0, len(out), offsets))
    struct.pack_into("<I", out, 4, offsets["ifd0"])
    return bytes(out)


def _ifd(entries: list, start: int, offsets: dict[str, int]) -> bytes:
    """One TIFF directory at `start`; values longer than 4 bytes follow it. Names in values are offsets."""
    entries = sorted(entries, key=lambda e: e[0])
    body = bytearray(struct.pack("<H", len(entries)))
    extra = bytearray()
    extra_at = start + 2 + 12 * len(entries) + 4
    for tag, typ, values in entries:
        if typ == _ASCII:
            data = values.encode("ascii") + b"\x00"
            count = len(data)
        elif typ in (_RATIONAL, _SRATIONAL):
            data = b"".join(struct.pack("<II" if typ == _RATIONAL else "<ii", *v) for v in values)
            count = len(values)
        else:
            fmt = {_BYTE: "<B", _SHORT: "<H", _LONG: "<I"}[typ]
            data = b"".join(struct.pack(fmt, offsets[v] if isinstance(v, str) else v) for v in values)
            count = len(values)
        if len(data) <= 4:
            body += struct.pack("<HHI", tag, typ, count) + data.ljust(4, b"\x00")
        else:
            if len(extra) % 2:
                extra.append(0)
            body += struct.pack("<HHII", tag, typ, count, extra_at + len(extra))
            extra += data
    body += struct.pack("<I", 0)
    return bytes(body + extra)


def write_video(path: Path, pictures: Sequence[Image.Image], seconds_each: float = 1.0, fps: int = 10,
                codec: str = "mpeg4", creation_time: str | None = None, turned: bool = False) -> Path:
    """A video showing each picture in turn for `seconds_each` (PyAV; mpeg4 in .mp4/.mov/.avi/.mkv,
    libvpx-vp9 for .webm). `turned` (mp4/mov): stored as a phone held upright stores it, the pictures
    turned a quarter to the left and a display matrix saying to turn them back a quarter to the right."""
    if turned:
        pictures = [p.transpose(Image.Transpose.ROTATE_90) for p in pictures]
    import av  # type: ignore[import-not-found]

    w, h = pictures[0].size
    w, h = w - w % 2, h - h % 2
    with av.open(str(path), "w") as container:
        if creation_time:
            container.metadata["creation_time"] = creation_time
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.bit_rate = 4_000_000  # FFmpeg's default (200 kb/s) blurs drawn edges into blocks
        for pic in pictures:
            frame = av.VideoFrame.from_ndarray(np.asarray(pic.convert("RGB").resize((w, h))), format="rgb24")
            for _ in range(max(1, round(seconds_each * fps))):
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    if turned:
        _display_quarter_right(Path(path), h)
    return Path(path)


def _display_quarter_right(path: Path, stored_height: int) -> None:
    """Set the track header's matrix to an iPhone's portrait one (FFmpeg reads it as rotation -90)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    if at < 0:
        raise ValueError(f"{path} has no track header to turn (mp4 and mov only)")
    matrix = at + 4 + (40 if data[at + 4] == 0 else 52)  # after version/flags, times, ids, layer, volume
    struct.pack_into(">9i", data, matrix, 0, 1 << 16, 0, -(1 << 16), 0, 0, stored_height << 16, 0, 1 << 30)
    path.write_bytes(bytes(data))
