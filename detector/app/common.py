"""What every command shares: exit codes, the one-line user error, warnings, the config from the arguments.

Below :mod:`detector.app.cli` and :mod:`detector.app.live` so that neither imports the other.
"""

from __future__ import annotations

import sys

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CliError(Exception):
    """A user-facing error: printed as one line, exit code ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def warn(msg: str) -> None:
    print(f"microexpr: warning: {msg}", file=sys.stderr, flush=True)


def config_from_args(args):
    """The configuration of ``--config``, with ``--max-faces`` and ``--include-blinks`` applied."""
    from detector.run.config import load_config

    cfg = load_config(args.config)
    if getattr(args, "max_faces", None) is not None:
        cfg = cfg.replace("landmarks", origin="--max-faces", max_faces=args.max_faces)
    if getattr(args, "include_blinks", False):
        cfg = cfg.replace("events", include_blinks=True)
    return cfg
