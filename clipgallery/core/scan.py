"""Walk a photo folder: which image files exist, and what changed since the last index."""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

BASE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".avif"})
# Photo formats people keep that some installations cannot read: counted, never silently skipped.
KNOWN_EXTENSIONS = BASE_EXTENSIONS | HEIF_EXTENSIONS


def image_extensions() -> frozenset[str]:
    """Extensions we can decode here: Pillow's, and those of the plugins, RAW and video readers
    that are installed (core.formats)."""
    from .formats import extensions

    return BASE_EXTENSIONS | extensions()


@dataclass(frozen=True)
class ScannedFile:
    relpath: str  # POSIX separators, relative to the scanned root
    size: int
    mtime_ns: int


def walk(
    root: Path,
    extensions: frozenset[str] | None = None,
    skip: Path | None = None,
    on_progress: Callable[[int], None] | None = None,
    unreadable: list[str] | None = None,
    unsupported: dict[str, int] | None = None,
) -> Iterator[ScannedFile]:
    """Yield every image file under root, skipping hidden entries, symlink loops and dangling links.

    Symlinked folders are followed once each (by device and inode), so a link back up the tree
    cannot loop. `skip` is a folder never entered. Folders that cannot be listed are appended
    to `unreadable` (as relative paths), so the caller does not mistake their files for deleted.
    Photos of a known format that no installed decoder reads are counted by extension in
    `unsupported`, so they can be reported instead of silently left out.
    """
    root = Path(root)
    exts = extensions if extensions is not None else image_extensions()
    known: frozenset[str] = frozenset()
    if unsupported is not None:  # every format core.formats knows, installed here or not
        from .formats import known_extensions

        known = KNOWN_EXTENSIONS | known_extensions()
    skip_key = _dir_key(skip) if skip is not None and skip.exists() else None
    seen_dirs = {_dir_key(root)}
    stack: list[tuple[Path, str]] = [(root, "")]
    count = 0
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            if unreadable is not None:
                unreadable.append(prefix.rstrip("/"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError:
                continue  # dangling link or vanished file
            rel = prefix + entry.name
            if stat_mod.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in seen_dirs or key == skip_key:
                    continue
                seen_dirs.add(key)
                stack.append((Path(entry.path), rel + "/"))
            elif stat_mod.S_ISREG(st.st_mode) and os.path.splitext(entry.name)[1].lower() in exts:
                count += 1
                if on_progress is not None:
                    on_progress(count)
                yield ScannedFile(rel, st.st_size, st.st_mtime_ns)
            elif unsupported is not None and stat_mod.S_ISREG(st.st_mode):
                ext = os.path.splitext(entry.name)[1].lower()
                if ext in known:
                    unsupported[ext] = unsupported.get(ext, 0) + 1


def _dir_key(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


class KnownFile(NamedTuple):
    """What the library remembers of a file. A named tuple: the index check makes one per known
    file straight from SQLite's row tuples (a million in about a second less than a dataclass)."""

    id: int
    relpath: str
    size: int
    mtime_ns: int
    content_hash: str | None
    has_vector: bool
    failed: bool = False


@dataclass
class Changes:
    """The difference between a scan and the library, for one model."""

    new: list[ScannedFile] = field(default_factory=list)
    changed: list[tuple[ScannedFile, KnownFile]] = field(default_factory=list)
    unchanged: list[KnownFile] = field(default_factory=list)
    missing: list[KnownFile] = field(default_factory=list)

    @property
    def todo(self) -> int:
        return len(self.new) + len(self.changed)


def compare(scanned: list[ScannedFile], known: Mapping[str, KnownFile]) -> Changes:
    """Sort scanned files into new / changed / unchanged, and known files into missing.

    A file counts as changed when its size or mtime differs, when it has no vector for the
    current model yet, or when it failed last time (a decoder may have been installed since).
    Moves are found later, by content hash, when the new file is read.
    """
    changes = Changes()
    present = set()
    for f in scanned:
        present.add(f.relpath)
        k = known.get(f.relpath)
        if k is None:
            changes.new.append(f)
        elif k.size != f.size or k.mtime_ns != f.mtime_ns or not k.has_vector or k.failed:
            changes.changed.append((f, k))
        else:
            changes.unchanged.append(k)
    changes.missing = [k for path, k in known.items() if path not in present]
    return changes
