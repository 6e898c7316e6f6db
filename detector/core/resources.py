"""Locating and verifying the bundled model and config files.

The files live in the top-level ``models/`` and ``configs/`` folders of a source
checkout (also used by an editable install); a wheel carries them as
``detector/models`` and ``detector/configs``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_PKG = Path(__file__).resolve().parents[1]  # the detector package

#: sha256 of each bundled model file, checked before it is loaded.
MODEL_SHA256: dict[str, str] = {
    # Google's face_landmarker/float16/1 bundle (Apache-2.0); see models/README.md.
    "face_landmarker.task": "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
}


class ResourceError(RuntimeError):
    """A bundled or user-given model/config file is missing or corrupt."""


def resource_path(folder: str, name: str) -> Path:
    """Path of a bundled file, ``folder`` being ``"models"`` or ``"configs"``."""
    for base in (_PKG / folder, _PKG.parent / folder):
        p = base / name
        if p.is_file():
            return p
    raise ResourceError(f"bundled file {folder}/{name} not found (broken install?)")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified_model(path: str | Path | None, name: str, sha256: str | None = None) -> Path:
    """Return the model file ``path`` (default: the bundled ``name``) after checking its hash.

    ``sha256`` defaults to the known hash of the bundled file; a user-supplied
    path with no known hash is only checked for existence.
    """
    p = resource_path("models", name) if path is None else Path(path)
    if not p.is_file():
        raise ResourceError(f"model file not found: {p}")
    expected = sha256 or (MODEL_SHA256.get(name) if path is None else None)
    if expected is not None and sha256_of(p) != expected:
        raise ResourceError(f"model file {p} is corrupt (sha256 mismatch; expected {expected[:12]}...)")
    return p
