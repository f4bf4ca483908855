"""Shared fixtures: draw photo folders on disk, load models once per session, build libraries."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never download; a real spec must fail fast
# Text-tower exports (core/textfast.py) go to a folder of this test session, never the user's cache.
if "CLIPGALLERY_MODEL_CACHE" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["CLIPGALLERY_MODEL_CACHE"] = tempfile.mkdtemp(prefix="clipgallery-model-cache-")
    atexit.register(shutil.rmtree, os.environ["CLIPGALLERY_MODEL_CACHE"], True)


def hash_tree(root: Path) -> dict[str, str]:
    """relpath -> sha256 of every file under root (to prove a folder was not touched)."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def photo(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A photo-like RGB picture: smooth gradients plus a few blobs, different for each seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b, ph = rng.uniform(0.005, 0.05, 3)
        img[..., c] = 127 + 100 * np.sin(a * xx + b * yy + ph * 10)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(10, min(w, h) / 3)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        img[mask] = rng.uniform(0, 255, 3)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def save_with_orientation(im: Image.Image, path: Path, orientation: int, fmt: str = "JPEG", **kw) -> None:
    """Store `im` as a camera would: pixels turned so that EXIF `orientation` turns them back upright."""
    inverse = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
    stored = im.transpose(inverse[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, fmt, exif=exif.tobytes(), **kw)


@pytest.fixture(scope="session")
def embedders():
    """Load each model spec once per test session: get(spec) -> Embedder."""
    from clipgallery.core.embed import Embedder

    cache: dict[str, Embedder] = {}

    def get(spec: str) -> Embedder:
        if spec not in cache:
            cache[spec] = Embedder.load(spec, "cpu")
        return cache[spec]

    return get


@pytest.fixture
def make_library(tmp_path, embedders):
    """make_library(folder, model) -> an indexed Library whose data lives in tmp_path."""
    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library

    made = []

    def make(folder: Path, model: str = "tiny-random", batch_size: int = 8):
        lib = Library(folder, tmp_path / f"lib-{len(made)}")
        report = index_folder(lib, embedders(model), batch_size=batch_size)
        made.append(lib)
        return lib, report

    yield make
    for lib in made:
        lib.close()


@pytest.fixture(scope="session")
def shapes_folder(tmp_path_factory):
    """Single-shape pictures of all 24 classes, drawn with seeds never used in training; -> (folder, truth)."""
    from clipgallery.shapes import write_folder

    root = tmp_path_factory.mktemp("shapes")
    truth = write_folder(root, per_class=5, seed=9_000_000)
    return root, {Path(p).resolve(): cls for p, cls in truth.items()}


@pytest.fixture(scope="session")
def shapes_library(shapes_folder, embedders, tmp_path_factory):
    """shapes_folder indexed with the bundled shapes-tiny model (built once per session)."""
    from clipgallery.core.indexer import index_folder
    from clipgallery.core.library import Library

    root, truth = shapes_folder
    lib = Library(root, tmp_path_factory.mktemp("shapes-lib"))
    report = index_folder(lib, embedders("shapes-tiny"), batch_size=32)
    assert not report.failed
    return lib, truth


@pytest.fixture
def gui_window(qtbot, tmp_path):
    """gui_window(model, **settings) -> a shown MainWindow whose settings and libraries live in tmp_path."""
    from clipgallery.gui.main_window import MainWindow
    from clipgallery.gui.settings import Settings

    windows = []

    def make(model: str = "shapes-tiny", **options):
        settings = Settings.at(tmp_path / f"settings-{len(windows)}.ini")
        settings.model, settings.device = model, "cpu"
        settings.library_location = str(tmp_path / "libraries")
        for name, value in options.items():
            setattr(settings, name, value)
        window = MainWindow(settings)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


def screenshot_dir(tmp_path: Path) -> Path:
    """Where a GUI test saves its screenshot: docs/screenshots only when CLIPGALLERY_SCREENSHOTS is set
    (`CLIPGALLERY_SCREENSHOTS=docs/screenshots make test` refreshes the README's pictures), else the
    test's own temporary folder, so an ordinary run never changes a tracked file."""
    shots = os.environ.get("CLIPGALLERY_SCREENSHOTS")
    target = Path(shots) if shots else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    return target
