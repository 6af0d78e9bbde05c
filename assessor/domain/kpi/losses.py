"""The six big losses (Nakajima) of one Totals, in seconds: where known planned time went.

Known planned time = breakdowns + setup (availability losses) + small stops + speed
(performance losses) + production rejects (quality loss) + fully productive time. The one
breakdown the API, the web waterfall and the PDF report show (docs/kpi-method.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from assessor.domain.kpi.model import Totals


@dataclass(frozen=True)
class Losses:
    #: PBT: planned busy time
    planned_s: float
    #: planned time without data: outside the losses (they split known time only)
    unknown_s: float
    #: planned time with data: the sum of the losses below and fully productive time
    known_s: float
    #: long stops: fault, idle and stopped episodes at least as long as the small-stop limit
    breakdowns_s: float
    #: setup and changeover
    setup_s: float
    #: stops shorter than the small-stop limit (in run time)
    small_stops_s: float
    #: run time beyond the ideal time of the units made; negative when the machine runs
    #: faster than its ideal cycle time (performance above 1: the KPIs flag that)
    speed_s: float
    #: start-up rejects: the data does not tell them from production rejects
    startup_rejects_s: float | None
    #: ideal time of the rejected units
    production_rejects_s: float
    #: ideal time of the good units (OEE x known time)
    fully_productive_s: float

    def as_steps(self) -> list[tuple[str, float]]:
        """A waterfall: known time, each loss as a negative step, and the fully productive
        time that remains (the steps before it add up to it)."""
        return [
            ("known_s", self.known_s),
            ("breakdowns_s", -self.breakdowns_s),
            ("setup_s", -self.setup_s),
            ("small_stops_s", -self.small_stops_s),
            ("speed_s", -self.speed_s),
            ("production_rejects_s", -self.production_rejects_s),
            ("fully_productive_s", self.fully_productive_s),
        ]


def six_big_losses(t: Totals) -> Losses:
    """The losses of ``t``. Rejects take their share of the ideal time by the quality
    ratio of the graded units (the same ratio OEE uses); with no graded units, quality is
    unknown and no reject loss is shown. Counts that contradict each other are clamped to
    a share within [0, 1], so the losses always add up to the known time."""
    ideal = t.ideal_run_s
    good_share = min(1.0, max(0.0, t.good_count / t.graded)) if t.graded > 0 else 1.0
    return Losses(
        planned_s=t.planned_s,
        unknown_s=t.unknown_s,
        known_s=t.known_s,
        breakdowns_s=t.fault_s + t.idle_s + t.stopped_s,
        setup_s=t.setup_s,
        small_stops_s=t.small_stop_s,
        speed_s=t.run_s - t.small_stop_s - ideal,
        startup_rejects_s=None,
        production_rejects_s=ideal * (1.0 - good_share),
        fully_productive_s=ideal * good_share,
    )
