"""An hnswlib index that lives in a process of its own, driven through a pipe.

hnswlib's `load_index` (and `save_index`) hold Python's GIL for their whole run: 2.3-2.9 s for the
index of a million photos on 2 cores, during which no other thread of the process runs, so the
app's window stopped answering and its first search waited. A `RemoteIndex` takes the same calls
as `hnswlib.Index` (core.ann uses only those) and runs them in a child process; the app's threads
only wait on the pipe, which releases the GIL. Queries cost a round trip (about 0.1 ms) on top of
hnswlib's own time.

The child holds the index and nothing else: it ends when asked, when the pipe closes (the app
exited or was killed) and with the app (a daemon). A call to a child that died raises
`AnnProcessError`; core.ann then drops the index and the search goes exact.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from .errors import ClipGalleryError
from .processes import process_context


class AnnProcessError(RuntimeError, ClipGalleryError):
    """The process holding a search index is gone (or never started)."""


class RemoteIndex:
    """`hnswlib.Index(space="ip", dim=dim)` in a child process, with the methods core.ann calls."""

    def __init__(self, dim: int):
        ctx = process_context(["clipgallery.core.annproc"])
        self._conn, child = ctx.Pipe()
        self._lock = threading.Lock()  # one call on the pipe at a time
        try:
            self._proc = ctx.Process(target=_serve, args=(child, int(dim)), name="clipgallery-ann", daemon=True)
            self._proc.start()
        except (OSError, RuntimeError) as e:
            raise AnnProcessError(f"could not start the search index process: {e}") from e
        finally:
            child.close()
        self.dim = int(dim)

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            try:
                self._conn.send((name, args, kwargs))
                ok, value = self._conn.recv()
            except (EOFError, OSError) as e:
                raise AnnProcessError("the search index process ended") from e
        if not ok:
            kind, message = value
            if kind == "RuntimeError":  # hnswlib's own errors, which callers handle
                raise RuntimeError(message)
            raise AnnProcessError(f"the search index process failed: {kind}: {message}")
        return value

    @property
    def element_count(self) -> int:
        return int(self._call("element_count"))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self._call(name, *args, **kwargs)

    def close(self, timeout: float = 5.0) -> None:
        """End the child and wait for it; one busy past `timeout` (a long load) is killed."""
        got = self._lock.acquire(timeout=timeout)
        try:
            if got:
                with contextlib.suppress(OSError, ValueError):
                    self._conn.send(None)
                self._proc.join(timeout)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(timeout)
        finally:
            if got:
                self._lock.release()
        self._conn.close()


def _serve(conn: Any, dim: int) -> None:
    """The child: make the index, then answer calls until told to stop or the pipe closes."""
    import hnswlib

    index = hnswlib.Index(space="ip", dim=dim)
    while True:
        try:
            call = conn.recv()
        except (EOFError, OSError):
            return  # the app is gone
        if call is None:
            return
        name, args, kwargs = call
        try:
            attr = getattr(index, name)
            value = attr(*args, **kwargs) if callable(attr) else attr
            reply = (True, value)
        except Exception as e:  # noqa: BLE001 - sent back to the caller, which decides
            reply = (False, (type(e).__name__, str(e)))
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
