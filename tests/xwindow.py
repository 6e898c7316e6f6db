"""Window tests under Xvfb: a pipe reader, the window lookup and keys by xdotool (shared by test_live, test_train).

The ``xvfb`` fixture that starts the X server is in ``conftest.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest


class Reader:
    """Collects a pipe's lines in a thread, so the test can wait for a log line."""

    def __init__(self, pipe) -> None:
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._t.start()

    def _run(self, pipe) -> None:
        for line in pipe:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(text in line for line in self.lines):
                return True
            time.sleep(0.05)
        return False

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def join(self, timeout: float = 5.0) -> None:
        self._t.join(timeout)

    @property
    def text(self) -> str:
        return "".join(self.lines)


def need_xdotool() -> None:
    if not shutil.which("xdotool"):
        pytest.skip("xdotool not installed (apt-get install xdotool): cannot send keys to the window")


def window_ids(name: str, env: dict) -> list[str]:
    r = subprocess.run(["xdotool", "search", "--name", name], env=env, capture_output=True, text=True)
    return r.stdout.split()


def find_window(name: str, env: dict, proc: subprocess.Popen, timeout: float = 60.0) -> str | None:
    """The id of the window called ``name`` once it appears (None if it does not, or ``proc`` ends)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        ids = window_ids(name, env)
        if ids:
            return ids[-1]
        time.sleep(0.1)
    return None


def send_key(wid: str, key: str, env: dict) -> None:
    subprocess.run(["xdotool", "key", "--window", wid, key], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
