"""The few named errors that the CLI and the GUI turn into one clear sentence each."""

from __future__ import annotations

import os


class ClipGalleryError(Exception):
    """Base class: str(error) is a sentence fit to show a person."""


class ImageError(ClipGalleryError):
    """A file that cannot be decoded as an image; `reason` says why in plain words."""

    def __init__(self, reason: str, path: object = None):
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path is not None else reason)


class ModelLoadError(ClipGalleryError):
    """A model that cannot be created or whose weights cannot be obtained."""


class LibraryError(ClipGalleryError):
    """A library that cannot be opened, or a request it cannot answer (e.g. not indexed)."""


class NothingIndexedError(LibraryError):
    """A library with no photo indexed yet: nothing to search, tag or group."""


class QueryError(ClipGalleryError):
    """A search query that cannot be understood or run."""


class OrganizeError(ClipGalleryError):
    """An album, rating, favourite or hand-made tag request that cannot be done (unknown album or
    photo, stars outside 0-5, a photo outside the folder); nothing was changed."""
class LibraryBusyError(LibraryError):
    """Another process is writing to the library (the message names it when it can)."""


class LibraryFullError(LibraryError):
    """The disk that holds the library has no room left."""


class LibraryReadOnlyError(LibraryError):
    """The library's folder or file cannot be written (a read-only disk or permissions)."""


class LibraryDamagedError(LibraryError):
    """SQLite found the library file damaged; `clipgallery repair` keeps what is readable."""


def database_error(e: BaseException, db_path: str | os.PathLike[str], root: object = None) -> LibraryError | None:
    """library_error for a sqlite3 error (for callers that may not import sqlite3: the CLI, the GUI);
    None for any other exception."""
    import sqlite3

    return library_error(e, db_path, root) if isinstance(e, sqlite3.Error) else None


def library_error(e: BaseException, db_path: str | os.PathLike[str], root: object = None) -> LibraryError:
    """One sqlite3/OS error met while using a library -> the named error with a sentence that helps."""
    import os

    msg = str(e)
    low = msg.lower()
    errno_ = getattr(e, "errno", None)
    if "disk is full" in low or errno_ == 28 or ("i/o error" in low and _nearly_full(db_path)):
        return LibraryFullError(f"the disk that holds the library ({db_path}) is full: free some space and "
                                "run again (everything saved before this point is kept)")
    if ("unable to open" in low and _read_only(db_path)) or (errno_ == 30 and not os.path.exists(os.fspath(db_path))):
        return LibraryReadOnlyError(f"the library folder {os.path.dirname(os.fspath(db_path))} cannot be written "
                                    "(a read-only disk, or no permission): choose another with --library-dir")
    if "readonly" in low or "read-only" in low or errno_ == 30:
        return LibraryReadOnlyError(f"the library at {db_path} is read-only: it can be searched, but "
                                    "indexing, tagging and grouping need it writable")
    if "locked" in low or "busy" in low:
        return LibraryBusyError(f"the library at {db_path} is being updated by another process; "
                                "try again when it has finished")
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        where = f" {root}" if root is not None else " PATH"
        return LibraryDamagedError(f"the library at {db_path} is damaged ({msg}): run `clipgallery repair"
                                   f"{where}` to keep what is readable and index the rest again")
    return LibraryError(f"cannot use the library at {db_path}: {msg}")


def _nearly_full(db_path: str | os.PathLike[str]) -> bool:
    """SQLite reports a full disk met while growing its shared-memory file as a plain I/O error."""
    import os

    folder = os.path.dirname(os.fspath(db_path)) if os.path.splitext(os.fspath(db_path))[1] else os.fspath(db_path)
    try:
        st = os.statvfs(folder)
    except (OSError, TypeError, ValueError):
        return False
    return st.f_bavail * st.f_frsize < (1 << 20)


def _read_only(db_path: str | os.PathLike[str]) -> bool:
    import os

    if os.path.exists(os.fspath(db_path)):
        return False
    folder = os.path.dirname(os.fspath(db_path))
    return os.path.isdir(folder) and not os.access(folder, os.W_OK)


class DesktopError(ClipGalleryError):
    """The desktop menu entry could not be installed or removed."""


class TrashError(ClipGalleryError):
    """The desktop trash cannot take the files (it cannot be reached or written); nothing was moved."""
