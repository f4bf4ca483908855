"""The PySide6 desktop app. Talks to core only through facade.py; heavy work runs in workers."""

from . import qtcompat  # noqa: F401  (first: protects the process from a PySide6 6.12 refcount bug)
