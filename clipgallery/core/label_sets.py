"""Label sets: named vocabularies to tag with (built-in, JSON files, or as applied in a library),
validated with clear errors; and the tag records every kind of tagging gives."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import LibraryError, QueryError
from .library import Library

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

TAUGHT = "taught"  # the label set that holds the few-shot tags (one label per taught probe)
STRATEGIES = ("templates", "descriptions", "both")
DEFAULT_STRATEGY = "both"
# A small ensemble in the spirit of CLIP's ImageNet prompts; averaging in embedding space
# smooths out the quirks of any one phrasing.
DEFAULT_TEMPLATES = (
    "a photo of a {}.",
    "a picture of a {}.",
    "a photo of the {}.",
    "a close-up photo of a {}.",
    "a good photo of a {}.",
    "a {}.",
)
MAX_LABEL_CHARS = 200
# "None of these": a label is given only when the photo is closer to it than to these. Without
# it a closed set forces a label on every photo (a pagoda tagged "star" by a set of shapes).
DEFAULT_NONE = (
    "a photo.",
    "a picture of something.",
    "an everyday scene.",
    "a photo of an object.",
    "an image.",
)


# -- label sets --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelSet:
    """A named vocabulary to tag with; descriptions (per label, optional) are full sentences."""

    name: str
    labels: tuple[str, ...]
    descriptions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    threshold: float | None = None  # the set's own default threshold, if it names one
    origin: str = ""  # where it came from: a file path, "built-in" or "library"
    none: tuple[str, ...] = DEFAULT_NONE  # "none of these" prompts a label must beat; () a closed set

    def to_json(self) -> dict[str, Any]:
        labels = {lab: list(self.descriptions.get(lab, ())) for lab in self.labels}
        data: dict[str, Any] = {"name": self.name, "labels": labels, "templates": list(self.templates)}
        if self.threshold is not None:
            data["threshold"] = self.threshold
        if self.none != DEFAULT_NONE:
            data["none"] = list(self.none)
        return data

    def default_threshold(self) -> float:
        """The set's own threshold, else twice what a uniform guess over the set would score."""
        return self.threshold if self.threshold is not None else min(0.5, 2.0 / len(self.labels))


def labels_dir() -> Path:
    from .models import resources_dir

    return resources_dir() / "labels"


def builtin_label_sets() -> dict[str, Traversable]:
    """name -> file of every label set shipped in clipgallery/resources/labels."""
    from .resources import listing

    return {f.name.removesuffix(".json"): f for f in listing("labels", ".json")}


def parse_label_set(data: Any, origin: str = "") -> LabelSet:
    """Validate a decoded label-set document; QueryError with a plain reason when it is not one."""
    where = f"label set {origin}" if origin else "label set"
    if not isinstance(data, dict):
        raise QueryError(f"{where}: expected a JSON object with \"name\" and \"labels\"")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise QueryError(f"{where}: missing \"name\" (a non-empty string)")
    name = _clean_text(name)
    if name.casefold() == TAUGHT:
        raise QueryError(f"{where}: the name \"{TAUGHT}\" is reserved for taught (few-shot) tags")
    raw = data.get("labels")
    if isinstance(raw, list):
        pairs: list[tuple[Any, Any]] = [(lab, []) for lab in raw]
    elif isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        raise QueryError(f"{where}: \"labels\" must be a list of labels or an object of label -> descriptions")
    labels, descriptions = _parse_labels(pairs, where)
    templates = _parse_templates(data.get("templates"), where)
    threshold = data.get("threshold")
    if threshold is not None and (not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1):
        raise QueryError(f"{where}: \"threshold\" must be a number between 0 and 1")
    none = _parse_none(data.get("none"), where)
    return LabelSet(name, labels, descriptions, templates, None if threshold is None else float(threshold), origin,
                    none)


def _parse_none(raw: Any, where: str) -> tuple[str, ...]:
    """The "none of these" prompts; an empty list makes the set closed (every photo gets its best label)."""
    if raw is None:
        return DEFAULT_NONE
    if not isinstance(raw, list) or not all(isinstance(t, str) and t.strip() for t in raw):
        raise QueryError(f"{where}: \"none\" must be a list of sentences describing a photo that fits no label "
                         "(or [] for a closed set, where every photo gets its best label)")
    return tuple(_clean_text(t) for t in raw)


