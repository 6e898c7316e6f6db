"""Shared fixtures: paths of the committed real face clips, an Xvfb display for the window tests."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture
def xvfb():
    """A fresh Xvfb display (``":N"``); the test is skipped where Xvfb is missing or does not start.

    Xvfb picks a free display itself and writes its number to ``-displayfd`` once it accepts
    connections (waiting for the socket file instead raced: a window test once failed with "could
    not connect to display")."""
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb not installed (apt-get install xvfb): window path not tested")
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as ready:  # one line, "N\n"; end of file if Xvfb exits
        number = ready.readline().strip() if select.select([ready], [], [], 10)[0] else ""
    if not number.isdigit():
        proc.kill()
        proc.wait(10)
        pytest.skip("Xvfb did not start")
    yield f":{number}"
    proc.terminate()
    proc.wait(10)
