"""`album`, `rate` and `favourite`: what a person marks by hand (hand-made tags are `tag --add`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import emit, json_option, open_library

ALBUM_ACTIONS = ("list", "create", "add", "remove", "delete", "rename")


def stars_value(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= n <= 5:
        raise argparse.ArgumentTypeError(f"stars go from 0 to 5, not {n}")
    return n


def register(subparsers: Any) -> None:
    s = subparsers.add_parser(
        "album", help="list, create, fill, empty and delete albums (a photo can be in any number)",
        description="clipgallery album list PATH | create PATH NAME | add PATH NAME PHOTO... | "
                    "remove PATH NAME PHOTO... | delete PATH NAME | rename PATH NAME NEW. Albums live in the library; the photo "
                    "folder is never changed, and deleting an album keeps its photos.")
    s.add_argument("action", choices=ALBUM_ACTIONS, metavar="{" + ",".join(ALBUM_ACTIONS) + "}")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("name", nargs="?", metavar="NAME")
    s.add_argument("photos", nargs="*", type=Path, metavar="PHOTO")
    json_option(s)
    s.set_defaults(func=cmd_album)

    s = subparsers.add_parser("rate", help="give photos 0-5 stars (0 clears the rating)")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    s.add_argument("--stars", type=stars_value, required=True, metavar="N", help="0 to 5")
    json_option(s)
    s.set_defaults(func=cmd_rate)

    s = subparsers.add_parser("favourite", aliases=["favorite"], help="mark photos as favourites (--off: unmark)")
    s.add_argument("path", type=Path, metavar="PATH")
    s.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    s.add_argument("--off", action="store_true", help="no longer favourites")
    json_option(s)
    s.set_defaults(func=cmd_favourite)


def cmd_album(args: argparse.Namespace) -> int:
    from ..core import organize as org
    from ..core.errors import OrganizeError

    lib = open_library(args)
    action = args.action
    if action == "list":
        if args.name or args.photos:
            raise OrganizeError("`album list` takes only the folder")
        rows = org.albums(lib)
        emit(args, [{"name": a.name, "count": a.count} for a in rows],
             "\n".join(f"{a.name}: {a.count} photos" for a in rows) or "no albums yet")
        return 0
    if not args.name:
        raise OrganizeError(f"`album {action}` needs the album's NAME")
    if action in ("create", "delete") and args.photos:
        raise OrganizeError(f"`album {action}` takes no photos (use `album add`)")
    if action == "rename":
        if len(args.photos) != 1:
            raise OrganizeError("`album rename PATH NAME NEW` takes the new name (quote it if it has spaces)")
        new = str(args.photos[0])
        org.rename_album(lib, args.name, new)
        text = f"renamed album '{org.clean_name(args.name)}' to '{org.clean_name(new)}'"
    elif action == "create":
        org.create_album(lib, args.name)
        text = f"created album '{org.clean_name(args.name)}'"
    elif action == "delete":
        org.delete_album(lib, args.name)
        text = f"deleted album '{org.clean_name(args.name)}' (its photos are untouched)"
    else:
        org.album_id(lib, args.name)  # an unknown album fails before the photos are looked at
        ids = org.resolve_photos(lib, args.photos)
        if action == "add":
            n = org.add_to_album(lib, args.name, ids)
            text = f"added {n} photos to '{org.clean_name(args.name)}'" + (
                f" ({len(ids) - n} were already in it)" if n < len(ids) else "")
        else:
            n = org.remove_from_album(lib, args.name, ids)
            text = f"removed {n} photos from '{org.clean_name(args.name)}'"
    rows = org.albums(lib)
    emit(args, [{"name": a.name, "count": a.count} for a in rows], text)
    return 0


def _marks_json(lib: Any, ids: list[int]) -> list[dict[str, Any]]:
    from ..core import organize as org

    paths = {f.id: f.path for f in lib.files(ids)}
    return [{"path": str(paths[i]), "stars": m.stars, "favourite": m.favourite, "albums": list(m.albums),
             "tags": list(m.tags)} for i, m in org.marks_of(lib, ids).items()]


def cmd_rate(args: argparse.Namespace) -> int:
    from ..core import organize as org

    lib = open_library(args)
    ids = org.resolve_photos(lib, args.photos)
    org.set_stars(lib, ids, args.stars)
    emit(args, _marks_json(lib, ids), f"{len(ids)} photos now have {args.stars} stars")
    return 0


def cmd_favourite(args: argparse.Namespace) -> int:
    from ..core import organize as org

    lib = open_library(args)
    ids = org.resolve_photos(lib, args.photos)
    org.set_favourite(lib, ids, not args.off)
    emit(args, _marks_json(lib, ids),
         f"{len(ids)} photos {'are no longer' if args.off else 'are now'} favourites")
    return 0
