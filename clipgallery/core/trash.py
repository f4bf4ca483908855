"""Moving confirmed duplicates to the desktop trash: the only way clipgallery removes a photo.

`plan_trash()` checks everything first and moves nothing: each extra and its keeper are still the
bytes the library knows (hashed again), the pixels say they are the same picture (core.pixels,
checked directly against the photo kept), and the trash can be reached. `trash_extras()` then moves
each through send2trash (the freedesktop.org Trash on Linux, the Recycle Bin on Windows, the macOS
Trash), finds where it went (its `.trashinfo`, on Linux), records it in the library (`trashed`) and
takes it out of the library's files. A file that fails is reported with its reason; the others go on.
"""

from __future__ import annotations

import configparser
import hashlib
import os
import stat
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .duplicates import DUPLICATE, DuplicateGroup
from .errors import ImageError, QueryError, TrashError
from .library import FileInfo, Library
from .pixels import MAX_RMS, difference, fingerprints
from .progress import Progress, ProgressFn


@dataclass(frozen=True)
class TrashMove:
    path: Path  # the extra, to be moved to the trash
    keep: Path  # the photo of the same picture that stays
    file_id: int
    content_hash: str
    size: int
    keep_relpath: str
    relpath: str


@dataclass
class TrashPlan:
    moves: list[TrashMove]
    kept: list[Path]  # the photo kept of each group that has a move
    refused: list[tuple[Path, str]] = field(default_factory=list)  # (extra, why it stays)
    trash: str = "the Trash"  # where the files go, in words (a folder on Linux)

    def to_json(self) -> dict[str, Any]:
        return {"would_trash": [str(m.path) for m in self.moves], "kept": [str(p) for p in self.kept],
                "moves": [{"path": str(m.path), "keep": str(m.keep), "size": m.size} for m in self.moves],
                "failed": [{"path": str(p), "error": e} for p, e in self.refused], "trash": self.trash}


@dataclass
class TrashReport:
    trashed: list[tuple[Path, str | None]]  # (photo, where in the trash it is, when known)
    kept: list[Path]
    failed: list[tuple[Path, str]]
    trash: str

    def to_json(self) -> dict[str, Any]:
        return {"trashed": [str(p) for p, _ in self.trashed], "kept": [str(p) for p in self.kept],
                "locations": [{"path": str(p), "trash_path": t} for p, t in self.trashed],
                "failed": [{"path": str(p), "error": e} for p, e in self.failed], "trash": self.trash}


def choices(groups: Sequence[DuplicateGroup], keep: dict[int, int] | None = None
            ) -> list[tuple[FileInfo, list[FileInfo]]]:
    """(keeper, extras) of each confirmed group; `keep` maps a group's index to the member chosen
    to stay instead of the suggested one. A similar-only group is refused: CLIP alone never trashes."""
    out = []
    for i, g in enumerate(groups):
        if g.kind != DUPLICATE:
            raise QueryError("only confirmed duplicates can be moved to the trash, never photos that are "
                             "only similar")
        chosen = (keep or {}).get(i, g.keep.id)
        keeper = next((m for m in g.members if m.id == chosen), None)
        if keeper is None:
            raise QueryError(f"the photo chosen to keep is not in group {i + 1}")
        out.append((keeper, [m for m in g.members if m.id != keeper.id]))
    return out


