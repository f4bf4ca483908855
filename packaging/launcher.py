"""Entry point of the packaged app: no arguments (or a folder) opens the window, else the command line."""

import multiprocessing
import sys
from pathlib import Path

from clipgallery.cli import main

if __name__ == "__main__":
    # The face search's workers and a large search index run in processes of their own: in a
    # bundle those start this executable again, and this makes them the worker, not a second app.
    multiprocessing.freeze_support()
    args = sys.argv[1:]
    gui = not args or (len(args) == 1 and Path(args[0]).is_dir())
    sys.exit(main(["gui", *args] if gui else args))
