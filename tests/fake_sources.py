"""A fake live camera shared by the capture and live-session tests."""

from __future__ import annotations

import threading

import numpy as np

from detector.stages.source import Frame


class BurstCamera:
    """A fake camera that delivers ``burst`` frames each time the consumer releases ``go``.

    Frame ``k`` is grabbed at ``t0 + k / fps`` seconds on the fake clock (``clock``), which is
    what the capture thread must stamp it with; its image is ``shape`` filled with ``k % 256``.
    """

    def __init__(self, n: int, burst: int, fps: float = 200.0, t0: float = 0.0,
                 shape: tuple[int, int, int] = (4, 6, 3)) -> None:
        self.n, self.burst, self.fps, self.t0, self.shape = n, burst, fps, t0, shape
        self.now = 0.0
        self.go = threading.Semaphore(0)

    def clock(self) -> float:
        return self.now

    def __iter__(self):
        for k in range(self.n):
            if k % self.burst == 0 and not self.go.acquire(timeout=10):
                raise RuntimeError("test consumer never asked for frames")
            self.now = self.t0 + k / self.fps
            yield Frame(k, self.now, np.full(self.shape, k % 256, np.uint8))
