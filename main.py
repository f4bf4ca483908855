"""Start the clipgallery desktop app (the same as `clipgallery gui [PATH]`)."""

import sys

from clipgallery.cli import main

if __name__ == "__main__":
    sys.exit(main(["gui", *sys.argv[1:]]))
