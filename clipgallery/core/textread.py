"""Reading the text in photos (RapidOCR: PP-OCRv4 detection + recognition, bundled ONNX models) as a
separate pass after CLIP indexing, with a cheap detector-only gate that skips photos without text.

The gate runs the same text detector on the photo shrunk to GATE_SIDE pixels (a few times fewer
pixels than the full pass); only photos where it finds a text region are read in full. The CLIP
vector is never needed, so a photo indexed long ago is read without being encoded again.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import ImageError, ModelLoadError
from .images import decode
from .indexer import FailedFile, IndexReport
from .library import Library
from .progress import Progress, ProgressFn
from .store.text import ReadResult, TextLine

READ_SIDE = 1600  # longest side read in full: RapidOCR's own cap is 2000; a bit less is faster
# Longest side of the gate's detector pass. Its cost grows with the pixels: on 2 loaded cores 640 px
# took 1.0 s a photo, 512 px 0.6 s, 416 px 0.3 s, all finding 20 of 20 drawn signs (bench/text_reading.py
# draws letters 2.5-9 % of the photo's height); smaller letters than that may be missed by the gate.
# On 2026-11-30 (load average ~10) 416 px found 59 of 60 more signs against 480 px's 60 of 60, and
# `index --text` stayed at 0.32x of `index` either way: the gain drowned in the load, the miss did not.
GATE_SIDE = 480
# Longest side the full pass may detect lines at (recognising them from the photo at READ_SIDE);
# None: RapidOCR's own size, the full photo. 960 px was tried on 2026-11-30 (bench/text_reading.py
# --det-side 960) and showed no speed-up that stood out of the noise of a loaded machine, so the
# full size, whose recall the tests measure, stays.
DET_SIDE: int | None = None
GATE_MIN_SCORE = 0.5  # RapidOCR's own box threshold
MIN_CONFIDENCE = 0.5  # recognised lines below this are mostly noise on textures
LANGUAGES = "English and Chinese (simplified and traditional), with digits and Latin punctuation"


@dataclass
class TextReport:
    read: int = 0  # read in full
    with_text: int = 0
    gated: int = 0  # skipped: the detector saw no text
    copied: int = 0  # the same bytes were read before
    failed: list[FailedFile] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"read": self.read, "with_text": self.with_text, "gated": self.gated, "copied": self.copied,
                "failed": [{"path": str(f.path), "error": f.error} for f in self.failed],
                "seconds": round(self.seconds, 3), "cancelled": self.cancelled}


class TextReader:
    """RapidOCR with its detector also set up for the small gate pass. One call at a time."""

    def __init__(self, gate_side: int = GATE_SIDE, det_side: int | None = DET_SIDE) -> None:
        """`det_side` None: RapidOCR's own detection size (the full photo)."""
        self.gate_side = gate_side
        try:
            from rapidocr_onnxruntime import RapidOCR
            from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
            from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
            from rapidocr_onnxruntime.utils import read_yaml, update_model_path
        except ImportError as e:
            raise ModelLoadError(f"reading text in photos needs the rapidocr-onnxruntime package ({e}); "
                                 "install it with: pip install rapidocr-onnxruntime") from e
        self.engine = RapidOCR()
        if det_side is not None:
            full_cfg = update_model_path(read_yaml(DEFAULT_CFG_PATH))["Det"]
            full_cfg.update({"limit_type": "max", "limit_side_len": det_side})
            self.engine.text_det = TextDetector(full_cfg)
        det_cfg = update_model_path(read_yaml(DEFAULT_CFG_PATH))["Det"]
        det_cfg.update({"limit_type": "max", "limit_side_len": gate_side})
        self.gate_det = TextDetector(det_cfg)
        self._lock = threading.Lock()

    def has_text(self, image: Image.Image) -> bool:
        """The gate: does the detector see any text region in the photo shrunk to `gate_side`?"""
        import numpy as np

        small = image.copy()
        small.thumbnail((self.gate_side, self.gate_side))
        with self._lock:
            boxes, _ = self.gate_det(np.asarray(small)[:, :, ::-1].copy())  # the detector wants BGR
        return boxes is not None and len(boxes) > 0

    def read(self, image: Image.Image) -> list[TextLine]:
        """Every line of text in an RGB PIL image, in reading order, with fractions of its size."""
        import numpy as np

        w, h = image.size
        scale = min(1.0, READ_SIDE / max(w, h))
        if scale < 1.0:
            image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))))
        sw, sh = image.size
        with self._lock:
            result, _ = self.engine(np.asarray(image)[:, :, ::-1].copy())
        lines = []
        for box, text, conf in result or []:
            text = str(text).strip()
            if not text or float(conf) < MIN_CONFIDENCE:
                continue
            quad = tuple((min(max(float(x) / sw, 0.0), 1.0), min(max(float(y) / sh, 0.0), 1.0)) for x, y in box)
            lines.append(TextLine(text, quad, float(conf)))
        return lines


