"""Guard against a PySide6 6.12 / CPython 3.11 reference-count bug that crashes long-running apps.

shiboken6 6.12.0 hands out None (every void method, QTimer.singleShot, an invalid QVariant)
and True (Signal.emit, disconnect) without taking a reference, as if they were immortal, which
they are only from CPython 3.12 on. Each such call takes one reference away from the singleton;
after a few thousand calls CPython frees None or True and aborts ("deallocating None"). On an
affected combination we give the three singletons a reference count so large that no session
can exhaust it, which is what CPython 3.12 does for them anyway.
"""

from __future__ import annotations

import ctypes
import sys

_RESERVE = 1 << 48  # at a million lost references per second: nine years


def _loses_references() -> bool:
    from PySide6.QtCore import QObject, QTimer, Signal

    class _Probe(QObject):
        fired = Signal()

    timer, probe = QTimer(), _Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(64):
        timer.stop()
        probe.fired.emit()
    lost_none = none_before - sys.getrefcount(None)
    lost_true = true_before - sys.getrefcount(True)
    return lost_none >= 32 or lost_true >= 32


def guard_singletons() -> bool:
    """Make None, True and False effectively immortal when the bindings drop their references.

    Returns True when the guard was needed (and applied).
    """
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False  # immortal already, or not a reference-counted runtime
    if not _loses_references():
        return False
    for obj in (None, True, False):
        # ob_refcnt is the first field of every CPython object, at the object's address.
        ctypes.c_ssize_t.from_address(id(obj)).value += _RESERVE
    return True


GUARDED = guard_singletons()