def _parse_labels(pairs: list[tuple[Any, Any]], where: str) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    labels: list[str] = []
    descriptions: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    dupes: list[str] = []
    for lab, desc in pairs:
        if not isinstance(lab, str) or not _clean_text(lab):
            raise QueryError(f"{where}: every label must be a non-empty string (got {lab!r})")
        lab = _clean_text(lab)
        if len(lab) > MAX_LABEL_CHARS:
            raise QueryError(f"{where}: label \"{lab[:40]}...\" is longer than {MAX_LABEL_CHARS} characters")
        key = lab.casefold()
        if key in seen:
            dupes.append(lab)
            continue
        seen[key] = lab
        labels.append(lab)
        if isinstance(desc, str):
            desc = [desc]
        if not isinstance(desc, list) or not all(isinstance(d, str) and d.strip() for d in desc):
            raise QueryError(f"{where}: the descriptions of \"{lab}\" must be a list of non-empty strings")
        if desc:
            descriptions[lab] = tuple(_clean_text(d) for d in desc)
    if dupes:
        raise QueryError(f"{where}: duplicate labels: {', '.join(sorted(set(dupes)))}")
    if len(labels) < 2:
        raise QueryError(f"{where}: needs at least 2 labels to choose between (has {len(labels)})")
    return tuple(labels), descriptions


def _parse_templates(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_TEMPLATES
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise QueryError(f"{where}: \"templates\" must be a non-empty list of strings")
    for t in raw:
        if t.count("{}") != 1:
            raise QueryError(f"{where}: template {t!r} must contain the label placeholder {{}} exactly once")
    return tuple(raw)


def _clean_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return " ".join("".join(ch for ch in text if unicodedata.category(ch) != "Cc" or ch in "\t\n").split())


def read_label_set_file(path: Path | Traversable) -> LabelSet:
    path = Path(path).expanduser() if isinstance(path, (str, Path)) else path  # a shipped set may be in a zip
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QueryError(f"label set file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise QueryError(f"cannot read label set file {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        data = json.loads(text)
        return parse_label_set(data, str(path))
    except json.JSONDecodeError as e:
        raise QueryError(f"label set file {path} is not valid JSON (line {e.lineno}, column {e.colno}: "
                         f"{e.msg})") from None
    except RecursionError:  # a hostile or broken file nested thousands deep
        raise QueryError(f"label set file {path} is nested too deeply to be a label set") from None


def load_label_set(spec: str | Path, library: Library | None = None, model_spec: str | None = None) -> LabelSet:
    """A label set by file path, built-in name, or the name of one already applied in this library."""
    text = str(spec).strip()
    path = Path(text).expanduser()
    if path.is_file():
        return read_label_set_file(path)
    builtin = builtin_label_sets()
    if text in builtin:
        ls = read_label_set_file(builtin[text])
        return replace(ls, origin="built-in")
    if library is not None and model_spec is not None:
        stored = _stored_label_sets(library, model_spec)
        if text in stored:
            return stored[text]
    if text.endswith(".json") or "/" in text or "\\" in text:
        raise QueryError(f"label set file not found: {path}")
    raise QueryError(f"unknown label set '{text}': give a JSON file or one of: {', '.join(builtin)}")



def _stored_label_sets(library: Library, model_spec: str) -> dict[str, LabelSet]:
    mid = library.model_id(model_spec)
    if mid is None:
        return {}
    out = {}
    for applied in library.tags.label_sets(mid):
        ls = parse_label_set(applied.definition, "library")
        out[applied.name] = replace(ls, origin="library")
    return out




@dataclass(frozen=True)
class Tag:
    label: str
    score: float


@dataclass(frozen=True)
class PhotoTags:
    file_id: int
    path: Path
    tags: tuple[Tag, ...]  # best first

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "tags": [{"label": t.label, "score": round(t.score, 4)} for t in self.tags]}




def _model_id(library: Library, model_spec: str) -> int:
    mid = library.model_id(model_spec)
    if mid is None or library.count(mid) == 0:
        raise LibraryError(f"{library.root} has no photos indexed with model {model_spec}: "
                           f"run `clipgallery index {library.root} --model {model_spec}` first")
    return mid


