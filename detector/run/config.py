"""Configuration: ``configs/default.toml`` overlaid by a user ``--config`` file.

Every setting lives in the TOML file with a comment and its unit; the defaults, units and ranges are
the option dataclasses of :mod:`detector.core.options` (the segmenter's ``SegmenterConfig`` included).
This module parses the file and turns each section into its dataclass with one validator: unknown
keys and wrong types are errors, and each field's metadata gives its range or allowed values.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.core.options import (ClassifierOptions, EkmanOptions, EventOptions, LandmarkerOptions, SegmenterConfig,
                                   problem)
from detector.core.resources import resource_path


class ConfigError(ValueError):
    """The configuration file is unreadable or names an unknown/invalid setting."""


@dataclass(frozen=True)
class Config:
    """The whole pipeline configuration (one dataclass per section)."""

    landmarks: LandmarkerOptions = field(default_factory=LandmarkerOptions)
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    events: EventOptions = field(default_factory=EventOptions)
    classifier: ClassifierOptions = field(default_factory=ClassifierOptions)
    ekman: EkmanOptions = field(default_factory=EkmanOptions)  # subtle, timing, Duchenne, masking (detector/stages/ekman.py)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {f.name: dataclasses.asdict(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_toml(self) -> str:
        lines = []
        for section, values in self.to_dict().items():
            lines.append(f"[{section}]")
            for k, v in values.items():
                if v is None:
                    continue
                lines.append(f"{k} = {_toml_value(v)}")
            lines.append("")
        return "\n".join(lines)

    def replace(self, section: str, origin: str = "override", **values: Any) -> "Config":
        """A copy with some values of one section changed (validated like a file; ``origin`` names them in errors)."""
        return _build(self.to_dict() | {section: self.to_dict()[section] | values}, origin)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


def _section(cls, values: dict[str, Any], name: str, origin: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{origin}: unknown setting [{name}] {unknown[0]} (known: {', '.join(fields)})")
    default = cls()
    clean = {}
    for k, v in values.items():
        want = type(getattr(default, k))
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if getattr(default, k) is not None and not isinstance(v, want):
            raise ConfigError(f"{origin}: [{name}] {k} must be {want.__name__}, got {v!r}")
        why = problem(fields[k], v)
        if why:
            raise ConfigError(f"{origin}: [{name}] {k} {why}, got {v!r}")
        clean[k] = v
    try:
        return cls(**clean)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{origin}: [{name}] {str(e).removeprefix(f'{name} config: ')}") from None


def _build(data: dict[str, Any], origin: str) -> Config:
    sections = {f.name: f for f in dataclasses.fields(Config)}
    unknown = sorted(set(data) - set(sections))
    if unknown:
        name = unknown[0]
        if not isinstance(data[name], dict):
            raise ConfigError(f"{origin}: setting {name} is outside any section (settings go under "
                              f"[{'], ['.join(sections)}])")
        raise ConfigError(f"{origin}: unknown section [{name}] (known: {', '.join(sections)})")
    parts = {}
    for name, f in sections.items():
        values = data.get(name, {})
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: [{name}] must be a table")
        parts[name] = _section(f.default_factory().__class__, values, name, origin)  # type: ignore[misc]
    return Config(**parts)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read ({e})") from None


def load_config(path: str | Path | None = None) -> Config:
    """The bundled defaults, overlaid section by section with the file at ``path``."""
    base_path = resource_path("configs", "default.toml")
    data = _read_toml(base_path)
    base = _build(data, str(base_path))
    if path is None:
        return base
    user = _read_toml(Path(path))
    merged = base.to_dict()
    for name, values in user.items():
        if name in merged and isinstance(values, dict):
            merged[name] = merged[name] | values
        else:
            merged[name] = values
    return _build(merged, str(path))
