"""Linux desktop integration: the menu entry, its icon and the AppStream metadata, installed into the
user's XDG data folder ($XDG_DATA_HOME, else ~/.local/share) for whichever clipgallery is running."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .core.errors import DesktopError

DESKTOP_FILE = "clipgallery.desktop"  # its base name is the app id Qt reports (QApplication.setDesktopFileName)
ICON_FILE = "clipgallery.svg"
METAINFO_FILE = "io.github.clipgallery.clipgallery.metainfo.xml"


@dataclass
class DesktopReport:
    data_dir: Path
    command: list[str]
    installed: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"data_dir": str(self.data_dir), "command": self.command,
                "installed": [str(p) for p in self.installed], "removed": [str(p) for p in self.removed]}


def data_home() -> Path:
    """$XDG_DATA_HOME when it is an absolute path (the spec says to ignore anything else), else ~/.local/share."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and Path(value).is_absolute() else Path.home() / ".local" / "share"


def targets(data_dir: Path) -> dict[str, Path]:
    return {DESKTOP_FILE: data_dir / "applications" / DESKTOP_FILE,
            ICON_FILE: data_dir / "icons" / "hicolor" / "scalable" / "apps" / ICON_FILE,
            METAINFO_FILE: data_dir / "metainfo" / METAINFO_FILE}


def launch_command() -> list[str]:
    """How the menu starts this very installation: the bundle's executable, the console script that is
    running, or the interpreter with the module, so a venv that is not on PATH works too."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).absolute())]
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "clipgallery" and script.is_file():
        return [str(script.absolute())]
    found = shutil.which("clipgallery")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "clipgallery.cli"]


def exec_value(command: list[str]) -> str:
    """The command as the value of an Exec key: arguments quoted where the Desktop Entry spec asks,
    then the value's own escaping of backslashes."""
    reserved = set(" \t\n\"'\\><~|&;$*?#()`")
    parts = []
    for arg in command:
        if any(c in reserved for c in arg):
            arg = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
        parts.append(arg.replace("%", "%%"))
    return " ".join(parts).replace("\\", "\\\\")


def desktop_entry(command: list[str]) -> str:
    """The shipped .desktop file, pointed at `command`."""
    from .core.resources import resource

    lines = []
    for line in resource("desktop", DESKTOP_FILE).read_text(encoding="utf-8").splitlines():
        key = line.split("=", 1)[0]
        if key == "Exec":
            line = f"Exec={exec_value([*command, 'gui'])} %f"
        elif key == "TryExec":
            line = f"TryExec={exec_value(command[:1])}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def install(data_dir: Path | None = None, command: list[str] | None = None) -> DesktopReport:
    """Write the menu entry, the icon and the metadata (replacing an earlier install of them)."""
    from .core.resources import resource

    data_dir = Path(data_dir) if data_dir is not None else data_home()
    command = command or launch_command()
    report = DesktopReport(data_dir, command)
    contents = {DESKTOP_FILE: desktop_entry(command).encode("utf-8"),
                ICON_FILE: resource("icons", ICON_FILE).read_bytes(),
                METAINFO_FILE: resource("desktop", METAINFO_FILE).read_bytes()}
    try:
        for name, dest in targets(data_dir).items():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.tmp")
            tmp.write_bytes(contents[name])
            tmp.replace(dest)  # a menu never sees a half-written file
            report.installed.append(dest)
    except OSError as e:
        raise DesktopError(f"could not write the menu entry into {data_dir}: {e.strerror or e}") from None
    _refresh_caches(data_dir)
    return report


def uninstall(data_dir: Path | None = None) -> DesktopReport:
    """Remove what install() wrote; nothing else in those folders is touched."""
    data_dir = Path(data_dir) if data_dir is not None else data_home()
    report = DesktopReport(data_dir, [])
    for dest in targets(data_dir).values():
        try:
            dest.unlink()
            report.removed.append(dest)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise DesktopError(f"could not remove {dest}: {e.strerror or e}") from None
    _refresh_caches(data_dir)
    return report


def _refresh_caches(data_dir: Path) -> None:
    """Menus and 'Open With' read caches where they exist; best effort, the files alone are enough."""
    apps = data_dir / "applications"
    if apps.is_dir() and shutil.which("update-desktop-database"):
        subprocess.run(["update-desktop-database", "-q", str(apps)], capture_output=True, timeout=30, check=False)
    hicolor = data_dir / "icons" / "hicolor"
    if hicolor.is_dir():
        os.utime(hicolor)  # icon themes notice new icons by the folder's time
