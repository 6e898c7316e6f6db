"""The counts of a run (frames, frames with a face, tracks, media and wall time), kept in one place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


class _Tracked(Protocol):
    track_id: int


@dataclass
class RunStats:
    """What a run went through: frames, frames with a face, the track ids seen, media and wall time."""

    frames: int = 0
    frames_with_face: int = 0
    tracks: set[int] = field(default_factory=set)
    media_seconds: float = 0.0
    wall_seconds: float = 0.0

    def count(self, timestamp: float, faces: Sequence[_Tracked]) -> None:
        """One more frame, at ``timestamp`` seconds, with ``faces`` in it (the one place frames are counted)."""
        self.frames += 1
        self.media_seconds = timestamp
        if faces:
            self.frames_with_face += 1
            self.tracks.update(f.track_id for f in faces)
