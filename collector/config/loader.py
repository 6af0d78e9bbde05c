"""Read a collector YAML file: environment interpolation, validation, key-path errors
(configkit.yamlfile does the reading; this module knows the collector's model)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from collector.config.model import CollectorConfig
from configkit import ConfigFileError, LineIndex, interpolate_env, load_yaml, pydantic_errors, read_text


class ConfigError(ConfigFileError):
    """A configuration that cannot be used; ``errors`` holds one line per problem."""


def parse_config(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> CollectorConfig:
    """Validate YAML text; raise ConfigError listing every problem by key path."""
    env = os.environ if env is None else env
    raw = load_yaml(text, source, ConfigError)
    if not isinstance(raw, dict):
        raise ConfigError(source, ["(top level): expected a mapping of sections (site, influx, ...)"])
    errors: list[str] = []
    raw = interpolate_env(raw, env, errors)
    if errors:
        raise ConfigError(source, errors)
    try:
        return CollectorConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(source, pydantic_errors(exc, LineIndex(text))) from None


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> CollectorConfig:
    return parse_config(read_text(path, ConfigError), str(path), env)
