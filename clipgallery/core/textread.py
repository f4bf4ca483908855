"""Reading the text in photos (RapidOCR: PP-OCRv4 detection + recognition, bundled ONNX models) as a
separate pass after CLIP indexing, with a cheap detector-only gate that skips photos without text.

The gate runs the same text detector on the photo shrunk to GATE_SIDE pixels (a few times fewer
pixels than the full pass); only photos where it finds a text region are read in full, and then the
lines are detected at the read size only in the regions around the gate's boxes (`regions`), not
over the whole photo: for a sign that is a fifth of the cost of the read (on 2026-11-30, 34 signs of
bench/text_reading.py and the tests: 0.12 s a photo against 0.56 s, every word still read). The CLIP
vector is never needed, so a photo indexed long ago is read without being encoded again.
"""

from __future__ import annotations

import copy
import os
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
# On 2026-11-30 with the one-resize gate, 100 more signs: 480 px 100/100, 448 px 100/100 for 5 % less
# CPU, 416 px 99/100 for 16 % less; decoding at 1/4 scale instead of 1/2 lost 5 of 60 at 384-416 px.
GATE_SIDE = 480
# Longest side the full pass may detect lines at (recognising them from the photo at READ_SIDE);
# None: RapidOCR's own size, the full photo. 960 px was tried on 2026-11-30 (bench/text_reading.py
# --det-side 960) and showed no speed-up that stood out of the noise of a loaded machine, so the
# full size, whose recall the tests measure, stays.
DET_SIDE: int | None = None
GATE_MIN_SCORE = 0.5  # RapidOCR's own box threshold
MIN_CONFIDENCE = 0.5  # recognised lines below this are mostly noise on textures
# Photos decoded and gated at once, each gate on one core: on 2 cores under load (2026-11-30, load
# average 8) the detector took 33 ms of CPU a photo on one thread against 65 ms on two threads
# that spin while they wait (39 ms with spinning off), so one thread a photo and a photo a core.
WORKERS = 4
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
    """RapidOCR with its detector also set up for the small gate pass. `gate_boxes` may run on several
    threads at once; full reads take turns."""

    def __init__(self, gate_side: int = GATE_SIDE, det_side: int | None = DET_SIDE, regions: bool = True) -> None:
        """`det_side` None: RapidOCR's own detection size (the full photo). `regions`: a photo the gate
        passed has its lines detected only around the gate's boxes (False: over the whole photo)."""
        self.gate_side = gate_side
        self.regions = regions
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
        self.gate_det.infer.session = _one_thread_session(det_cfg["model_path"])
        # The regions around the gate's boxes: the same network at the read size, never enlarged
        # (its ONNX session is the gate's: one copy of the weights).
        self.crop_det = copy.copy(self.gate_det)
        self.crop_det.limit_side_len = READ_SIDE
        self._lock = threading.Lock()

    def gate_boxes(self, image: Image.Image) -> list[Any]:
        """The gate: the text regions the detector sees in the photo shrunk to `gate_side`, as
        quadrilaterals in fractions of the photo's size (empty: no text)."""
        import cv2
        import numpy as np

        w, h = image.size
        r = min(1.0, self.gate_side / max(w, h))
        tw, th = max(32, round(w * r / 32) * 32), max(32, round(h * r / 32) * 32)  # the network's multiple
        rgb = cv2.resize(np.asarray(image), (tw, th), interpolation=cv2.INTER_AREA)
        # RapidOCR's own preprocessing written straight into the input: BGR, (x / 255 - 0.5) / 0.5,
        # channels first (a tenth of the time of numpy's transpose and astype: 0.3 ms against 2.6)
        x = np.empty((1, 3, th, tw), np.float32)
        for c in range(3):
            np.multiply(rgb[:, :, 2 - c], np.float32(1 / 127.5), out=x[0, c], casting="unsafe")
        x -= np.float32(1.0)
        preds = self.gate_det.infer(x)[0]  # its own session: no lock
        boxes, _ = self.gate_det.postprocess_op(preds, (th, tw))
        boxes = self.gate_det.filter_tag_det_res(boxes, (th, tw))
        if boxes is None or len(boxes) == 0:
            return []
        return [np.asarray(b, np.float32) / np.array([tw, th], np.float32) for b in boxes]

    def has_text(self, image: Image.Image) -> bool:
        """The gate: does the detector see any text region in the photo shrunk to `gate_side`?"""
        return bool(self.gate_boxes(image))

    def read(self, image: Image.Image, hint: list[Any] | None = None) -> list[TextLine]:
        """Every line of text in an RGB PIL image, in reading order, with fractions of its size.

        `hint`: the gate's boxes (`gate_boxes`); lines are then detected only in the regions around
        them, at the read size, rather than over the whole photo (five times the cost for a sign)."""
        import numpy as np

        w, h = image.size
        scale = min(1.0, READ_SIDE / max(w, h))
        if scale < 1.0:
            image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))))
        sw, sh = image.size
        bgr = np.asarray(image)[:, :, ::-1].copy()  # RapidOCR wants BGR
        with self._lock:
            found = self.engine(bgr)[0] if hint is None else self._read_regions(bgr, hint)
        lines = []
        for box, text, conf in found or []:
            text = str(text).strip()
            if not text or float(conf) < MIN_CONFIDENCE:
                continue
            quad = tuple((min(max(float(x) / sw, 0.0), 1.0), min(max(float(y) / sh, 0.0), 1.0)) for x, y in box)
            lines.append(TextLine(text, quad, float(conf)))
        return lines

    def _read_regions(self, bgr: Any, hint: list[Any]) -> list[tuple[Any, str, float]]:
        """RapidOCR's detect, orient, recognise, with detection run on each region of `regions`."""
        import numpy as np

        eng = self.engine
        h, w = bgr.shape[:2]
        boxes = []
        for x0, y0, x1, y1 in regions(hint, w, h):
            found, _ = self.crop_det(bgr[y0:y1, x0:x1])
            if found is not None:
                boxes += [b + np.array([x0, y0], np.float32) for b in found]
        if not boxes:
            return []
        boxes = eng.sorted_boxes(np.array(boxes, np.float32))
        crops = eng.get_crop_img_list(bgr, boxes)
        crops, _, _ = eng.text_cls(crops)
        rec, _ = eng.text_rec(crops, False)
        return [(b.tolist(), r[0], r[1]) for b, r in zip(boxes, rec)]


