"""Shared fixtures: paths of the committed real face clips, an Xvfb display for the window tests."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
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
    number = b""
    end = time.monotonic() + 10
    while not number.endswith(b"\n") and time.monotonic() < end:
        if not select.select([r], [], [], max(0.0, end - time.monotonic()))[0]:
            break
        chunk = os.read(r, 16)
        if not chunk:
            break
        number += chunk
    os.close(r)
    if not number.strip().isdigit():
        proc.kill()
        proc.wait(10)
        pytest.skip("Xvfb did not start")
    yield f":{number.strip().decode()}"
    proc.terminate()
    proc.wait(10)
