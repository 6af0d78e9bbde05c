"""Durations in the registry file: the one parser is configkit.units (kept importable here)."""

from configkit.units import parse_duration

__all__ = ["parse_duration"]
