"""Export a selection of photos (groups, a tag, a search) to DEST/<group>/<file>, with a manifest.

Originals are only ever read. Nothing in DEST is overwritten: every file is created with
exclusive-create semantics and a colliding name gets a " (2)" suffix. Everything is planned
and checked before the first write, and a failed export removes what it had written.
Exporting again is idempotent: a photo whose copy (same bytes), hard link or symlink is already
in its folder is recognised and not written a second time.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import stat
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ClipGalleryError
from .library import Library
from .names import shown
from .organize import MarkFilter, album_photos, clean_name, marked_ids, marks_of
from .progress import Progress, ProgressFn
from .xmp import SidecarData, sidecar_path, sidecar_xml

MODES = ("copy", "hardlink", "symlink")
MANIFEST_STEM = "clipgallery-export"
FOLDER_MAX_BYTES = 120  # group folders; leaves room for a suffix and a path under Windows' limits
FILE_MAX_BYTES = 200  # file names (the common limit is 255 bytes)
COPY_CHUNK = 1 << 20

_FORBIDDEN = set('<>:"/\\|?*')  # not allowed in a Windows file name ("/" nowhere)
_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{dev}{n}" for dev in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3"}


class ExportError(ClipGalleryError):
    """An export that cannot be done as asked (bad destination, empty selection, failed write)."""


# -- safe names --------------------------------------------------------------------------------------


def safe_name(name: str, max_bytes: int = FOLDER_MAX_BYTES, fallback: str = "unnamed") -> str:
    """A name that is one harmless path component on Linux, macOS and Windows alike.

    No separators or characters Windows forbids, no control characters, no leading or trailing
    dots and spaces (so never "." or ".."), no reserved device names (CON, NUL.txt, COM1...),
    at most max_bytes of UTF-8, and never empty. Bytes that are not UTF-8 (an old camera's name)
    become U+FFFD, so the copy has a valid name everywhere.
    """
    name = shown(name)
    text = unicodedata.normalize("NFC", str(name))
    text = "".join("_" if ch in _FORBIDDEN or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs")
                   else ch for ch in text)
    text = " ".join(text.split()).strip(" .")
    text = _truncate(text, max_bytes).rstrip(" .")
    if not text:
        text = fallback
    stem, dot, rest = text.partition(".")
    if stem.rstrip(" ").upper() in _RESERVED:
        text = f"{stem}_{dot}{rest}"
    return text


def safe_file_name(name: str, max_bytes: int = FILE_MAX_BYTES) -> str:
    """safe_name for a file: the extension is kept, the stem shortened when the name is too long."""
    name = safe_name(name, max_bytes=10 * max_bytes, fallback="photo")
    stem, ext = os.path.splitext(name)
    if len(ext.encode("utf-8")) > 16 or not stem:
        stem, ext = name, ""
    stem = _truncate(stem, max_bytes - len(ext.encode("utf-8"))).rstrip(" .") or "photo"
    return safe_name(stem + ext, max_bytes=max_bytes, fallback="photo")


def _truncate(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")


def _with_suffix(name: str, n: int, is_file: bool) -> str:
    stem, ext = os.path.splitext(name) if is_file else (name, "")
    return f"{stem} ({n}){ext}"


# -- what to export ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selected:
    """One photo to export and the group (folder) it goes to."""

    source: Path
    group: str
    score: float | None = None
    file_id: int | None = None


def select_groups(library: Library, model_spec: str, run_id: int | None = None,
                  clusters: Sequence[int] | None = None) -> list[Selected]:
    """The photos of a stored grouping run (default: the latest), each under its group's name."""
    from .grouping import load_grouping

    grouping = load_grouping(library, model_spec, run_id)
    if grouping is None:
        raise ExportError(f"{library.root} has not been grouped yet"
                          + ("" if run_id is None else f" (no grouping run {run_id})")
                          + f": run `clipgallery cluster {library.root}` first")
    wanted = None if clusters is None else set(clusters)
    return [Selected(p, g.name, s, f) for g in grouping.groups if wanted is None or g.cluster in wanted
            for f, s, p in zip(g.file_ids, g.scores, g.paths)]


def select_tag(library: Library, model_spec: str, label: str, label_set: str | None = None) -> list[Selected]:
    """The photos that carry a tag (QueryError listing the known tags when it is unknown)."""
    from .tagging import photos_with_tag

    rows = photos_with_tag(library, model_spec, label, label_set)
    paths = {f.id: f.path for f in library.files([fid for fid, _, _ in rows])}
    return [Selected(paths[fid], lab, score, fid) for fid, lab, score in rows if fid in paths]


def select_query(library: Library, embedder: Any, query: str, k: int = 50,
                 threshold: float | None = None, marks: MarkFilter | None = None) -> list[Selected]:
    """The results of a search (narrowed by the hand-made filters), in one folder named after the query."""
    from .search import Searcher

    m = marks or MarkFilter()
    # One search: exact is quicker than building an ANN index for it (a saved one is still used).
    hits = Searcher(library, embedder, ann_build="never").search(
        query, k=k, threshold=threshold, album=m.album, min_stars=m.min_stars, favourites=m.favourites, tag=m.tag)
    return [Selected(Path(h.path), query, float(h.score), h.file_id) for h in hits]


def select_album(library: Library, name: str) -> list[Selected]:
    """An album's photos, in the order they were added, in one folder named after the album."""
    ids = album_photos(library, name)
    folder = clean_name(name)
    stored = next((a.name for a in library.marks.albums() if a.name.casefold() == folder.casefold()), folder)
    return [Selected(f.path, stored, None, f.id) for f in library.files(ids) if f.status == "ok"]


def select_marked(library: Library, marks: MarkFilter) -> list[Selected]:
    """Every photo the hand-made filters keep (favourites, N+ stars...), in one folder named after them."""
    ids = marked_ids(library, marks)
    if ids is None:
        raise ExportError("nothing to export: choose --clusters, --tag, --query, --album, --min-stars or --favourites")
    words = (["favourites"] if marks.favourites else []) + ([f"{marks.min_stars}+ stars"] if marks.min_stars else [])
    words += [f"tag {marks.tag}"] if marks.tag else []
    return [Selected(f.path, ", ".join(words) or "selection", None, f.id)
            for f in library.files(sorted(ids)) if f.status == "ok"]


def with_file_ids(library: Library, selection: Sequence[Selected]) -> list[Selected]:
    """The selection with each photo's file id filled in (so the hand-made filters can narrow it)."""
    rel = {s.source: library.relpath_of(s.source) for s in selection if s.file_id is None}
    ids = library.file_ids([r for r in rel.values() if r is not None])
    return [s if s.file_id is not None else replace(s, file_id=ids.get(rel[s.source] or ""))
            for s in selection]


def filter_selection(library: Library, selection: Sequence[Selected], marks: MarkFilter) -> list[Selected]:
    """The selected photos the hand-made filters keep."""
    ids = marked_ids(library, marks)
    return list(selection) if ids is None else [s for s in selection if s.file_id in ids]


def xmp_for(library: Library, model_spec: str | None, selection: Sequence[Selected]) -> dict[Path, SidecarData]:
    """What each selected photo's sidecar says: stars, favourite, albums, hand-made and zero-shot tags."""
    from .tagging import tags_of

    ids = [s.file_id for s in selection if s.file_id is not None]
    marks = marks_of(library, ids)
    tags = tags_of(library, model_spec, ids) if model_spec else {}
    out: dict[Path, SidecarData] = {}
    for s in selection:
        if s.file_id is None:
            continue
        m = marks[s.file_id]
        labels = tuple(dict.fromkeys([*m.tags, *(t.label for _, t in tags.get(s.file_id, []))]))
        out[s.source] = SidecarData(m.stars, m.favourite, labels, m.albums)
    return out


# -- the plan ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedFile:
    source: Path
    group: str
    dest: Path
    score: float | None = None
    already: bool = False  # dest already holds this photo (an earlier export): nothing to write

    def to_json(self) -> dict[str, Any]:
        return {"source": str(self.source), "group": self.group, "dest": str(self.dest),
                "score": None if self.score is None else round(self.score, 4), "already": self.already}


@dataclass
class ExportPlan:
    dest: Path
    mode: str
    files: list[PlannedFile]
    missing: list[Path]  # selected photos that no longer exist: skipped
    folders: dict[str, Path]  # group name -> its folder
    manifest_csv: Path
    manifest_json: Path
    sidecars: dict[Path, SidecarData] = field(default_factory=dict)  # source -> its XMP sidecar (--xmp)

    @property
    def to_write(self) -> list[PlannedFile]:
        return [f for f in self.files if not f.already]

    @property
    def already(self) -> list[PlannedFile]:
        return [f for f in self.files if f.already]

    def describe(self) -> str:
        lines = [f"{self.mode} {len(self.to_write)} photos into {len(self.folders)} folders of {self.dest}"
                 + (f" ({len(self.already)} already there)" if self.already else "") + ":"]
        lines += [f"  {f.source} -> {f.dest}" for f in self.to_write]
        lines += [f"  already there: {f.source} = {f.dest}" for f in self.already]
        lines += [f"  skipped (no longer exists): {p}" for p in self.missing]
        if self.to_write:
            lines.append(f"  manifest: {self.manifest_csv} and {self.manifest_json.name}")
        return "\n".join(lines)


def plan_export(selection: Sequence[Selected], dest: Path, photo_root: Path | None = None,
                mode: str = "copy", force: bool = False,
                sidecars: dict[Path, SidecarData] | None = None) -> ExportPlan:
    """Check everything and decide every destination name; writes nothing. ExportError on bad input."""
    if mode not in MODES:
        raise ExportError(f"unknown export mode '{mode}': use one of {', '.join(MODES)}")
    if not selection:
        raise ExportError("nothing to export: the selection is empty")
    dest = Path(os.path.abspath(Path(dest).expanduser()))
    anchor = _check_dest(dest)
    real_dest = Path(os.path.realpath(dest))
    root = Path(os.path.realpath(photo_root)) if photo_root is not None else None
    if root is not None and not force and _inside(real_dest, root):
        raise ExportError(f"the destination {dest} is inside the photo folder {root}; clipgallery does not "
                          "write into a photo folder unless you pass --force")
    present, missing = _split_missing(selection)
    present = _with_raws(present)
    if not present:
        raise ExportError(f"none of the {len(selection)} selected photos exist any more (moved or deleted "
                          "since indexing?): index the folder again")
    if mode == "hardlink":
        _check_same_device(present, anchor)
    if mode == "copy":
        _check_space(present, anchor)
    folders = _folder_names(dict.fromkeys(s.group for s in present), dest)
    if root is not None and not force:
        for folder in folders.values():
            if _inside(Path(os.path.realpath(folder)), root):
                raise ExportError(f"the export folder {folder} would be inside the photo folder {root}; "
                                  "choose another destination, or pass --force")
    files = _file_names(present, folders)
    csv_path, json_path = _manifest_names(dest)
    return ExportPlan(dest, mode, files, missing, folders, csv_path, json_path, dict(sidecars or {}))


def _check_dest(dest: Path) -> Path:
    """The nearest existing folder at or above dest, after checking that dest can be written."""
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir():
            raise ExportError(f"the destination {dest} exists and is not a folder")
        anchor = dest
    else:
        anchor = dest.parent
        while not anchor.exists():
            anchor = anchor.parent
        if not anchor.is_dir():
            raise ExportError(f"cannot create the destination {dest}: {anchor} is not a folder")
    if not os.access(anchor, os.W_OK | os.X_OK):
        where = f"the destination {dest}" if anchor == dest else f"{anchor} (to create {dest} in it)"
        raise ExportError(f"cannot write to {where}: permission denied")
    return anchor


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _split_missing(selection: Sequence[Selected]) -> tuple[list[Selected], list[Path]]:
    """Photos still there (each source once per group) and those gone since indexing."""
    present: list[Selected] = []
    missing: dict[Path, None] = {}
    seen: set[tuple[str, str]] = set()
    for s in selection:
        if (str(s.source), s.group) in seen:
            continue
        seen.add((str(s.source), s.group))
        if os.path.isfile(s.source):
            present.append(s)
        else:
            missing[s.source] = None
    return present, list(missing)


def _with_raws(selection: list[Selected]) -> list[Selected]:
    """Each photo followed by the RAW files of the same shot (shown as one photo, exported together)."""
    from .media import raw_companions

    raws = raw_companions(s.source for s in selection)
    if not raws:
        return selection
    chosen = {s.source for s in selection}
    out = []
    for s in selection:
        out.append(s)
        out += [Selected(r, s.group, s.score) for r in raws.get(s.source, []) if r not in chosen]
    return out


def _check_same_device(selection: Sequence[Selected], anchor: Path) -> None:
    dev = os.stat(anchor).st_dev
    for s in selection:
        if os.stat(s.source).st_dev != dev:
            raise ExportError(f"hard links cannot cross drives: {s.source} is not on the same file system as "
                              f"the destination; use --mode copy or --mode symlink")


def _check_space(selection: Sequence[Selected], anchor: Path) -> None:
    need = sum(os.stat(s.source).st_size for s in selection)
    free = shutil.disk_usage(anchor).free
    if need > free:
        raise ExportError(f"not enough free space at {anchor}: the copies need {need / 1e6:.1f} MB, "
                          f"{free / 1e6:.1f} MB are free")


def _folder_names(groups: dict[str, None], dest: Path) -> dict[str, Path]:
    """group -> DEST/<safe, distinct name>. An existing real folder is reused; anything else there
    (a file, a link that could lead outside DEST) makes the name taken."""
    out: dict[str, Path] = {}
    used: set[str] = set()
    for group in groups:
        base = safe_name(group)
        name, n = base, 1
        while name.casefold() in used or not _usable_folder(dest / name):
            n += 1
            name = _with_suffix(base, n, is_file=False)
        used.add(name.casefold())
        out[group] = dest / name
    return out


def _usable_folder(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    return stat.S_ISDIR(st.st_mode)


def _file_names(selection: Sequence[Selected], folders: dict[str, Path]) -> list[PlannedFile]:
    taken: dict[Path, set[str]] = {}
    claimed: set[str] = set()  # existing files already matched to a photo: each stands for one photo
    out = []
    for s in selection:
        folder = folders[s.group]
        if folder not in taken:
            taken[folder] = _existing_names(folder)
        base = safe_file_name(s.source.name)
        same = _already_exported(s.source, folder, base, taken[folder], claimed)
        if same is not None:
            claimed.add(same.name.casefold() + "\0" + str(folder))
            out.append(PlannedFile(s.source, s.group, same, s.score, already=True))
            continue
        name, n = base, 1
        while name.casefold() in taken[folder]:
            n += 1
            name = _with_suffix(base, n, is_file=True)
        taken[folder].add(name.casefold())
        out.append(PlannedFile(s.source, s.group, folder / name, s.score))
    return out


def _already_exported(source: Path, folder: Path, base: str, names: set[str], claimed: set[str]) -> Path | None:
    """The file in folder that an earlier export made of source, if any: a name export would have
    chosen for it (base, "base (n)") that is a hard link to it, a symlink to it, or the same bytes."""
    if not names:
        return None
    stem, ext = os.path.splitext(base)
    candidates = [base] + [_with_suffix(base, n, is_file=True) for n in range(2, 100)]
    try:
        src_stat = os.stat(source)
    except OSError:
        return None
    src_digest: bytes | None = None
    for name in candidates:
        if name.casefold() not in names or name.casefold() + "\0" + str(folder) in claimed:
            continue
        path = folder / name
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                if os.path.abspath(os.readlink(path)) == os.path.abspath(source):
                    return path
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_size != src_stat.st_size:
                continue
            if (st.st_dev, st.st_ino) == (src_stat.st_dev, src_stat.st_ino):
                return path
            if src_digest is None:
                src_digest = _digest(source)
            if _digest(path) == src_digest:
                return path
        except OSError:
            continue
    return None


def _digest(path: Path) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(COPY_CHUNK), b""):
            h.update(chunk)
    return h.digest()


def _existing_names(folder: Path) -> set[str]:
    try:
        return {e.casefold() for e in os.listdir(folder)}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def _manifest_names(dest: Path) -> tuple[Path, Path]:
    existing = _existing_names(dest)
    n = 1
    while True:
        stem = MANIFEST_STEM if n == 1 else f"{MANIFEST_STEM} ({n})"
        if f"{stem}.csv".casefold() not in existing and f"{stem}.json".casefold() not in existing:
            return dest / f"{stem}.csv", dest / f"{stem}.json"
        n += 1


# -- doing it ----------------------------------------------------------------------------------------


@dataclass
class ExportResult:
    plan: ExportPlan
    written: list[PlannedFile] = field(default_factory=list)  # with the names actually used
    already: list[PlannedFile] = field(default_factory=list)  # in place from an earlier export: not written
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (source, reason)
    manifest_csv: Path | None = None
    manifest_json: Path | None = None
    sidecars: list[Path] = field(default_factory=list)  # XMP sidecars written beside the copies
    dry_run: bool = False
    cancelled: bool = False
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "written": [{"source": str(f.source), "dest": str(f.dest), "group": f.group} for f in self.written],
            "already_there": [{"source": str(f.source), "dest": str(f.dest), "group": f.group}
                              for f in self.already],
            "manifest": str(self.manifest_json) if self.manifest_json else None,
            "manifest_csv": str(self.manifest_csv) if self.manifest_csv else None,
            "skipped": [{"path": str(p), "reason": r} for p, r in self.skipped],
            "mode": self.plan.mode, "dest": str(self.plan.dest), "dry_run": self.dry_run,
            "cancelled": self.cancelled,
            "sidecars": [str(p) for p in self.sidecars],
        }
        if self.dry_run:
            data["plan"] = [f.to_json() for f in self.plan.files]
        return data


