"""Child processes of a test's subprocess, read from /proc (shared by test_parallel, test_cluster)."""

from __future__ import annotations

import os
from pathlib import Path


def children(pid: int) -> set[int]:
    """Direct children of ``pid`` (empty when it is gone)."""
    out: set[int] = set()
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            out |= {int(x) for x in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()}
    except OSError:
        pass
    return out


def descendants(pid: int) -> set[int]:
    """Children, grandchildren, ... of ``pid``."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        kids = children(todo.pop())
        todo += list(kids - out)
        out |= kids
    return out


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except OSError:
        return False
