"""The one progress record every long core job reports through (index, tag, group, export)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Progress:
    phase: str  # "scanning" | "indexing" | "done", or the job's own phase ("tagging", "encoding labels", ...)
    done: int
    total: int
    rate: float = 0.0  # items per second over the last few steps
    eta: float | None = None  # seconds left
    current: str = ""


ProgressFn = Callable[[Progress], None]
