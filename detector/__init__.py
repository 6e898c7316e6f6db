"""microexpr: real-time detection of facial micro-expressions.

Pipeline (one module per stage, data flows one way)::

    source -> landmarks -> features -> segmenter -> classifier -> sinks
                                                                 -> overlay

The public API is as small as the CLI: :func:`analyze` runs the whole
pipeline over a recorded video or a folder of frames and returns the events.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "analyze", "Event"]


def __getattr__(name: str):  # lazy: importing detector must not load mediapipe
    if name == "analyze":
        from detector.pipeline import analyze

        return analyze
    if name == "Event":
        from detector.events import Event

        return Event
    raise AttributeError(name)
