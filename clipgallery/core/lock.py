"""One writer per library: an advisory lock file beside the database, naming the holder's PID.

The lock is `fcntl.flock` on `write.lock`, so the kernel drops it when the holder dies (even by
SIGKILL): a stale lock file never blocks anyone. Readers (search, info) never take it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .errors import LibraryBusyError, library_error

LOCK_NAME = "write.lock"


class WriterLock:
    """Held while a process writes a library; `acquire(wait)` waits up to `wait` seconds."""

    def __init__(self, library_dir: Path):
        self.path = Path(library_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> WriterLock:
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:  # a read-only or full disk: say which
            raise library_error(e, self.path.parent) from e
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_pid(fd)
                    for _ in range(20):  # the holder writes its PID just after taking the lock
                        if holder:
                            break
                        time.sleep(0.01)
                        holder = _read_pid(fd)
                    os.close(fd)
                    who = f" (PID {holder})" if holder else ""
                    raise LibraryBusyError(
                        f"the library at {self.path.parent} is being updated by another process{who}; "
                        "try again when it has finished") from None
                time.sleep(0.05)
        try:  # best effort: a full disk must not stop the lock from working
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            # The PID stays in the file: it is read only while someone holds the lock, and then it
            # is theirs (each holder writes its own right after taking it).
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> WriterLock:
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None
