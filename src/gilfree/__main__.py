"""``python -m gilfree``: the same command line as ``gilfree``."""

import sys

from .cli import main

sys.exit(main())
