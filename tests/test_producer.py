"""The producer/consumer building block (``core.producer.ProducerThread``) under the capture thread, the
decode-ahead reader and the live loop's landmark thread: order, end, errors, drops, pause and stop."""

from __future__ import annotations

import threading
import time

import pytest

from detector.core.producer import NOTHING, ProducerThread


def _wait_until(pred, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.001)


def test_items_in_order_then_the_end_for_every_later_call():
    p = ProducerThread.over(range(20), depth=2).start()
    assert list(p) == list(range(20))
    assert p.get(timeout=5) is None and p.get(timeout=5) is None
    assert (p.queued, p.delivered, p.dropped) == (20, 20, 0)
    p.stop()


def test_nothing_yet_is_asked_again_and_the_error_comes_after_the_items_before_it():
    script = iter([NOTHING, 1, NOTHING, NOTHING, 2, ValueError("source gone")])

    def produce():
        x = next(script)
        if isinstance(x, Exception):
            raise x
        return x

    p = ProducerThread(produce, depth=1).start()
    assert p.get(timeout=5) == 1 and p.get(timeout=5) == 2
    with pytest.raises(ValueError, match="source gone"):
        p.get(timeout=5)
    assert p.get(timeout=5) is None and p.finished
    p.stop()


def test_keep_newest_drops_the_oldest_waiting_item():
    gate = threading.Event()

    def items():
        yield from range(5)
        gate.wait(10)

    p = ProducerThread.over(items(), keep_newest=True).start()
    _wait_until(lambda: p.queued == 5)
    assert p.get(timeout=5) == 4 and p.dropped == 4
    gate.set()
    assert p.get(timeout=5) is None
    p.stop()


def test_paused_takes_nothing_and_stop_ends_a_producer_waiting_for_room():
    p = ProducerThread.over(iter(range(1000)), depth=2)
    p.paused = True
    p.start()
    time.sleep(0.05)
    assert p.queued == 0
    p.paused = False
    _wait_until(lambda: p.queued == 2)
    silent = ProducerThread(lambda: time.sleep(0.001) or NOTHING).start()
    with pytest.raises(TimeoutError):
        silent.get(timeout=0.01)
    silent.stop(timeout=5)
    assert not silent.alive
    p.stop(timeout=5)
    assert not p.alive and p.queued == 2
    assert p.skip_pending() == 2 and p.get(timeout=5) is None
