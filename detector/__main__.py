"""``python -m detector`` is the ``microexpr`` command."""

import sys

from detector.cli import main

sys.exit(main())
