"""``python -m detector`` is the ``microexpr`` command."""

from detector.cli import entry

entry()
