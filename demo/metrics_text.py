"""Reading the collector's Prometheus text (``/metrics``): for the demo's progress
line, the benchmarks and the tests that watch a collector process."""

from __future__ import annotations

import re
import urllib.request

_NAME_END = re.compile(r"[{ ]")


def samples(text: str) -> dict[str, float]:
    """Every sample as written: ``name{labels}`` (or ``name``) -> value."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def totals(text: str) -> dict[str, float]:
    """Metric name -> the sum of its samples over all label values."""
    out: dict[str, float] = {}
    for key, value in samples(text).items():
        name = _NAME_END.split(key, maxsplit=1)[0]
        out[name] = out.get(name, 0.0) + value
    return out


def scrape(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()
