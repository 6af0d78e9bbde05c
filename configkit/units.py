"""Durations ("500ms", "2min", "1d") and sizes ("64MiB", "100MB") in configuration files.

One parser for every file both programs read (collector, assessor, registry), so a value
written for one is read the same way by the other. A plain number is seconds or bytes.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ns|us|µs|ms|s|sec|m|min|h|d)?\s*$")
DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_duration(value: object) -> float:
    """Seconds from a number (seconds) or a string such as ``500ms``, ``1s``, ``2min``, ``1d``.

    Raises ValueError with a message fit to show next to the key path.
    """
    # YAML turns `yes`/`on` into booleans, and bool is an int subclass: refuse it explicitly
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '1s' or '500ms', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * (DURATION_UNITS[m.group(2)] if m.group(2) else 1.0)
    else:
        raise ValueError(f"expected a duration such as '1s' or '500ms', got {value!r}")
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, got {value!r}")
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
        factor = SIZE_UNITS[m.group(2).lower()] if m.group(2) else 1
        size = int(float(m.group(1)) * factor)
    else:
        raise ValueError(f"expected a size such as '1GiB' or '500MB', got {value!r}")
    if size < 0:
        raise ValueError(f"size must not be negative, got {value!r}")
    return size


#: a pydantic field holding seconds, written as a duration
Duration = Annotated[float, BeforeValidator(parse_duration)]
#: a pydantic field holding bytes, written as a size
Size = Annotated[int, BeforeValidator(parse_size)]