def plan_trash(library: Library, picks: Sequence[tuple[FileInfo, Sequence[FileInfo]]],
               max_rms: float = MAX_RMS, progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> TrashPlan:
    """What moving the extras would do; moves nothing. Raises TrashError when the trash cannot be
    reached for a photo (then nothing may move)."""
    known = library.store.duplicates.content_hashes([f.id for k, extras in picks for f in (k, *extras)])
    prints = fingerprints(library, [f for k, extras in picks for f in (k, *extras)], progress, cancel)
    plan = TrashPlan([], [])
    total = sum(len(e) for _, e in picks)
    done = 0
    for keeper, extras in picks:
        keep_problem = _changed(keeper, known.get(keeper.id))
        moved_any = False
        for f in extras:
            done += 1
            if progress is not None:
                progress(Progress("checking files", done, total))
            problem = (f"the photo to keep instead, {keeper.path}, {keep_problem}" if keep_problem
                       else _changed(f, known.get(f.id)))
            if problem is None:
                a, b = prints.prints.get(keeper.id), prints.prints.get(f.id)
                if a is None or b is None:
                    problem = "its pixels could not be compared with the photo kept"
                elif difference(a, b) > max_rms:
                    problem = f"not the same picture as the photo kept ({keeper.path.name})"
            if problem is not None:
                plan.refused.append((f.path, problem))
                continue
            plan.moves.append(TrashMove(f.path, keeper.path, f.id, str(known[f.id]), f.size,
                                        keeper.relpath, f.relpath))
            moved_any = True
        if moved_any:
            plan.kept.append(keeper.path)
    places = {trash_location(m.path) for m in plan.moves}
    plan.trash = ", ".join(sorted(p for p in places if p)) or "the Trash"
    return plan


def _changed(f: FileInfo, content_hash: str | None) -> str | None:
    """None when the file is still the bytes the library indexed, else why it is not."""
    try:
        st = os.lstat(f.path)
    except FileNotFoundError:
        return "is no longer there"
    except OSError as e:
        return f"cannot be read: {e.strerror or e}"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file any more"
    if content_hash is None or st.st_size != f.size:
        return "has changed since it was indexed"
    try:
        if _hash_file(f.path) != content_hash:
            return "has changed since it was indexed"
    except (OSError, ImageError) as e:
        return f"cannot be read: {getattr(e, 'reason', None) or getattr(e, 'strerror', None) or e}"
    return None


def _hash_file(path: Path) -> str:
    """The indexer's content hash (BLAKE2b-128 of the bytes), read a piece at a time."""
    from .images import open_stream

    h = hashlib.blake2b(digest_size=16)
    with open_stream(path) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def trash_extras(library: Library, plan: TrashPlan, progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None) -> TrashReport:
    """Move each planned extra to the desktop trash; record where it went; drop it from the library."""
    from .store import TrashedRow

    if library.read_only:  # the record of where they went could not be written: move nothing
        raise TrashError(f"the library at {library.db_path} is read-only, so it could not record where the "
                         "photos went; nothing was moved")
    unreachable = [(m.path, why) for m in plan.moves if (why := trash_problem(m.path))]
    if unreachable:
        path, why = unreachable[0]
        raise TrashError(f"cannot move {path} to the trash: {why}; nothing was moved")
    from send2trash import send2trash

    trashed: list[tuple[Path, str | None]] = []
    failed = list(plan.refused)
    rows, ids = [], []
    for i, m in enumerate(plan.moves):
        if cancel is not None and cancel.is_set():
            failed += [(r.path, "cancelled before it was moved") for r in plan.moves[i:]]
            break
        info_dir = _trash_dir(m.path)
        before = _listing(info_dir / "info") if info_dir else set()
        try:
            send2trash(str(m.path))
        except Exception as e:  # send2trash raises OSError, TrashPermissionError and platform errors
            failed.append((m.path, _reason(e)))
            continue
        if m.path.exists():
            failed.append((m.path, "the trash did not take it"))
            continue
        where = _find_in_trash(info_dir, before, m.path) if info_dir else None
        trashed.append((m.path, where))
        rows.append(TrashedRow(m.relpath, m.content_hash, m.size, m.keep_relpath, where, time.time()))
        ids.append(m.file_id)
        if progress is not None:
            progress(Progress("moving to the trash", i + 1, len(plan.moves)))
    if rows:
        library.store.duplicates.record_trashed(rows, ids)
    kept = sorted({m.keep for m in plan.moves if any(p == m.path for p, _ in trashed)})
    return TrashReport(trashed, kept, failed, plan.trash)


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"the trash refused it: {e.strerror}"
    text = str(e) or type(e).__name__
    return f"the trash refused it: {text}"


def trashed(library: Library) -> list[dict[str, Any]]:
    """What clipgallery moved to the trash from this folder, latest first: where each photo was,
    where it went (when known), the photo kept instead, its content hash, when."""
    return [{"path": str(library.abspath(r.relpath)), "trash_path": r.trash_path,
             "kept": None if r.kept_relpath is None else str(library.abspath(r.kept_relpath)),
             "content_hash": r.content_hash, "size": r.size, "when": r.trashed_at}
            for r in library.store.duplicates.trashed()]


# -- where the trash is (freedesktop.org Trash specification, as send2trash follows it) ------------


def _linux() -> bool:
    return sys.platform not in ("darwin", "win32")


def home_trash() -> Path:
    data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(data) / "Trash"


def _device(path: str | Path) -> int:
    return os.lstat(path).st_dev


def _mount_point(path: Path) -> Path:
    p = Path(os.path.realpath(path))
    while not os.path.ismount(p) and p != p.parent:
        p = p.parent
    return p


def _trash_dir(path: Path) -> Path | None:
    """The trash folder a file goes to (Linux): the home trash when the file is on the home's
    filesystem, else `.Trash/$uid` (an admin-made sticky `.Trash`) or `.Trash-$uid` at the top of
    the file's filesystem. None elsewhere (Windows, macOS: their own bin)."""
    if not _linux():
        return None
    try:
        if _device(path) == _device(os.path.realpath(os.path.expanduser("~"))):
            return home_trash()
    except OSError:
        return home_trash()
    top = _mount_point(path)
    shared = top / ".Trash"
    try:
        st = os.lstat(shared)
        if stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX:
            return shared / str(os.getuid())
    except OSError:
        pass
    return top / f".Trash-{os.getuid()}"


def trash_location(path: Path) -> str | None:
    where = _trash_dir(path)
    return None if where is None else str(where)


def trash_problem(path: Path) -> str | None:
    """Why the trash for this file cannot take it, or None (checked before anything moves)."""
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"its folder {path.parent} cannot be written to"
    where = _trash_dir(path)
    if where is None:
        return None
    probe = where
    while not probe.exists():
        if probe.parent == probe:
            return f"the trash folder {where} cannot be created"
        probe = probe.parent
    if not probe.is_dir():
        return f"the trash folder {where} cannot be created ({probe} is not a folder)"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"the trash folder {where} cannot be written to"
    return None


def _listing(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


def _find_in_trash(trash: Path, before: set[str], original: Path) -> str | None:
    """The file in the trash that came from `original`: the new `.trashinfo` whose Path names it."""
    info = trash / "info"
    for name in sorted(_listing(info) - before):
        if not name.endswith(".trashinfo"):
            continue
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(info / name, encoding="utf-8")
            recorded = unquote(parser.get("Trash Info", "Path"))
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        recorded_path = Path(recorded) if os.path.isabs(recorded) else _mount_point(trash) / recorded
        if os.path.normpath(recorded_path) == os.path.normpath(original) or Path(recorded).name == original.name:
            candidate = trash / "files" / name[: -len(".trashinfo")]
            if candidate.exists():
                return str(candidate)
    return None
