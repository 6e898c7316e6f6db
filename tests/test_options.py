"""One source for every default: the option dataclasses (detector.core.options) and configs/default.toml agree."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import tomllib

import pytest

from detector.core import options
from detector.core.resources import resource_path
from detector.run.config import Config, ConfigError, load_config
from detector.stages.landmarks import Landmarker


def test_default_toml_equals_the_dataclass_defaults():
    with open(resource_path("configs", "default.toml"), "rb") as f:
        toml = tomllib.load(f)
    defaults = {k: {n: v for n, v in sec.items() if v is not None} for k, sec in Config().to_dict().items()}
    assert toml == defaults
    assert load_config() == Config()


def test_library_landmarker_filters_as_the_cli_does():
    assert Landmarker.__init__.__defaults__[0] == load_config().landmarks  # timestamp_scale 1000 on both


def test_every_toml_option_has_its_rule_in_metadata():
    for cls in (options.LandmarkerOptions, options.EventOptions, options.ClassifierOptions, options.TrackerOptions,
                options.OutputOptions, options.LiveOptions):
        for f in dataclasses.fields(cls):
            if f.name != "model_path":
                assert {"unit", "type", "lo", "hi", "choices"} <= set(f.metadata), (cls.__name__, f.name)


@pytest.mark.parametrize("section, key, value, why", [
    ("landmarks", "max_faces", 0, "must be >= 1 (count)"),
    ("landmarks", "timestamp_scale", 0.0, "must be > 0"),
    ("landmarks", "mode", "foo", "must be one of 'video', 'image'"),
    ("classifier", "device", "tpu", "must be one of 'cpu', 'gpu'"),
])
def test_one_validator_reads_the_rules_from_the_metadata(section, key, value, why):
    with pytest.raises(ConfigError, match=re.escape(why)):
        load_config().replace(section, **{key: value})


def test_options_import_neither_numba_nor_mediapipe():
    code = "import sys, detector.core.options; print('numba' in sys.modules, 'mediapipe' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split() == [
        "False", "False"]
