"""What the factory page and the factory report show of the six big losses: the OEE
waterfall and the losses table, both from ``Losses.as_steps()`` of a KPI row's
``losses`` (``assessor.domain.kpi.losses``), never from arithmetic of their own.

A flagged KPI is not a result, so neither is a loss computed from it: when performance
is flagged (an implausible ideal cycle time) the speed and reject losses are not shown
and the waterfall ends at the running time; when quality is flagged it ends before the
reject loss; when availability is flagged (too little data, times that contradict each
other) there is no waterfall at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from assessor.domain.kpi.losses import Losses
from assessor.domain.labels import kpi_flag

#: where the waterfall ends when a flagged KPI cuts it: (KPI, first step left out, last bar)
_CUTS = (
    ("performance", "speed_s", "running_s"),
    ("quality", "production_rejects_s", "net_run_s"),
)
#: the KPI each loss is part of (ISO 22400 / six big losses), for the table
LOSS_KPI: dict[str, str] = {
    "breakdowns_s": "availability",
    "setup_s": "availability",
    "small_stops_s": "performance",
    "speed_s": "performance",
    "startup_rejects_s": "quality",
    "production_rejects_s": "quality",
}


@dataclass(frozen=True)
class Waterfall:
    #: (key, seconds): the known time, the losses as negative steps; cut at a flagged loss
    steps: list[tuple[str, float]]
    #: (key, seconds) of the last bar: fully productive time, or where a flag cut the chart
    total: tuple[str, float]
    #: (kpi, reason) of the flag that cut the waterfall short; None: complete
    cut_by: tuple[str, str] | None
    #: planned time without data, outside the waterfall
    unknown_s: float


def losses_of(row: Mapping[str, Any]) -> Losses | None:
    """The ``losses`` of a KPI row (``AssessorService.kpi_rows``) as a Losses."""
    raw = row.get("losses")
    if not raw:
        return None
    if isinstance(raw, Losses):
        return raw
    names = {f.name for f in fields(Losses)}
    return Losses(**{k: v for k, v in raw.items() if k in names})


def waterfall(row: Mapping[str, Any]) -> Waterfall | None:
    """The waterfall of a KPI row; None without known planned time or when availability
    is flagged (the row's flags then say why)."""
    losses = losses_of(row)
    if losses is None or losses.known_s <= 0:
        return None
    flags = row.get("flags") or ()
    if kpi_flag("availability", flags) is not None:
        return None
    steps = losses.as_steps()
    last = steps.pop()
    cut_by = None
    for kpi, first_out, total_key in _CUTS:
        reason = kpi_flag(kpi, flags)
        if reason is None:
            continue
        steps = steps[: next(i for i, (k, _) in enumerate(steps) if k == first_out)]
        cut_by = (kpi, reason)
        # what is left after the shown steps: the running total, as plotly draws a total
        last = (total_key, sum(v for _, v in steps))
        break
    return Waterfall(steps, last, cut_by, losses.unknown_s)


def hidden_losses(row: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """loss key -> (kpi, reason) for the losses not shown because a KPI they depend on is
    flagged (availability: every loss; performance: speed and rejects, which rest on the
    ideal cycle time; quality: rejects)."""
    flags = row.get("flags") or ()
    out: dict[str, tuple[str, str]] = {}
    if (reason := kpi_flag("availability", flags)) is not None:
        return {k: ("availability", reason) for k in LOSS_KPI}
    if (reason := kpi_flag("performance", flags)) is not None:
        out |= {k: ("performance", reason) for k in ("speed_s", "production_rejects_s")}
    if (reason := kpi_flag("quality", flags)) is not None:
        out.setdefault("production_rejects_s", ("quality", reason))
    if out:
        out["fully_productive_s"] = next(iter(out.values()))
    return out