def run_export(plan: ExportPlan, progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> ExportResult:
    """Carry out a plan. A photo that vanished meanwhile is skipped; any other failure removes
    everything this export created and raises ExportError. A cancelled export keeps what it
    wrote and lists it in the manifest."""
    t0 = time.perf_counter()
    result = ExportResult(plan, skipped=[(p, "no longer exists") for p in plan.missing], already=plan.already)
    created_dirs: list[Path] = []
    created_files: list[Path] = []
    todo = plan.to_write
    if not todo:  # everything is already there: write nothing, not even a manifest
        result.seconds = time.perf_counter() - t0
        return result
    try:
        _make_dir(plan.dest, created_dirs, parents=True)
        for folder in dict.fromkeys(plan.folders[f.group] for f in todo):
            _make_dir(folder, created_dirs)
        for i, f in enumerate(todo):
            if cancel is not None and cancel.is_set():
                result.cancelled = True
                break
            try:
                final = _place(f, plan.mode)
            except FileNotFoundError:
                if os.path.isfile(f.source):
                    raise
                result.skipped.append((f.source, "no longer exists"))
                continue
            created_files.append(final)
            result.written.append(PlannedFile(f.source, f.group, final, f.score))
            if f.source in plan.sidecars:
                _write_sidecar(final, plan.sidecars[f.source], result, created_files)
            if progress is not None:
                progress(Progress("exporting", i + 1, len(todo), current=str(f.source)))
        result.manifest_csv, result.manifest_json = _write_manifests(result, created_files)
    except BaseException as e:
        _roll_back(created_files, created_dirs)
        if isinstance(e, OSError):
            where = f" ({e.filename})" if e.filename else ""
            raise ExportError(f"the export failed and was undone: {e.strerror or e}{where}") from e
        raise
    result.seconds = time.perf_counter() - t0
    return result


def export(selection: Sequence[Selected], dest: Path, photo_root: Path | None = None, mode: str = "copy",
           force: bool = False, dry_run: bool = False, progress: ProgressFn | None = None,
           cancel: threading.Event | None = None) -> ExportResult:
    """Plan, then (unless dry_run) carry out an export."""
    plan = plan_export(selection, dest, photo_root, mode, force)
    if dry_run:
        return ExportResult(plan, skipped=[(p, "no longer exists") for p in plan.missing], already=plan.already,
                            dry_run=True)
    return run_export(plan, progress, cancel)


def _make_dir(path: Path, created: list[Path], parents: bool = False) -> None:
    if parents:
        missing = []
        p = path
        while not os.path.lexists(p):
            missing.append(p)
            p = p.parent
        for p in reversed(missing):
            _make_dir(p, created)
        return
    try:
        os.mkdir(path)
        created.append(path)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):  # swapped for a file or a link since planning: never follow it
        raise ExportError(f"{path} is not a plain folder any more; nothing was exported")