def _one_thread_session(model_path: str | Path) -> Any:
    """An ONNX Runtime session on one thread that does not spin while it waits: the gate runs on
    several photos at once (read_folder's workers), one photo a core. Safe to call from threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])


def regions(hint: list[Any], w: int, h: int) -> list[tuple[int, int, int, int]]:
    """Pixel rectangles (x0, y0, x1, y1) of a w x h photo around the gate's boxes (fractions), each
    widened by half its height and at least 32 px (the detector's context), overlapping ones merged."""
    rects = []
    for b in hint:
        x0, y0 = round(float(b[:, 0].min()) * w), round(float(b[:, 1].min()) * h)
        x1, y1 = round(float(b[:, 0].max()) * w), round(float(b[:, 1].max()) * h)
        m = max(32, (y1 - y0) // 2)
        rects.append([max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)])
    merged = True
    while merged:
        merged = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    rects[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del rects[j]
                    merged = True
                    break
            if merged:
                break
    return [(r[0], r[1], r[2], r[3]) for r in rects]


def read_file(reader: TextReader, path: Path, gate: bool = True) -> tuple[list[TextLine], str]:
    """(lines, how) for one photo; ImageError when it cannot be decoded."""
    # A JPEG decodes at 1/2, 1/4 or 1/8 size for a fraction of the time (draft mode): most photos
    # never need more pixels than the gate's.
    if not gate:
        return reader.read(decode(path, min_side=READ_SIDE * 3 // 4).image), "read"
    boxes = reader.gate_boxes(decode(path, min_side=reader.gate_side * 3 // 4).image)
    if not boxes:
        return [], "gated"
    hint = boxes if reader.regions else None
    return reader.read(decode(path, min_side=READ_SIDE * 3 // 4).image, hint), "read"


def read_folder(library: Library, reader: TextReader | Callable[[], TextReader] | None = None,
                progress: ProgressFn | None = None, cancel: threading.Event | None = None,
                batch_size: int = 8, gate: bool = True, pause: threading.Event | None = None,
                workers: int | None = None) -> TextReport:
    """Read every indexed photo of the library not read yet; one commit per batch, so a crash or a
    cancel loses at most one batch, and the next run reads only what is left. `workers` photos are
    decoded and gated at once (None: one a core, at most WORKERS); full reads take turns."""
    from concurrent.futures import ThreadPoolExecutor

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

    def one(rel: str) -> tuple[list[TextLine], str] | str | None:
        """(lines, how), the reason it failed, or None when cancelled first."""
        while pause is not None and pause.is_set() and not cancel.is_set():
            time.sleep(0.05)
        if cancel.is_set():
            return None
        assert engine is not None  # made above: there is something to read
        try:
            return read_file(engine, library.abspath(rel), gate)
        except ImageError as e:
            return e.reason
        except Exception as e:  # a decoder or runtime bug costs one photo, never the run
            return f"cannot read text: {type(e).__name__}: {e}"

    done = 0
    rates: deque[tuple[float, int]] = deque([(time.perf_counter(), 0)], maxlen=8)
    seen: dict[str, int] = {}  # duplicates inside this run: read once
    n_workers = workers or max(1, min(WORKERS, os.cpu_count() or 1))
    with ThreadPoolExecutor(n_workers, thread_name_prefix="text-read") as pool:
        for start in range(0, total, batch_size):
            if cancel.is_set():
                break
            items = todo[start:start + batch_size]
            batch: list[ReadResult] = []
            dupes: list[tuple[int, str | None, int]] = []
            pending = list(items)
            while pending and not cancel.is_set():
                # A photo whose bytes another photo of this batch has waits for that one's result.
                firsts, later, hashes = [], [], set()
                for item in pending:
                    h = item[2]
                    if h and h in seen:
                        dupes.append((item[0], h, seen[h]))
                        done += 1
                    elif h and h in hashes:
                        later.append(item)
                    else:
                        firsts.append(item)
                        hashes.add(h)
                for (fid, rel, h), got in zip(firsts, pool.map(one, [rel for _, rel, _ in firsts])):
                    if got is None:
                        continue
                    done += 1
                    if isinstance(got, str):
                        report.failed.append(FailedFile(library.abspath(rel), got))
                        continue
                    lines, how = got
                    if h:
                        seen[h] = fid
                    batch.append(ReadResult(fid, h, tuple(lines), how))
                    report.read += how == "read"
                    report.gated += how == "gated"
                    report.with_text += bool(lines)
                pending = later
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
