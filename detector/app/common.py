"""What every command shares: exit codes, the one-line user error, warnings, the config from the arguments, and
the handling of Ctrl-C / SIGTERM (:data:`SIGNALS`).

Below :mod:`detector.app.cli` and :mod:`detector.app.live` so that neither imports the other.
"""

from __future__ import annotations

import contextlib
import signal
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


class _Signals:
    """SIGINT (Ctrl-C) and SIGTERM end a run the same way: as ``KeyboardInterrupt``.

    Inside :meth:`deferred` (the frame loop) the first signal only records
    itself and :meth:`check`, called between frames, raises then: the frame in
    hand is finished, every output record is whole and the segmenter's state
    is consistent for the final flush.  Elsewhere (start-up), or on a second
    signal, ``KeyboardInterrupt`` is raised at once.  The exit code is
    ``128 + signal number``: 130 for SIGINT, 143 for SIGTERM.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._deferring = False

    def install(self) -> None:
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._handle)
        except ValueError:  # not the main thread (main() called from a thread): keep Python's defaults
            pass

    def _handle(self, signum, frame) -> None:
        first = self.signum is None
        self.signum = self.signum or signum
        if first and self._deferring:
            return
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.signum is not None and self._deferring:
            self._deferring = False
            raise KeyboardInterrupt

    def deferred(self):
        @contextlib.contextmanager
        def cm():
            self._deferring = True
            try:
                yield
                self.check()  # a signal during the last frame
            finally:
                self._deferring = False

        return cm()

    def exit_code(self) -> int:
        return 128 + int(self.signum or signal.SIGINT)


SIGNALS = _Signals()
