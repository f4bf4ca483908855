"""The files shipped in the clipgallery.resources package, read the same way from a checkout, a wheel,
a zip file or a PyInstaller bundle: importlib.resources Traversables, real files only where needed."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from contextlib import ExitStack
from functools import cache
from importlib.resources import as_file, files
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

PACKAGE = "clipgallery.resources"

_extracted = ExitStack()  # files copied out of a zip for APIs that want a path, deleted at exit
atexit.register(_extracted.close)


def root() -> Traversable:
    return files(PACKAGE)


def resource(*parts: str) -> Traversable:
    """A shipped file or folder, e.g. resource("labels", "emotions.json"); it may not exist."""
    return root().joinpath(*parts)


def listing(folder: str, suffix: str = "") -> list[Traversable]:
    """The files of a shipped folder whose names end with `suffix`, sorted by name."""
    where = resource(folder)
    if not where.is_dir():
        return []
    return sorted((f for f in where.iterdir() if f.is_file() and f.name.endswith(suffix)), key=lambda f: f.name)


@cache
def resource_file(*parts: str) -> Path:
    """A real file path for a shipped file (for safetensors, Qt, ...): the file itself when the package
    is a folder on disk, else a copy kept until the process exits. FileNotFoundError when it is missing."""
    res = resource(*parts)
    if not res.is_file():
        raise FileNotFoundError(f"{'/'.join(parts)} is not shipped with this clipgallery ({location()})")
    return _extracted.enter_context(as_file(res))


def location() -> str:
    """Where the resources are read from, for the About dialog and error messages."""
    res = root()
    return str(res) if isinstance(res, Path) else f"{res} (inside an archive)"


@cache
def resources_folder() -> Path:
    """All the resources as one real folder (a copy when they live in an archive), for code that needs
    a directory; prefer resource()/resource_file()."""
    res = root()
    if isinstance(res, Path):
        return res
    dest = Path(tempfile.mkdtemp(prefix="clipgallery-resources-"))
    _extracted.callback(shutil.rmtree, dest, ignore_errors=True)
    _copy_tree(res, dest)
    return dest


def _copy_tree(src: Traversable, dest: Path) -> None:
    for child in src.iterdir():
        if child.is_dir():
            if child.name != "__pycache__":
                (dest / child.name).mkdir()
                _copy_tree(child, dest / child.name)
        else:
            (dest / child.name).write_bytes(child.read_bytes())
