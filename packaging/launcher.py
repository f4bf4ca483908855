"""Entry point of the packaged app: no arguments (or a folder) opens the window, else the command line."""

import sys
from pathlib import Path

from clipgallery.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    gui = not args or (len(args) == 1 and Path(args[0]).is_dir())
    sys.exit(main(["gui", *args] if gui else args))
