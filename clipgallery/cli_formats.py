"""What the CLI says about file formats: which are on (`info`), and the video and RAW details of a hit."""

from __future__ import annotations

from typing import Any


def hit_extras(hit: Any) -> dict[str, Any]:
    """JSON keys added to a search hit: `at` and `duration` (seconds) for a video, `raw` for a RAW+JPEG pair."""
    out: dict[str, Any] = {}
    if getattr(hit, "duration", None) is not None or getattr(hit, "at", None) is not None:
        out["at"] = hit.at
        out["duration"] = round(hit.duration, 3) if hit.duration is not None else None
    if getattr(hit, "raw", ()):
        out["raw"] = [str(p) for p in hit.raw]
    return out


def hit_suffix(hit: Any) -> str:
    """The same, for a person: `  (video 0:42, best at 0:07)  + RAW IMG_1.CR2`."""
    parts = []
    if getattr(hit, "duration", None) is not None:
        at = f", best at {clock(hit.at)}" if hit.at is not None else ""
        parts.append(f"(video {clock(hit.duration)}{at})")
    if getattr(hit, "raw", ()):
        parts.append("+ RAW " + ", ".join(p.name for p in hit.raw))
    return ("  " + "  ".join(parts)) if parts else ""


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def formats_json() -> dict[str, bool]:
    """Every format clipgallery knows -> whether this installation reads it."""
    from .core.formats import available

    return dict(available())


def formats_text() -> list[str]:
    from .core.formats import REGISTRY, available

    on = available()
    lines = ["formats: " + ", ".join(f.name for f, _ in REGISTRY if on[f.name])]
    off = [f"{f.name} (install {f.install})" for f, _ in REGISTRY if not on[f.name]]
    if off:
        lines.append("  not readable here: " + ", ".join(off))
    return lines
