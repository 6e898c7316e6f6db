"""The one error type of ``microexpr train`` meant for the user (one line, exit 2); light to import."""

from __future__ import annotations


class TrainError(Exception):
    """A ``microexpr train`` error meant for the user: printed as one line, exit code 2."""

    code = 2
