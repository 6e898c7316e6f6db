"""``python -m detector`` is the ``microexpr`` command."""

from detector.app.cli import entry

entry()
