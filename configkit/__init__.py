"""What the collector and the assessor share in reading their settings: YAML files whose
errors name the key path and the line, durations and sizes as people write them, and the
InfluxDB connection (URL, token or user and password, TLS)."""

from configkit.influx import InfluxConnection
from configkit.paths import LocalPath
from configkit.units import Duration, Size, parse_duration, parse_size
from configkit.yamlfile import (
    FAST_LOADER,
    ConfigFileError,
    KeyPath,
    LineIndex,
    interpolate_env,
    key_path,
    load_yaml,
    pydantic_errors,
    read_text,
)

__all__ = [
    "FAST_LOADER",
    "ConfigFileError",
    "Duration",
    "InfluxConnection",
    "KeyPath",
    "LineIndex",
    "LocalPath",
    "Size",
    "interpolate_env",
    "key_path",
    "load_yaml",
    "parse_duration",
    "parse_size",
    "pydantic_errors",
    "read_text",
]
