"""Desktop integration: the shipped .desktop and AppStream files validate, install-desktop installs a
working menu entry into $XDG_DATA_HOME and --uninstall takes exactly that away again."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import clipgallery
from clipgallery import desktop
from clipgallery.cli import main

SHIPPED = Path(clipgallery.__file__).resolve().parent / "resources"
DESKTOP = SHIPPED / "desktop" / desktop.DESKTOP_FILE
METAINFO = SHIPPED / "desktop" / desktop.METAINFO_FILE


def needs(tool: str):
    return pytest.mark.skipif(shutil.which(tool) is None,
                              reason=f"{tool} is not installed (Debian: tools/ensure_system_libs.sh installs it)")


def entry_of(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if "=" in line and not line.startswith("#"))


@needs("desktop-file-validate")
def test_shipped_desktop_file_validates():
    proc = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


@needs("appstreamcli")
def test_shipped_metainfo_validates():
    proc = subprocess.run(["appstreamcli", "validate", "--no-net", str(METAINFO)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_metainfo_names_this_version_and_the_desktop_file():
    root = ET.parse(METAINFO).getroot()
    newest = root.find("releases/release")
    assert newest is not None and newest.get("version") == clipgallery.__version__, \
        "add a <release> for the new version to the metainfo"
    assert root.find("launchable").text == desktop.DESKTOP_FILE


def test_shipped_entry_opens_dropped_folders():
    entry = entry_of(DESKTOP)
    assert "inode/directory;" in entry["MimeType"]
    assert entry["Icon"] == Path(desktop.ICON_FILE).stem
    assert entry["StartupWMClass"] == "clipgallery"  # what QApplication.setDesktopFileName reports


def test_install_and_uninstall(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    (data / "applications").mkdir(parents=True)
    other = data / "applications" / "other.desktop"
    other.write_text("[Desktop Entry]\nType=Application\nName=Other\nExec=other\n")

    assert main(["install-desktop", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    installed = [Path(p) for p in report["installed"]]
    assert sorted(installed) == sorted(desktop.targets(data).values())
    placed = desktop.targets(data)
    assert placed[desktop.ICON_FILE].read_bytes() == (SHIPPED / "icons" / desktop.ICON_FILE).read_bytes()
    assert placed[desktop.METAINFO_FILE].read_bytes() == METAINFO.read_bytes()
    entry = entry_of(placed[desktop.DESKTOP_FILE])
    argv = shlex.split(entry["Exec"].replace("\\\\", "\\"))
    assert argv == [*report["command"], "gui", "%f"]
    assert Path(argv[0]).is_file(), f"the menu entry runs {argv[0]}, which does not exist"
    assert entry["TryExec"] == argv[0]
    if shutil.which("desktop-file-validate"):
        proc = subprocess.run(["desktop-file-validate", str(placed[desktop.DESKTOP_FILE])], capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stdout
    if shutil.which("update-desktop-database"):  # the menu's 'Open With' cache now knows about folders
        assert "inode/directory=clipgallery.desktop" in (data / "applications" / "mimeinfo.cache").read_text()

    assert main(["install-desktop", "--json"]) == 0  # again: replaces its own files
    capsys.readouterr()
    assert main(["install-desktop", "--uninstall"]) == 0
    out = capsys.readouterr().out
    assert all(not p.exists() for p in placed.values()) and out.count("removed ") == 3
    assert other.is_file(), "uninstall touched a file it did not install"
    assert main(["install-desktop", "--uninstall"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_install_into_an_unwritable_place_is_one_clear_error(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    assert main(["install-desktop"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("clipgallery: error: could not write the menu entry into") and err.count("\n") == 1


def test_relative_xdg_data_home_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/share")
    assert desktop.data_home() == tmp_path / ".local" / "share"


def test_exec_value_quotes_what_the_spec_reserves():
    assert desktop.exec_value(["/opt/clip gallery/bin/clipgallery", "gui"]) == '"/opt/clip gallery/bin/clipgallery" gui'
    assert desktop.exec_value(["/a$b/c"]) == '"/a\\\\$b/c"'  # \$ inside quotes, its backslash escaped again
    assert desktop.exec_value(["/50%/x"]) == "/50%%/x"
