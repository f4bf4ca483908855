"""`python -m clipgallery.cli ...`"""

import sys

from . import main

sys.exit(main())