_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


def _place(f: PlannedFile, mode: str) -> Path:
    """Create f.dest (or, if something appeared there meanwhile, the next free suffix); never replaces."""
    base = f.dest.name
    for n in range(1, 10_000):
        dest = f.dest if n == 1 else f.dest.with_name(_with_suffix(base, n, is_file=True))
        try:
            _create(f.source, dest, mode)
            return dest
        except FileExistsError:
            continue
    raise ExportError(f"could not find a free file name for {base} in {f.dest.parent}")


def _create(source: Path, dest: Path, mode: str) -> None:
    if mode == "hardlink":
        os.link(source, dest)
    elif mode == "symlink":
        os.symlink(os.path.abspath(source), dest)
    else:
        with open(source, "rb") as src:
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY, 0o644)
            try:
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out, COPY_CHUNK)
            except BaseException:
                os.unlink(dest)  # ours, half written
                raise
        shutil.copystat(source, dest)  # times and permissions, as shutil.copy2 keeps them


def _write_manifests(result: ExportResult, created: list[Path]) -> tuple[Path, Path]:
    rows = [{"source": str(f.source), "group": f.group,
             "score": "" if f.score is None else f"{f.score:.4f}", "dest": str(f.dest)} for f in result.written]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["source", "group", "score", "dest"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    doc = {"created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "mode": result.plan.mode,
           "dest": str(result.plan.dest), "cancelled": result.cancelled,
           "files": [f.to_json() for f in result.written],
           "already_there": [f.to_json() for f in result.already],
           "skipped": [{"path": str(p), "reason": r} for p, r in result.skipped]}
    plan = result.plan
    csv_path = _write_new(plan.manifest_csv, shown(buf.getvalue()).encode("utf-8"))
    created.append(csv_path)
    json_path = _write_new(plan.manifest_json,
                           (shown(json.dumps(doc, ensure_ascii=False, indent=2)) + "\n").encode("utf-8"))
    created.append(json_path)
    return csv_path, json_path


def _write_sidecar(copy: Path, data: SidecarData, result: ExportResult, created: list[Path]) -> None:
    """The copy's XMP sidecar, created exclusively: one already there is left alone and reported."""
    path = sidecar_path(copy)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY, 0o644)
    except FileExistsError:
        result.skipped.append((path, "an XMP sidecar is already there; not overwritten"))
        return
    created.append(path)
    with os.fdopen(fd, "wb") as out:
        out.write(sidecar_xml(data).encode("utf-8"))
    result.sidecars.append(path)


def _write_new(path: Path, data: bytes) -> Path:
    base = path.name
    for n in range(1, 10_000):
        target = path if n == 1 else path.with_name(_with_suffix(base, n, is_file=True))
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return target
    raise ExportError(f"could not find a free name for the manifest {base}")


def _roll_back(files: list[Path], dirs: list[Path]) -> None:
    """Remove what this export created: its files, then its folders if they are empty."""
    for p in reversed(files):
        with contextlib.suppress(OSError):
            os.unlink(p)
    for d in reversed(dirs):
        with contextlib.suppress(OSError):
            os.rmdir(d)  # fails on a non-empty folder: never removes what was not ours
