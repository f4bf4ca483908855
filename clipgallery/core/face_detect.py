"""Finding and describing the faces of one photo (dlib): the part of core.faces that runs in the
face pass's worker processes.

Kept light on purpose: numpy, Pillow, dlib and core.images only (never torch), because each worker
process of the face pass imports this module and nothing more. dlib's descriptor network holds the
GIL while it runs (about 75 ms a face on one core), so worker threads could not run two photos at
once; processes can (bench/faces.py).
"""

from __future__ import annotations

import importlib.util
import io
import math
import signal
import threading
from pathlib import Path

import numpy as np

from .errors import ImageError, ModelLoadError
from .store.faces import DetectedFace

# A face of this many pixels (box side, in the original photo) or more is looked for; a photo is
# searched at HOG_MIN_BOX/MIN_FACE_PX of its size. dlib's frontal detector scans an 80 px window whose
# face box is smaller: at its own scale it finds face boxes from about 64 px (the shared photos pasted
# at each size, 48 faces each: 56 px 27, 58 px 33, 60 px 36, 62 px 40, 64 px 45, 66 px 48 found).
# So a 12 MP photo is searched at full size: faces from 64 px are found, 60 px ones three times in
# four. Searching at 64/60 (1.07x) would find them all but costs 16% more CPU time (1.09 against
# 0.94 CPU-s per 12 MP photo with 4 faces: 1.84 against 2.14 photos/s on two cores, below the
# 2 photos/s the face pass is meant to keep; bench/faces.py --min-face 60).
MIN_FACE_PX = 64
HOG_MIN_BOX = 64
# Photos with a shorter side below this are searched at twice their size (dlib's upsampling),
# so the faces of a small photo (32 px and up) are found too.
SMALL_SIDE = 720
CHIP_SIZE = 150
INSTALL_HINT = ("finding faces needs the packages dlib-bin and face-recognition-models: "
                "pip install 'clipgallery[faces]' (or: pip install dlib-bin face-recognition-models)")


def available() -> bool:
    """Whether dlib and the face model files are installed (without importing either)."""
    return importlib.util.find_spec("dlib") is not None and model_dir() is not None


def model_dir() -> Path | None:
    # face_recognition_models imports pkg_resources, which new setuptools no longer ships: find
    # its data files without importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(next(iter(spec.submodule_search_locations))) / "models"
    return d if (d / "dlib_face_recognition_resnet_model_v1.dat").is_file() else None


class Models:
    """dlib's detector, landmark model and descriptor network; one set per thread (not thread-safe)."""

    _local = threading.local()

    @classmethod
    def get(cls) -> Models:
        m = getattr(cls._local, "models", None)
        if m is None:
            m = cls._local.models = cls()
        return m

    def __init__(self) -> None:
        d = model_dir()
        if d is None or importlib.util.find_spec("dlib") is None:
            raise ModelLoadError(INSTALL_HINT)
        import dlib

        try:
            self.detector = dlib.get_frontal_face_detector()
            self.shapes = dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat"))
            self.net = dlib.face_recognition_model_v1(str(d / "dlib_face_recognition_resnet_model_v1.dat"))
        except RuntimeError as e:
            raise ModelLoadError(f"cannot load the face models from {d}: {e}") from e
        self.dlib = dlib


def working_scale(width: int, height: int, min_face: int | None = None) -> tuple[float, int]:
    """(scale of the original to search at, dlib upsampling count) for a photo of this size."""
    min_face = min_face or MIN_FACE_PX
    if min(width, height) < SMALL_SIDE:
        return 1.0, 1
    return HOG_MIN_BOX / min_face, 0


