"""The People tab's door into core.faces (allowed beside facade.py by the import contract): every
function may block (disk, SQL, dlib), so call them from workers, never from the UI thread."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.library import Library
from ..core.progress import ProgressFn

if TYPE_CHECKING:
    from ..core.faces import FaceReport, Person


def available() -> bool:
    from ..core.faces import available

    return available()


def install_hint() -> str:
    from ..core.faces import INSTALL_HINT

    return INSTALL_HINT


def enabled(lib: Library) -> bool:
    return lib.faces.enabled


def set_enabled(lib: Library, on: bool) -> None:
    """On: the next index run finds faces. Off: every face, person and name is deleted."""
    lib.faces.set_enabled(on)


def index_faces(lib: Library, progress: ProgressFn | None, cancel: threading.Event | None,
                pause: threading.Event | None = None) -> FaceReport:
    from ..core.faces import index_faces

    return index_faces(lib, progress=progress, cancel=cancel, pause=pause)


def people(lib: Library, everyone: bool = False) -> list[Person]:
    """core.faces.Person list: people seen twice or more, or (everyone) also once, and hidden ones."""
    return lib.faces.people(min_faces=1 if everyone else 2, hidden=everyone)


def rename(lib: Library, person_id: int, name: str) -> None:
    lib.faces.rename(person_id, name)


def merge(lib: Library, person_ids: list[int]) -> int:
    """Merge every person into the first named one (else the first); returns the one kept."""
    store = lib.faces
    people = [store.person(p) for p in person_ids]
    keep = next((p for p in people if p.name), people[0])
    for p in people:
        if p.id != keep.id:
            store.merge(keep.id, p.id)
    return keep.id


def merge_into(lib: Library, target: int, others: list[int]) -> int:
    """Merge people into `target` (a person dropped on another): it keeps its name, or takes the first
    of theirs when it has none; returns `target`."""
    store = lib.faces
    for other in others:
        if other != target:
            store.merge(target, other)
    return target


def not_this_person(lib: Library, face_id: int) -> int:
    return lib.faces.move_out(face_id)


def hide(lib: Library, person_id: int, hidden: bool = True) -> None:
    lib.faces.hide(person_id, hidden)


def recluster(lib: Library) -> int:
    from ..core.faces import recluster

    return recluster(lib)


def faces_in(lib: Library, path: Path) -> list[tuple[tuple[float, float, float, float], str | None, int]]:
    """The faces of one photo as (box as fractions of the upright photo, person's name, face id)."""
    rel = lib.relpath_of(Path(path))
    fid = lib.file_ids([rel]).get(rel) if rel is not None else None
    if fid is None:
        return []
    info = lib.files([fid])[0]
    if not info.width or not info.height:
        return []
    store = lib.faces
    names = store.names()
    w, h = info.width, info.height
    return [((f.box[0] / w, f.box[1] / h, f.box[2] / w, f.box[3] / h),
             names.get(f.person_id) if f.person_id is not None else None, f.id)
            for f in store.faces(file_id=fid)]


def face_crop(path: Path, box: tuple[int, int, int, int], px: int) -> Any:
    """A square RGB PIL image of a face (with some margin), about `px` pixels."""
    from PIL import Image

    from ..core.images import decode

    left, top, right, bottom = box
    side = max(right - left, bottom - top)
    margin = side * 0.25
    with Image.open(path) as im:  # reads the header only
        short = min(im.size)
    scale = min(1.0, px / max(1.0, side + 2 * margin))  # the crop must still have `px` pixels
    d = decode(Path(path), min_side=int(short * scale) + 1)
    sx, sy = d.image.width / d.width, d.image.height / d.height
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half = side / 2 + margin
    crop = d.image.crop((round((cx - half) * sx), round((cy - half) * sy),
                         round((cx + half) * sx), round((cy + half) * sy)))
    return crop.resize((px, px), Image.Resampling.LANCZOS)
