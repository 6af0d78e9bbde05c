"""Collector configuration: YAML with environment interpolation, validated with key paths."""

from collector.config.loader import ConfigError, load_config, parse_config
from collector.config.model import CollectorConfig

__all__ = ["CollectorConfig", "ConfigError", "load_config", "parse_config"]
