"""What a side panel may use of the app: a small context object instead of the main window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .facade import Facade, Photo
from .settings import Settings


@dataclass
class PanelContext:
    """Built by the main window and handed to the side panels (they never import main_window)."""

    facade: Facade
    settings: Settings
    notify: Callable[..., None]  # notify(text, msecs=8000): a line in the status bar
    show_photos: Callable[[frozenset[int] | None, str], None]  # narrow the gallery to these photos
    show_error: Callable[[str], None]  # an error banner over the gallery
    selected_photos: Callable[[], list[Photo]]  # the gallery's selection
    export: Callable[..., Any]  # export(what): open the export dialog with `what` chosen
    jobs: Any = None  # the side panel's own job queue (one long job at a time), set by SidePanel
    organized: Callable[[Any], None] | None = None  # marks or albums changed: facade.Organized for the grid
    set_faces: Callable[[bool], None] = lambda enabled: None  # the folder's faces setting (People tab)
    refresh: Callable[[], None] = lambda: None  # run the shown search again (a person was renamed, merged)
    listing: Callable[[], Any] = lambda: None  # the folder's photos as browsing shows them (FolderListing)
    show_folder: Callable[[str], None] = lambda rel: None  # narrow the gallery to a subfolder ("": all)
    shown_label: Callable[[], str] = lambda: ""  # what the grid is narrowed to ("Tag: happy"), "" when not
    photos_removed: Callable[[list[str]], None] = lambda paths: None  # moved to the Trash: out of the grid
