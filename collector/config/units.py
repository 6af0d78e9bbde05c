"""Human units in configuration files: durations ("500ms", "1s") and sizes ("1GiB")."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h|d)?\s*$")
_DURATION_FACTORS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    None: 1.0,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_FACTORS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    None: 1,
}


def parse_duration(value: object) -> float:
    """Seconds from a number (seconds) or a string such as ``500ms``, ``1s``, ``2m``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '1s' or '500ms', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _DURATION_FACTORS[m.group(2)]
    else:
        raise ValueError(f"expected a duration such as '1s' or '500ms', got {value!r}")
    if seconds < 0:
        raise ValueError(f"duration must not be negative, got {value!r}")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from a number or a string such as ``512MB`` or ``1GiB``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as '1GiB' or '500MB', got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE.match(value)):
        unit = m.group(2).lower() if m.group(2) else None
        size = int(float(m.group(1)) * _SIZE_FACTORS[unit])
    else:
        raise ValueError(f"expected a size such as '1GiB' or '500MB', got {value!r}")
    if size < 0:
        raise ValueError(f"size must not be negative, got {value!r}")
    return size
