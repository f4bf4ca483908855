"""`clipgallery install-desktop`: the menu entry for this installation (logic in clipgallery.desktop)."""

from __future__ import annotations

import argparse
from typing import Any

from .common import emit, json_option


def register(subparsers: Any) -> None:
    s = subparsers.add_parser("install-desktop",
                              help="add clipgallery to the desktop's application menu (Linux, for this user)",
                              description="Installs the .desktop file, the icon and the AppStream metadata into "
                                          "$XDG_DATA_HOME (default ~/.local/share), pointing at this installation. "
                                          "Folders dropped on the menu entry open in the app.")
    s.add_argument("--uninstall", action="store_true", help="remove what install-desktop installed")
    json_option(s)
    s.set_defaults(func=cmd_install_desktop)


def cmd_install_desktop(args: argparse.Namespace) -> int:
    from .. import desktop

    if args.uninstall:
        report = desktop.uninstall()
        text = "\n".join(f"removed {p}" for p in report.removed) or f"nothing to remove in {report.data_dir}"
    else:
        report = desktop.install()
        text = "\n".join(f"installed {p}" for p in report.installed)
        text += f"\nthe menu entry runs: {' '.join(report.command)} gui"
    emit(args, report.to_json(), text)
    return 0
