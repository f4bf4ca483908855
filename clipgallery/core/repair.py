"""Repairing a damaged library (`clipgallery repair`): the work, all SQL, is in core.store.repair."""

from __future__ import annotations

from .store.repair import RepairReport, repair_library

__all__ = ["RepairReport", "repair_library"]
