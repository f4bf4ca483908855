"""The one place that owns the app's settings: typed options over QSettings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, QSettings, Signal

T = TypeVar("T")

DEVICES = ("auto", "cpu", "cuda", "mps")
THUMB_MIN, THUMB_MAX, THUMB_DEFAULT = 64, 320, 160
MAX_RECENT = 10


class _Option(Generic[T]):
    """A typed settings key: reading converts (and falls back to the default on junk), writing emits `changed`."""

    def __init__(self, key: str, kind: type, default: Any):
        self.key, self.kind, self.default = key, kind, default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Settings | None, owner: type) -> T:
        if obj is None:
            return self  # type: ignore[return-value]
        if self.name in obj.overrides:
            return obj.overrides[self.name]
        default = self.default() if callable(self.default) else self.default
        raw = obj.qsettings.value(self.key, None)
        if raw is None:
            return default
        try:
            return obj._convert(self, raw, default)
        except (TypeError, ValueError):
            return default

    def __set__(self, obj: Settings, value: T) -> None:
        if self.__get__(obj, type(obj)) == value:
            return
        obj.overrides.pop(self.name, None)  # a choice made in the app is kept
        obj.qsettings.setValue(self.key, value)
        obj.changed.emit(self.name)


def _default_model() -> str:
    from .facade import default_model

    return default_model()


class Settings(QObject):
    """Typed app settings. Tests pass their own QSettings (an ini file under tmp_path)."""

    changed = Signal(str)  # the attribute name that changed

    model: _Option[str] = _Option("indexing/model", str, _default_model)
    device: _Option[str] = _Option("indexing/device", str, "auto")
    batch_size: _Option[int] = _Option("indexing/batch_size", int, 0)  # 0: chosen by device
    library_location: _Option[str] = _Option("library/location", str, "")  # "": the user data dir
    watch_folder: _Option[bool] = _Option("library/watch", bool, True)  # index changes as they happen
    thumbnail_size: _Option[int] = _Option("view/thumbnail_size", int, THUMB_DEFAULT)
    threshold: _Option[float] = _Option("search/threshold", float, 0.0)
    best_matches: _Option[bool] = _Option("search/best_matches", bool, True)  # the adaptive relevance cut
    sort: _Option[str] = _Option("search/sort", str, "score")
    side_panel: _Option[bool] = _Option("view/side_panel", bool, True)
    reopen_last: _Option[bool] = _Option("library/reopen_last", bool, True)  # open the last folder at start
    export_dir: _Option[str] = _Option("export/folder", str, "")
    export_mode: _Option[str] = _Option("export/mode", str, "copy")
    slideshow_seconds: _Option[float] = _Option("viewer/slideshow_seconds", float, 4.0)  # per photo
    geometry: _Option[bytes] = _Option("window/geometry", bytes, b"")
    window_state: _Option[bytes] = _Option("window/state", bytes, b"")

    def __init__(self, qsettings: QSettings | None = None, parent: QObject | None = None,
                 overrides: dict[str, Any] | None = None):
        """`overrides` (attribute -> value) hold for this session only, e.g. `clipgallery gui --model`."""
        super().__init__(parent)
        self.qsettings = qsettings if qsettings is not None else QSettings("clipgallery", "clipgallery")
        self.overrides: dict[str, Any] = dict(overrides or {})

    @classmethod
    def at(cls, path: Path) -> Settings:
        """Settings kept in an ini file (tests, portable installs)."""
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    @staticmethod
    def _convert(opt: _Option, raw: Any, default: Any) -> Any:
        if opt.kind is bool:
            return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
        if opt.kind is bytes:
            return bytes(raw.data()) if hasattr(raw, "data") else bytes(raw) if isinstance(raw, bytes | bytearray) else default
        value = opt.kind(raw)
        if opt.name == "device" and value not in DEVICES:
            return default
        if opt.name == "thumbnail_size":
            return max(THUMB_MIN, min(THUMB_MAX, value))
        if opt.name == "slideshow_seconds":
            return max(0.5, min(3600.0, value)) if value == value else default  # (NaN is junk too)
        if opt.name == "batch_size":
            return max(0, value)
        if opt.name == "sort" and value not in ("score", "date", "oldest", "name"):
            return default
        return value

    # -- recent folders ---------------------------------------------------------------------------

    def recent_folders(self) -> list[Path]:
        raw = self.qsettings.value("library/recent", [])
        items = [raw] if isinstance(raw, str) else list(raw or [])
        return [Path(p) for p in items if p][:MAX_RECENT]

    def add_recent_folder(self, folder: Path) -> None:
        folder = Path(folder).resolve()
        items = [folder] + [p for p in self.recent_folders() if p != folder]
        self.qsettings.setValue("library/recent", [str(p) for p in items[:MAX_RECENT]])
        self.changed.emit("recent_folders")

    def clear_recent_folders(self) -> None:
        self.qsettings.setValue("library/recent", [])
        self.changed.emit("recent_folders")

    def folder_to_reopen(self) -> Path | None:
        """The most recent folder, when the app should open it at start (the setting) and it is still there."""
        recent = self.recent_folders()
        if not self.reopen_last or not recent or not recent[0].is_dir():
            return None
        return recent[0]

    # -- derived ----------------------------------------------------------------------------------

    def library_dir_for(self, folder: Path) -> Path | None:
        """Where the library of `folder` lives when a custom location is set; None: the core default."""
        if not self.library_location:
            return None
        from .facade import default_library_dir

        return Path(self.library_location).expanduser() / default_library_dir(folder).name

    def sync(self) -> None:
        self.qsettings.sync()
