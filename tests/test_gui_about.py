"""Help > About shows the version, the model, the library location and this installation."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication

import clipgallery
from clipgallery.core.library import Library

pytest.importorskip("pytestqt")


def about_of(window):
    from clipgallery.gui.dialogs.about_dialog import AboutDialog

    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "Help")
    assert window.about_action in help_menu.actions()
    window.about_action.trigger()
    dialogs = [d for d in window.findChildren(AboutDialog) if d.isVisible()]
    assert len(dialogs) == 1
    return dialogs[0]


def test_about_without_a_folder(qtbot, gui_window):
    w = gui_window("tiny-random")
    about = about_of(w)
    assert about.values["Version"].text() == clipgallery.__version__
    assert about.values["Model"].text() == "tiny-random"
    assert about.values["Library"].text() == "no folder open"
    installed = Path(about.values["Installed at"].text())
    assert installed == Path(clipgallery.__file__).parent
    assert Path(about.values["Resources"].text()) == installed / "resources"
    assert not about.values["torch"].text().startswith("not")  # read from metadata, torch is not imported
    about.copy_details()
    assert f"Version: {clipgallery.__version__}" in QGuiApplication.clipboard().text()
    about.grab().save("/tmp/clipgallery-about.png")
    about.close()


def test_about_names_the_open_library(qtbot, tmp_path):
    from clipgallery.gui.dialogs.about_dialog import AboutDialog

    photos = tmp_path / "photos"
    photos.mkdir()
    lib = Library(photos, tmp_path / "lib", create=True)
    about = AboutDialog("shapes-tiny", "tiny-random", lib)
    qtbot.addWidget(about)
    assert about.values["Photo folder"].text() == str(photos.resolve())
    assert about.values["Library"].text() == str((tmp_path / "lib").resolve())
    assert about.values["Model"].text() == "shapes-tiny"
    assert about.values["Last search used"].text() == "tiny-random"
