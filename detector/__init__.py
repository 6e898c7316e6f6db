"""microexpr: real-time detection of facial micro-expressions.

Pipeline (one module per stage in ``detector/stages``, data flows one way)::

    source -> landmarks -> features -> segmenter -> classifier -> sinks
                                                                 -> overlay

The folders are layers (core, stages, run, lab, app; see ARCHITECTURE.md).

The public API is as small as the CLI: :func:`analyze` runs the whole
pipeline over a recorded video or a folder of frames and returns the events.
"""

from __future__ import annotations

import os as _os

# Quiet OpenCV's own logging (FFmpeg's "moov atom not found" etc.): bad input is
# reported in one line (CLI) or one exception (API).  Set here, before anything
# imports cv2, for the CLI, the Python API and spawned worker processes alike.
_os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
_os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

__version__ = "0.1.0"

__all__ = ["__version__", "analyze", "Event", "SourceError"]


def __getattr__(name: str):  # lazy: importing detector must not load mediapipe
    if name == "analyze":
        from detector.run.analyze import analyze

        return analyze
    if name == "Event":
        from detector.core.events import Event

        return Event
    if name == "SourceError":
        from detector.stages.source import SourceError

        return SourceError
    raise AttributeError(name)
