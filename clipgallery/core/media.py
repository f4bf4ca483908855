"""Videos and RAW+JPEG pairs in a library: a clip's vector from its frames, which RAW goes with which
JPEG, and the video and RAW details of search hits. Their SQL is core.store.media (`Library.media`)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import formats

if TYPE_CHECKING:
    from .search import Hit
    from .store.media import MediaStore

# Which still a RAW is paired with when a shot was saved in several: the camera's JPEG first.
_PARTNER_ORDER = (".jpg", ".jpeg", ".jpe", ".heic", ".heif", ".hif", ".tif", ".tiff", ".png")


def clip_vector(frame_vecs: np.ndarray) -> np.ndarray:
    """A clip's vector: the normalised mean of its frames' unit vectors."""
    mean = np.asarray(frame_vecs, np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 1e-12 else np.asarray(frame_vecs[0], np.float32)


def pair_raws(relpaths: Iterable[str]) -> dict[str, str]:
    """RAW relpath -> the still image of the same shot (same folder, same name but the extension,
    case-insensitive), for every RAW that has one. Such a RAW is not indexed on its own: the photo is
    shown once, with the JPEG's vector and the RAW listed beside it (as digiKam and Lightroom do)."""
    stills: dict[str, list[str]] = {}
    raws: list[str] = []
    for rel in relpaths:
        kind = formats.kind_of(rel)
        if kind == formats.RAW:
            raws.append(rel)
        elif kind == formats.IMAGE and os.path.splitext(rel)[1].lower() in _PARTNER_ORDER:
            stills.setdefault(os.path.splitext(rel)[0].lower(), []).append(rel)
    pairs = {}
    for rel in raws:
        partners = stills.get(os.path.splitext(rel)[0].lower())
        if partners:
            pairs[rel] = min(partners, key=lambda p: (_PARTNER_ORDER.index(os.path.splitext(p)[1].lower()), p))
    return pairs


def raw_companions(photos: Iterable[Path]) -> dict[Path, list[Path]]:
    """photo -> the RAW files of the same shot beside it on disk (by pair_raws' rule), for exports:
    the RAW travels with its JPEG. One folder listing per folder."""
    by_folder: dict[Path, list[Path]] = {}
    for p in photos:
        by_folder.setdefault(Path(p).parent, []).append(Path(p))
    out: dict[Path, list[Path]] = {}
    for folder, wanted in by_folder.items():
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        partners: dict[str, list[str]] = {}
        for raw, still in pair_raws(names).items():
            partners.setdefault(still, []).append(raw)
        for p in wanted:
            if p.name in partners:
                out[p] = [folder / r for r in sorted(partners[p.name])]
    return out


def annotate_hits(store: MediaStore, root: Path, model_id: int, query: np.ndarray | None,
                  hits: list[Hit]) -> list[Hit]:
    """Hits with `duration` (and, given the query vector, `at`: the second of the best-matching frame)
    set for videos, and `raw` (the RAW files beside a JPEG) for paired photos."""
    if not hits:
        return hits
    durations = store.durations(h.file_id for h in hits)
    rels = {h.file_id: h.path.relative_to(root).as_posix() for h in hits}
    raws = store.raws_of(rels.values())
    if not durations and not raws:
        return hits
    q = None if query is None else np.asarray(query, np.float32).reshape(-1)
    out = []
    for h in hits:
        changes: dict[str, Any] = {}
        if h.file_id in durations:
            changes["duration"] = durations[h.file_id]
            frames = store.frames(h.file_id, model_id) if q is not None else []
            if frames and q is not None:
                scores = np.stack([f.vec for f in frames]) @ q
                changes["at"] = frames[int(np.argmax(scores))].at
        if rels[h.file_id] in raws:
            changes["raw"] = tuple(root / r for r in raws[rels[h.file_id]])
        out.append(replace(h, **changes) if changes else h)
    return out
