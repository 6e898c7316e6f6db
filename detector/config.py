"""Configuration: ``configs/default.toml`` overlaid by a user ``--config`` file.

Every threshold lives in the TOML file with a comment and its unit; this module
parses, validates and turns the sections into the option dataclasses of each
stage.  One validator serves every section: unknown keys and wrong types are
errors, and :data:`RULES` holds each key's range or allowed values with its
unit (the segmenter's own ranges are checked by ``SegmenterConfig``).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.ekman import EkmanOptions
from detector.landmarks import LandmarkerOptions
from detector.resources import resource_path
from detector.segmenter import SegmenterConfig


class ConfigError(ValueError):
    """The configuration file is unreadable or names an unknown/invalid setting."""


@dataclass(frozen=True)
class EventOptions:
    include_blinks: bool = False  # write blink events (kind "blink") too


@dataclass(frozen=True)
class ClassifierOptions:
    model: str = ""  # path of an ONNX emotion model; "" = bundled models/emotion.onnx
    device: str = "cpu"  # "cpu" or "gpu" (onnxruntime CUDA provider, falls back to CPU with a message)


@dataclass(frozen=True)
class Rule:
    """What a setting may be: ``lo``..``hi`` (inclusive unless ``open_lo``), or one of ``choices``; ``unit`` for messages."""

    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    choices: tuple[str, ...] = ()

    def problem(self, v: Any) -> str | None:
        """Why ``v`` breaks the rule (None if it does not)."""
        if self.choices:
            return None if v in self.choices else f"must be one of {', '.join(map(repr, self.choices))}"
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        unit = f" ({self.unit})" if self.unit else ""
        if not math.isfinite(v):
            return f"must be a finite number{unit}"
        if self.lo is not None and (v <= self.lo if self.open_lo else v < self.lo):
            return f"must be {'>' if self.open_lo else '>='} {self.lo:g}{unit}"
        if self.hi is not None and v > self.hi:
            return f"must be <= {self.hi:g}{unit}"
        return None


#: The rules of every setting that has one, section by section (written down once; the units
#: match the comments of configs/default.toml).
RULES: dict[str, dict[str, Rule]] = {
    "landmarks": {
        "max_faces": Rule("count", lo=1),
        "mode": Rule(choices=("video", "image")),
        "min_detection_confidence": Rule("0..1", lo=0, hi=1),
        "min_presence_confidence": Rule("0..1", lo=0, hi=1),
        "min_tracking_confidence": Rule("0..1", lo=0, hi=1),
        "timestamp_scale": Rule("dimensionless factor", lo=0, hi=1e6, open_lo=True),
        "delegate": Rule(choices=("cpu", "gpu")),
    },
    "classifier": {
        "device": Rule(choices=("cpu", "gpu")),
    },
}


@dataclass(frozen=True)
class Config:
    """The whole pipeline configuration (one dataclass per section)."""

    landmarks: LandmarkerOptions = field(default_factory=LandmarkerOptions)
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    events: EventOptions = field(default_factory=EventOptions)
    classifier: ClassifierOptions = field(default_factory=ClassifierOptions)
    ekman: EkmanOptions = field(default_factory=EkmanOptions)  # subtle, timing, Duchenne, masking (detector/ekman.py)

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
        rule = RULES.get(name, {}).get(k)
        why = rule.problem(v) if rule is not None else None
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
