"""Worker processes started the one safe way for an app that may hold torch's threads and Qt."""

from __future__ import annotations

from typing import Any


def process_context(preload: list[str]) -> Any:
    """A multiprocessing context that never forks the app: a forkserver that imports `preload` once,
    where the platform has one, else a spawned interpreter (each starts from a clean interpreter)."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(preload)
        return ctx
    return multiprocessing.get_context("spawn")
