"""Durations as people write them in the registry file: ``1s``, ``500ms``, ``2.5s``, ``1m``."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(us|µs|ms|s|sec|m|min|h)?\s*$")
_FACTORS = {
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    None: 1.0,
}


def parse_duration(value: object) -> float:
    """Seconds from a bare number (seconds) or a string such as ``500ms``, ``1s``, ``2m``.

    Raises ValueError with a message fit to show next to the key path.
    """
    # YAML turns `yes`/`on` into booleans, and bool is an int subclass: refuse it explicitly
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '1s' or '500ms', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _FACTORS[m.group(2)]
    else:
        raise ValueError(f"expected a duration such as '1s' or '500ms', got {value!r}")
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError(f"expected a finite duration, got {value!r}")
    if seconds < 0:
        raise ValueError(f"duration must not be negative, got {value!r}")
    return seconds