def detect_faces(source: Path | bytes, min_face: int | None = None) -> tuple[list[DetectedFace], int, int]:
    """The faces of one photo and its upright size; ImageError when it cannot be decoded."""
    from PIL import Image

    from .images import decode

    models = Models.get()
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:  # the header alone gives the size to decode at (the short side does not depend on EXIF turns)
        with Image.open(io.BytesIO(data)) as probe:
            stored_short = min(probe.size)
    except Exception:
        stored_short = 0  # decode() below says what is wrong with the file
    scale, _ = working_scale(stored_short, stored_short, min_face)
    full = decode(data, min_side=math.ceil(stored_short * min(1.0, scale)) or SMALL_SIDE)
    w0, h0 = full.width, full.height
    scale, upsample = working_scale(w0, h0, min_face)
    img = full.image
    target = (max(1, round(w0 * scale)), max(1, round(h0 * scale)))
    # HOG on the grey image at the working size: a third of the gradient work, and fewer false
    # faces on colourful backgrounds (bench/faces.py). Landmarks and chips come from the colour
    # image as decoded (up to full size), so a small face still gives a sharp chip.
    gray_img = img.convert("L")
    if gray_img.size != target:
        gray_img = gray_img.resize(target, Image.Resampling.BILINEAR)
    rects, scores, _ = models.detector.run(np.asarray(gray_img, dtype=np.uint8), upsample, 0.0)
    if not rects:
        return [], w0, h0
    gx, gy = img.width / target[0], img.height / target[1]  # working size -> decoded image
    fx, fy = w0 / target[0], h0 / target[1]  # working size -> original
    out = []
    for rect, score in zip(rects, scores):
        box = (max(0, round(rect.left() * fx)), max(0, round(rect.top() * fy)),
               min(w0, round(rect.right() * fx)), min(h0, round(rect.bottom() * fy)))
        if box[2] - box[0] < 4 or box[3] - box[1] < 4:
            continue
        # Landmarks and the chip from the face with a face's width around it: the aligned, padded
        # chip (even turned 45 degrees) lies inside, and only this much of a 12 MP photo becomes an
        # array (the whole photo as one costs as much as decoding it).
        left, top, right, bottom = rect.left() * gx, rect.top() * gy, rect.right() * gx, rect.bottom() * gy
        m = max(right - left, bottom - top)
        region = (max(0, math.floor(left - m)), max(0, math.floor(top - m)),
                  min(img.width, math.ceil(right + m)), min(img.height, math.ceil(bottom + m)))
        arr = np.asarray(img.crop(region), dtype=np.uint8)
        on_img = models.dlib.rectangle(round(left) - region[0], round(top) - region[1],
                                       round(right) - region[0], round(bottom) - region[1])
        shape = models.shapes(arr, on_img)
        chip = models.dlib.get_face_chip(arr, shape, size=CHIP_SIZE, padding=0.25)
        desc = np.asarray(models.net.compute_face_descriptor(chip), dtype=np.float32)
        out.append(DetectedFace(box, quality(box, float(score), chip), desc))
    return out, w0, h0


def quality(box: tuple[int, int, int, int], score: float, chip: np.ndarray) -> float:
    side = min(box[2] - box[0], box[3] - box[1])
    gray = chip.astype(np.float32).mean(axis=2)
    lap = gray[1:-1, 1:-1] * 4 - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:]
    sharp = min(1.0, float(lap.var()) / 400.0)
    return round(0.4 * min(1.0, side / 160) + 0.4 * min(1.0, max(0.0, score) / 1.5) + 0.2 * sharp, 4)


def scan_file(path: Path, min_face: int | None) -> tuple[list[DetectedFace], str | None]:
    """The faces of one file, or ([], why not) for a file that cannot be searched; only a missing
    package or model file raises (ModelLoadError)."""
    try:
        faces, _, _ = detect_faces(path.read_bytes(), min_face)
        return faces, None
    except FileNotFoundError:
        return [], "file disappeared"
    except OSError as e:
        return [], f"cannot read file: {e.strerror or e}"
    except ImageError as e:
        return [], e.reason
    except ModelLoadError:
        raise
    except Exception as e:  # a decoder or dlib failure costs one photo, never the pass
        return [], f"cannot search for faces: {type(e).__name__}: {e}"


def worker_init() -> None:
    """In a worker process: Ctrl-C is the parent's to handle (it cancels the pass and ends the pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
