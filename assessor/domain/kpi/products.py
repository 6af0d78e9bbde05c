"""Products: which product each moment of a machine's time and each unit belongs to, and
the changeovers between products (docs/kpi-method.md, "Products").

The product signal is held like a state (``timeline.episodes_of``): until the next product
sample, never past the machine's liveness. Time no product sample covers has the product
``NO_PRODUCT``; its units are timed by the machine's own ideal cycle time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from assessor.domain.kpi.calendar import Interval, intersect, normalise, subtract
from assessor.domain.kpi.timeline import Episode
from datacontract import MachineState

#: the product of time no product sample covers (and of an empty product value)
NO_PRODUCT = ""
_SETUP = MachineState.SETUP.value
_RUNNING = MachineState.RUNNING.value

#: product id -> (ideal cycle time on this machine, whether the registry knows the product)
IdealTime = Callable[[str], tuple[float, bool]]


@dataclass(frozen=True)
class Changeover:
    """A change from one known product to another on one machine."""

    #: when the incoming product was first seen (epoch seconds)
    at: float
    from_product: str
    to_product: str
    #: planned seconds in setup from the outgoing product's last run to the incoming
    #: product's first run (counted for the incoming product)
    setup_s: float


def product_ideal_s(units: Iterable[tuple[str, float]], ideal: IdealTime) -> float:
    """Sum over ``(product, units)`` of the product's ideal cycle time x its units: the
    ideal run time (ISO 22400 PRU x PQ per product). Any split of a product's units over
    several pairs gives the same sum, and a product the registry does not know is timed
    by the fallback ``ideal`` gives for it (the machine's ideal cycle time)."""
    # units summed per ideal time first: with one ideal time the result is exactly that
    # time x all units, the machine's formula without products, to the last bit
    by_time: dict[float, float] = {}
    for p, n in units:
        t = ideal(p)[0]
        by_time[t] = by_time.get(t, 0) + n
    return sum(t * n for t, n in sorted(by_time.items()))


def product_tiles(
    products: Sequence[Episode], states: Sequence[Episode], planned: Sequence[Interval] = ()
) -> tuple[dict[str, list[Interval]], list[Changeover]]:
    """The time of each product (disjoint intervals tiling the episodes' span) and the
    changeovers, from product episodes and state episodes over the same span.

    Setup before the first unit of a new product belongs to the incoming product: the
    setup episodes between the outgoing product's last run and the change are moved to
    the incoming product; other time stays with the product current then. Units are only
    made in running time, so the first run after the change is where the first unit of
    the incoming product is made. A changeover is a change between two different known
    products (a gap without product between them does not hide it); its setup time is
    the setup seconds inside ``planned`` between the outgoing product's last run and the
    incoming product's first run."""
    tiles: dict[str, list[Interval]] = {}
    changeovers: list[Changeover] = []
    runs = [(e.start, e.end) for e in states if e.state == _RUNNING]
    setups = [(e.start, e.end) for e in states if e.state == _SETUP]
    last_known: str | None = None
    for i, ep in enumerate(products):
        tiles.setdefault(ep.state, []).append((ep.start, ep.end))
        if ep.state == NO_PRODUCT:
            continue
        if last_known is not None and last_known != ep.state:
            prev = products[i - 1]
            moved: list[Interval] = []
            if prev.end == ep.start and prev.state == last_known:
                lo = max([prev.start] + [min(b, ep.start) for a, b in runs if a < ep.start])
                moved = intersect(setups, [(lo, ep.start)])
                tiles[prev.state] = subtract(tiles[prev.state], moved)
                tiles[ep.state].extend(moved)
            first_run = min([a for a, b in runs if b > ep.start and a < ep.end] + [ep.end])
            before_run = moved + intersect(setups, [(ep.start, max(ep.start, first_run))])
            setup_s = sum(b - a for a, b in intersect(normalise(before_run), planned))
            changeovers.append(Changeover(ep.start, last_known, ep.state, setup_s))
        last_known = ep.state
    return {p: normalise(v) for p, v in tiles.items()}, changeovers


def apportion(target: int, shares: Sequence[float]) -> list[int]:
    """``target`` units split in whole units in proportion to ``shares`` (largest
    remainder), so that per-product counts add up exactly to the machine's count."""
    if not shares:
        return []
    total = sum(shares)
    if total <= 0:
        out = [0] * len(shares)
        out[0] = target
        return out
    exact = [target * s / total for s in shares]
    out = [int(x) for x in exact]
    order = sorted(range(len(shares)), key=lambda i: exact[i] - out[i], reverse=True)
    for k in range(target - sum(out)):
        out[order[k % len(order)]] += 1
    return out
