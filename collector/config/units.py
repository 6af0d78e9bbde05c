"""Durations and sizes: the one parser is configkit.units (kept importable from here)."""

from configkit.units import parse_duration, parse_size

__all__ = ["parse_duration", "parse_size"]