def read_file(reader: TextReader, path: Path, gate: bool = True) -> tuple[list[TextLine], str]:
    """(lines, how) for one photo; ImageError when it cannot be decoded."""
    # A JPEG decodes at 1/2, 1/4 or 1/8 size for a fraction of the time (draft mode): most photos
    # never need more pixels than the gate's.
    if gate and not reader.has_text(decode(path, min_side=reader.gate_side * 3 // 4).image):
        return [], "gated"
    return reader.read(decode(path, min_side=READ_SIDE * 3 // 4).image), "read"


def read_folder(library: Library, reader: TextReader | Callable[[], TextReader] | None = None,
                progress: ProgressFn | None = None, cancel: threading.Event | None = None,
                batch_size: int = 8, gate: bool = True, pause: threading.Event | None = None) -> TextReport:
    """Read every indexed photo of the library not read yet; one commit per batch, so a crash or a
    cancel loses at most one batch, and the next run reads only what is left."""
    t0 = time.perf_counter()
    cancel = cancel or threading.Event()
    notify = progress or (lambda p: None)
    report = TextReport()
    store = library.text
    store.forget_stale()
    todo = store.unread()
    known = store.read_by_hash(h for _, _, h in todo)
    copies = [(fid, h, known[h]) for fid, _, h in todo if h in known]
    store.save([], copies)
    report.copied = len(copies)
    todo = [t for t in todo if t[2] not in known]
    total = len(todo)
    notify(Progress("reading", 0, total))
    engine: TextReader | None = None
    if isinstance(reader, TextReader):
        engine = reader
    elif total:  # the models load only when something is left to read
        engine = reader() if reader is not None else TextReader()
    done = 0
    rates: deque[tuple[float, int]] = deque([(time.perf_counter(), 0)], maxlen=8)
    seen: dict[str, int] = {}  # duplicates inside this run: read once
    for start in range(0, total, batch_size):
        if cancel.is_set():
            break
        batch: list[ReadResult] = []
        dupes: list[tuple[int, str | None, int]] = []
        for fid, rel, h in todo[start:start + batch_size]:
            while pause is not None and pause.is_set() and not cancel.is_set():
                time.sleep(0.05)
            if cancel.is_set():
                break
            done += 1
            if h and h in seen:
                dupes.append((fid, h, seen[h]))
                continue
            path = library.abspath(rel)
            assert engine is not None  # made above: there is something to read
            try:
                lines, how = read_file(engine, path, gate)
            except ImageError as e:
                report.failed.append(FailedFile(path, e.reason))
                continue
            except Exception as e:  # a decoder or runtime bug costs one photo, never the run
                report.failed.append(FailedFile(path, f"cannot read text: {type(e).__name__}: {e}"))
                continue
            if h:
                seen[h] = fid
            batch.append(ReadResult(fid, h, tuple(lines), how))
            report.read += how == "read"
            report.gated += how == "gated"
            report.with_text += bool(lines)
        store.save(batch)
        store.save([], dupes)
        report.copied += len(dupes)
        now = time.perf_counter()
        rates.append((now, done))
        rate = (done - rates[0][1]) / max(now - rates[0][0], 1e-9)
        notify(Progress("reading", done, total, rate, (total - done) / rate if rate > 0 else None,
                        todo[min(done, total) - 1][1]))
    report.cancelled = cancel.is_set() and done < total
    report.failed.sort(key=lambda f: str(f.path))
    report.seconds = time.perf_counter() - t0
    notify(Progress("done", done, total))
    return report


def read_after_index(library: Library, report: IndexReport, progress: ProgressFn | None = None,
                     cancel: threading.Event | None = None, pause: threading.Event | None = None,
                     reader: TextReader | Callable[[], TextReader] | None = None) -> IndexReport:
    """The reading pass of an index run (GUI and CLI alike): when the folder's text is read and the
    run was not cancelled, read what is new into `report.text`; a cancelled read cancels the run."""
    if report.cancelled or (cancel is not None and cancel.is_set()) or not library.text.enabled:
        return report
    report.text = read_folder(library, reader, progress=progress, cancel=cancel, pause=pause)
    report.cancelled = report.text.cancelled
    return report
