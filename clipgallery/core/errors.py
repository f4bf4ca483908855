"""The few named errors that the CLI and the GUI turn into one clear sentence each."""

from __future__ import annotations


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


class DesktopError(ClipGalleryError):
    """The desktop menu entry could not be installed or removed."""
