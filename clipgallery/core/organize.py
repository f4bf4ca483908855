"""What a person organises by hand: albums, stars 0-5, favourites, hand-made tags, removed tags,
renamed and merged groups. Every request is checked whole before anything is written."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import OrganizeError
from .library import Library
from .store.marks import AlbumRow

MANUAL = "hand-made"  # the label set under which hand-made tags are listed beside zero-shot ones
MAX_STARS = 5
MAX_NAME = 200


@dataclass(frozen=True)
class Marks:
    """Everything marked by hand on one photo."""

    stars: int = 0
    favourite: bool = False
    albums: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # hand-made


@dataclass(frozen=True)
class MarkFilter:
    """The hand-made filters of a search or listing (the fields SearchOptions carries)."""

    album: str | None = None
    min_stars: int | None = None
    favourites: bool = False
    tag: str | None = None
    model_ids: tuple[int, ...] | None = field(default=None)  # zero-shot tags of these models; None: any

    @property
    def active(self) -> bool:
        return bool(self.album is not None or self.min_stars or self.favourites or self.tag is not None)


def clean_name(name: str, what: str = "album") -> str:
    """A name as stored: spaces collapsed; OrganizeError when empty or too long."""
    text = " ".join(str(name).split())
    if not text:
        raise OrganizeError(f"the {what} name is empty")
    if len(text) > MAX_NAME:
        raise OrganizeError(f"the {what} name is longer than {MAX_NAME} characters")
    return text


def check_stars(stars: object) -> int:
    if isinstance(stars, bool) or not isinstance(stars, int) or not 0 <= stars <= MAX_STARS:
        raise OrganizeError(f"stars must be a whole number from 0 to {MAX_STARS}, not {stars!r}")
    return stars


def resolve_photos(library: Library, photos: Sequence[Path | str]) -> list[int]:
    """The file ids of photos named by path (absolute, or relative to the folder or the working
    directory), without repeats; OrganizeError naming the first one outside the folder or not indexed."""
    if not photos:
        raise OrganizeError("no photos given")
    out: dict[int, None] = {}
    for p in photos:
        path = Path(p).expanduser()
        if not path.is_absolute() and not path.exists():
            path = library.root / path  # relative to the photo folder
        rel = library.relpath_of(path.resolve())  # resolved: "../x.jpg" must not pass as inside
        if rel is None:
            raise OrganizeError(f"{p} is not inside the photo folder {library.root}")
        fid = library.file_ids([rel]).get(rel)
        if fid is None:
            raise OrganizeError(f"{p} is not an indexed photo of {library.root} "
                                f"(run `clipgallery index {library.root}` first?)")
        out[fid] = None
    return list(out)


def _check_ids(library: Library, file_ids: Iterable[int]) -> list[int]:
    ids = list(dict.fromkeys(int(i) for i in file_ids))
    if not ids:
        raise OrganizeError("no photos given")
    known = {f.id for f in library.files(ids)}
    missing = [i for i in ids if i not in known]
    if missing:
        raise OrganizeError(f"no photo with id {missing[0]} in {library.root}")
    return ids


# -- albums ----------------------------------------------------------------------------------------


def albums(library: Library) -> list[AlbumRow]:
    return library.marks.albums()


def album_id(library: Library, name: str) -> int:
    aid = library.marks.album_id(clean_name(name))
    if aid is None:
        known = [a.name for a in library.marks.albums()]
        raise OrganizeError(f"no album named '{name}'" + (f"; albums: {', '.join(known)}" if known
                                                            else "; none exists yet"))
    return aid


def create_album(library: Library, name: str) -> int:
    name = clean_name(name)
    if library.marks.album_id(name) is not None:
        raise OrganizeError(f"an album named '{name}' already exists")
    return library.marks.create_album(name, time.time())


def rename_album(library: Library, old: str, new: str) -> None:
    aid = album_id(library, old)
    new = clean_name(new)
    other = library.marks.album_id(new)
    if other is not None and other != aid:
        raise OrganizeError(f"an album named '{new}' already exists")
    library.marks.rename_album(aid, new)


def delete_album(library: Library, name: str) -> None:
    """The album goes; its photos stay in the folder and in every other album."""
    library.marks.delete_album(album_id(library, name))


def add_to_album(library: Library, name: str, file_ids: Iterable[int]) -> int:
    """Add photos to an album; returns how many were not in it yet."""
    aid = album_id(library, name)
    return library.marks.add_to_album(aid, _check_ids(library, file_ids), time.time())


def remove_from_album(library: Library, name: str, file_ids: Iterable[int]) -> int:
    aid = album_id(library, name)
    return library.marks.remove_from_album(aid, _check_ids(library, file_ids))


def album_photos(library: Library, name: str) -> list[int]:
    return library.marks.album_files(album_id(library, name))


# -- stars, favourites, hand-made tags ---------------------------------------------------------------


def set_stars(library: Library, file_ids: Iterable[int], stars: int) -> None:
    stars = check_stars(stars)
    library.marks.set_stars(_check_ids(library, file_ids), stars)


def set_favourite(library: Library, file_ids: Iterable[int], on: bool = True) -> None:
    library.marks.set_favourite(_check_ids(library, file_ids), bool(on))


def add_tag(library: Library, label: str, file_ids: Iterable[int]) -> None:
    library.marks.add_tag(clean_name(label, "tag"), _check_ids(library, file_ids), time.time())


def remove_tag(library: Library, label: str, file_ids: Iterable[int]) -> None:
    """Take a tag off photos, hand-made or zero-shot; re-tagging does not put a zero-shot one back."""
    library.marks.remove_tag(clean_name(label, "tag"), _check_ids(library, file_ids))


def rename_tag(library: Library, old: str, new: str) -> list[int]:
    """Rename a hand-made tag on every photo (into an existing tag's name: the two become one);
    returns the photos that carry the new name."""
    old, new = _manual_label(library, old), clean_name(new, "tag")
    library.marks.rename_tag(old, new)
    return library.marks.manual_tagged(new)


def delete_tag(library: Library, label: str) -> list[int]:
    """Take a hand-made tag off every photo; returns the photos that carried it."""
    label = _manual_label(library, label)
    ids = library.marks.manual_tagged(label)
    library.marks.delete_tag(label)
    return ids


def _manual_label(library: Library, label: str) -> str:
    """A hand-made tag's name as given (cleaned); OrganizeError naming the known ones when no photo has it."""
    label = clean_name(label, "tag")
    known = library.marks.manual_labels()
    if label.casefold() not in {lab.casefold() for lab in known}:
        raise OrganizeError(f"no hand-made tag '{label}'" + (f"; hand-made tags: {', '.join(known)}" if known
                                                              else "; there is none yet"))
    return label


def manual_labels(library: Library) -> dict[str, int]:
    return library.marks.manual_labels()


def marks_of(library: Library, file_ids: Sequence[int]) -> dict[int, Marks]:
    """file id -> its marks, for every given id (unmarked photos get an empty Marks)."""
    ids = [int(i) for i in file_ids]
    sf = library.marks.marks_of(ids)
    al = library.marks.albums_of(ids)
    tg = library.marks.manual_tags_of(ids)
    return {i: Marks(sf.get(i, (0, False))[0], sf.get(i, (0, False))[1], tuple(al.get(i, ())),
                     tuple(tg.get(i, ()))) for i in ids}


def all_marks(library: Library) -> dict[int, tuple[int, bool]]:
    """file id -> (stars, favourite) of every photo that has either (for thumbnail badges)."""
    return library.marks.all_marks()


# -- filters ---------------------------------------------------------------------------------------


def files_with_label(library: Library, label: str, model_ids: Sequence[int] | None = None) -> set[int]:
    """Photos carrying a tag, hand-made or zero-shot (of these models; None: any), minus removed
    ones; OrganizeError when no photo has ever carried it."""
    label = clean_name(label, "tag")
    ids = set(library.marks.manual_tagged(label)) | library.tags.files_with_label(label, model_ids)
    if not ids and not library.tags.label_known(label, model_ids):
        raise OrganizeError(f"unknown tag '{label}'")
    return ids


def marked_ids(library: Library, f: MarkFilter) -> frozenset[int] | None:
    """The photos the hand-made filters keep (all of them at once), or None when none is set."""
    if not f.active:
        return None
    sets: list[set[int]] = []
    if f.album is not None:
        sets.append(set(album_photos(library, f.album)))
    if f.min_stars:
        sets.append(library.marks.with_min_stars(check_stars(f.min_stars)))
    if f.favourites:
        sets.append(library.marks.favourites())
    if f.tag is not None:
        sets.append(files_with_label(library, f.tag, f.model_ids))
    return frozenset(set.intersection(*sets))


# -- groups ----------------------------------------------------------------------------------------


def _latest_groups(library: Library, model_spec: str) -> tuple[int, dict[int, str]]:
    mid = library.model_id(model_spec)
    run = None if mid is None else library.groups.run(mid)
    if run is None:
        raise OrganizeError(f"{library.root} has not been grouped yet: run `clipgallery cluster {library.root}`")
    return run.id, {int(c): name for c, name, _ in library.groups.groups(run.id)}


def _group(groups: dict[int, str], number: int) -> int:
    """A group as numbered for people (1 = the largest) -> its stored cluster number."""
    cluster = int(number) - 1
    if cluster not in groups:
        raise OrganizeError(f"there is no group {number}" + (f"; groups: {', '.join(str(c + 1) for c in groups)}"
                                                              if groups else ""))
    return cluster


def rename_group(library: Library, model_spec: str, number: int, name: str) -> None:
    """Rename group `number` (as listed: 1 = the first) of the latest grouping."""
    run_id, groups = _latest_groups(library, model_spec)
    library.groups.rename_group(run_id, _group(groups, number), clean_name(name, "group"))


def merge_groups(library: Library, model_spec: str, source: int, target: int) -> None:
    """Move every photo of group `source` into group `target` (numbers as listed) of the latest grouping."""
    run_id, groups = _latest_groups(library, model_spec)
    s, t = _group(groups, source), _group(groups, target)
    if s == t:
        raise OrganizeError(f"cannot merge group {source} into itself")
    library.groups.merge_groups(run_id, s, t)
