"""A deterministic machine model driven by simulated time.

Nothing here reads a clock or does I/O: the caller says what time it is. The same code
therefore serves live registers (advanced to the wall clock on each read) and months of
history (advanced as fast as the CPU allows).

The model is event based. Every random draw belongs to an event (a fault, a material
wait, a reject, ...) and comes from its own seeded stream, so the trajectory does not
depend on how often or at which instants the caller samples it: reading the live server
every 100 ms or every minute yields the same machine.

Times inside the model are integer milliseconds since the Unix epoch: exact arithmetic,
so unit counts and state boundaries never drift with float rounding.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from math import exp

from datacontract import MachineState

UINT32 = 1 << 32
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
#: "never", comfortably beyond any simulated time and still an exact int
NEVER = 1 << 62
#: W*ms in one Wh
_WMS_PER_WH = 3_600_000

#: The PLC's state codes (holding register 0).
STATE_CODES: dict[MachineState, int] = {
    MachineState.STOPPED: 0,
    MachineState.RUNNING: 1,
    MachineState.IDLE: 2,
    MachineState.FAULT: 3,
    MachineState.SETUP: 4,
    MachineState.PLANNED_STOP: 5,
}
STATE_BY_CODE: dict[int, MachineState] = {code: s for s, code in STATE_CODES.items()}

#: Reason codes (holding register 1): 0 while running, 1xx faults, then one code per
#: kind of stop, so a downtime Pareto can be built from the register alone.
REASON_NONE = 0
REASON_CHANGEOVER = 201
REASON_MATERIAL_WAIT = 301
REASON_OPERATOR_STOP = 401
REASON_BREAK = 501
REASON_NO_SHIFT = 502
FAULT_REASONS: dict[int, str] = {
    101: "jam",
    102: "motor_overload",
    103: "sensor_fault",
    104: "tool_breakage",
    105: "hydraulic_pressure",
    106: "safety_circuit",
}
REASON_NAMES: dict[int, str] = {
    REASON_NONE: "none",
    **FAULT_REASONS,
    REASON_CHANGEOVER: "changeover",
    REASON_MATERIAL_WAIT: "material_wait",
    REASON_OPERATOR_STOP: "operator_stop",
    REASON_BREAK: "break",
    REASON_NO_SHIFT: "no_shift",
}

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = frozenset(range(7))
MON_FRI = frozenset(range(5))


def _ms(seconds: float) -> int:
    return math.floor(seconds * 1000)


# --------------------------------------------------------------------------- calendar


class CalendarKind(StrEnum):
    PRODUCTION = "production"
    BREAK = "break"
    OFF = "off"


@dataclass(frozen=True)
class DailyWindow:
    """A window repeated on given weekdays, in local time. An end at or before the start
    runs past midnight (a night shift); ``days`` are the days the window starts on."""

    start_s: int
    end_s: int
    days: frozenset[int] = ALL_DAYS
    name: str = ""

    def __post_init__(self) -> None:
        for v in (self.start_s, self.end_s):
            if not 0 <= v <= 86_400:
                raise ValueError(f"time of day out of range: {v}s")
        if not self.days <= ALL_DAYS:
            raise ValueError(f"weekdays are 0 (Monday) to 6, got {sorted(self.days)}")

    def interval(self, local_day: int, utc_offset_ms: int) -> tuple[int, int] | None:
        """The window on a day (days since 1970-01-01 in local time), in epoch ms."""
        # 1970-01-01 was a Thursday (weekday 3)
        if (local_day + 3) % 7 not in self.days:
            return None
        base = local_day * DAY_MS - utc_offset_ms
        end_s = self.end_s if self.end_s > self.start_s else self.end_s + 86_400
        return base + self.start_s * 1000, base + end_s * 1000


def _default_breaks() -> tuple[DailyWindow, ...]:
    return (
        DailyWindow(10 * 3600, 10 * 3600 + 600, name="morning break"),
        DailyWindow(12 * 3600, 13 * 3600, name="lunch"),
        DailyWindow(15 * 3600, 15 * 3600 + 600, name="afternoon break"),
    )


@dataclass(frozen=True)
class Calendar:
    """When the machine is planned to produce. Outside shifts and inside breaks the
    machine is in ``planned_stop``; that time is not part of planned busy time."""

    shifts: tuple[DailyWindow, ...] = (DailyWindow(8 * 3600, 17 * 3600, MON_FRI, "day"),)
    breaks: tuple[DailyWindow, ...] = field(default_factory=_default_breaks)
    utc_offset_s: int = 0

    @classmethod
    def always(cls, utc_offset_s: int = 0) -> Calendar:
        """Round-the-clock production without breaks."""
        return cls(shifts=(DailyWindow(0, 0),), breaks=(), utc_offset_s=utc_offset_s)

    def _intervals(self, windows: tuple[DailyWindow, ...], first_day: int, last_day: int):
        off = self.utc_offset_s * 1000
        out = []
        for day in range(first_day, last_day + 1):
            for w in windows:
                iv = w.interval(day, off)
                if iv is not None:
                    out.append(iv)
        return out

    def segment(self, t_ms: int) -> tuple[CalendarKind, int]:
        """The kind of time at ``t_ms`` and when it next changes (NEVER if it does not
        change within the next week: then the week repeats and it never will)."""
        day = (t_ms + self.utc_offset_s * 1000) // DAY_MS
        # a day back catches night shifts that started yesterday; eight ahead covers a week
        shifts = self._intervals(self.shifts, day - 1, day + 8)
        breaks = self._intervals(self.breaks, day - 1, day + 8)

        def kind(t: int) -> CalendarKind:
            if not any(s <= t < e for s, e in shifts):
                return CalendarKind.OFF
            if any(s <= t < e for s, e in breaks):
                return CalendarKind.BREAK
            return CalendarKind.PRODUCTION

        now = kind(t_ms)
        horizon = t_ms + WEEK_MS
        edges = sorted({x for iv in shifts + breaks for x in iv if t_ms < x <= horizon})
        for edge in edges:
            if kind(edge) is not now:
                return now, edge
        return now, NEVER


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class ProductRun:
    """One product of a machine's schedule. The machine makes the products in turn, with a
    changeover (state ``setup``) between two runs; the program number register shows
    ``code`` from the start of the changeover to the product's run, so setup time belongs
    to the incoming product."""

    #: program (recipe) number the PLC shows; 0 means no schedule
    code: int
    #: product id as the registry names it
    id: str
    ideal_cycle_time_s: float
    #: units per run before the next changeover; None: the machine's setup_every_units
    #: (and setup_every, which applies either way)
    units: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.code <= 0xFFFF:
            raise ValueError(f"product {self.id!r}: code must be 1-65535, got {self.code}")
        if not self.id or self.id != self.id.strip():
            raise ValueError(f"product id {self.id!r} is empty or has surrounding spaces")
        if self.ideal_cycle_time_s <= 0:
            raise ValueError(f"product {self.id!r}: ideal cycle time must be positive")
        if self.units is not None and self.units < 1:
            raise ValueError(f"product {self.id!r}: units must be at least 1")


@dataclass(frozen=True)
class MachineParams:
    """How one machine behaves. Times in seconds, power in kW, temperatures in degC."""

    #: planned run time per unit (ISO 22400 PRU)
    ideal_cycle_time_s: float = 10.0
    #: actual cycle = ideal / speed_factor; below 1 is a speed loss
    speed_factor: float = 0.9
    #: share of produced units that are rejected
    reject_rate: float = 0.02
    #: mean running time between faults; None: the machine never faults
    mtbf_s: float | None = 7200.0
    #: mean time to repair a fault
    mttr_s: float = 600.0
    #: fault reason code -> relative weight
    fault_reasons: tuple[tuple[int, float], ...] = ((101, 4.0), (102, 2.0), (103, 1.0), (104, 1.0))
    #: chance that a finished unit is followed by a wait for material
    idle_probability: float = 0.002
    idle_mean_s: float = 300.0
    #: reason code a wait reports; 0 (REASON_NONE): a PLC that does not know why it waits
    idle_reason: int = REASON_MATERIAL_WAIT
    #: changeover after this many units or this much running time (None: never)
    setup_every_units: int | None = None
    setup_every_s: float | None = None
    setup_duration_s: float = 1200.0
    #: mean running time between unplanned operator stops (None: never) and their length
    stop_every_s: float | None = None
    stop_mean_s: float = 600.0
    running_kw: float = 7.5
    #: idle, setup, fault and stopped: powered but not producing
    idle_kw: float = 2.0
    #: planned stops: machine left on standby
    standby_kw: float = 0.3
    ambient_c: float = 22.0
    running_c: float = 45.0
    #: time constant of warming up and cooling down
    thermal_tau_s: float = 1800.0
    calendar: Calendar = field(default_factory=Calendar)
    #: product schedule, made in turn (empty: one unnamed product at ideal_cycle_time_s)
    products: tuple[ProductRun, ...] = ()

    def __post_init__(self) -> None:
        if self.ideal_cycle_time_s <= 0 or self.speed_factor <= 0:
            raise ValueError("ideal_cycle_time_s and speed_factor must be positive")
        if self.cycle_ms < 1:
            raise ValueError("cycle time must be at least 1 ms")
        if not 0 <= self.reject_rate < 1:
            raise ValueError(f"reject_rate must be in [0, 1), got {self.reject_rate}")
        if not 0 <= self.idle_probability <= 1:
            raise ValueError(f"idle_probability must be in [0, 1], got {self.idle_probability}")
        for name in ("mtbf_s", "setup_every_s", "stop_every_s"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ValueError(f"{name} must be positive or None, got {v}")
        if self.setup_every_units is not None and self.setup_every_units < 1:
            raise ValueError("setup_every_units must be at least 1 or None")
        for name in ("mttr_s", "idle_mean_s", "setup_duration_s", "stop_mean_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.thermal_tau_s <= 0:
            raise ValueError("thermal_tau_s must be positive")
        if min(self.running_kw, self.idle_kw, self.standby_kw) < 0:
            raise ValueError("power must not be negative")
        if not self.fault_reasons or any(w <= 0 for _, w in self.fault_reasons):
            raise ValueError("fault_reasons needs at least one code with a positive weight")
        self._check_products()

    def _check_products(self) -> None:
        products = self.products
        for what in ("code", "id"):
            seen = [getattr(p, what) for p in products]
            if len(set(seen)) != len(seen):
                raise ValueError(f"products: a product {what} repeats")
        ends = self.setup_every_units is not None or self.setup_every_s is not None
        if len(products) > 1 and not ends and any(p.units is None for p in products):
            raise ValueError(
                "products: a schedule needs run lengths: units per product, or setup_every_units "
                "or setup_every"
            )

    def for_product(self, index: int) -> MachineParams:
        """These parameters while product ``index`` (modulo the schedule) is made."""
        if not self.products:
            return self
        p = self.products[index % len(self.products)]
        units = self.setup_every_units if p.units is None else p.units
        if p.ideal_cycle_time_s == self.ideal_cycle_time_s and units == self.setup_every_units:
            return self
        return replace(self, ideal_cycle_time_s=p.ideal_cycle_time_s, setup_every_units=units)

    @property
    def cycle_ms(self) -> int:
        return round(self.ideal_cycle_time_s / self.speed_factor * 1000)

    @property
    def ideal_cycle_ms(self) -> int:
        return round(self.ideal_cycle_time_s * 1000)

    def with_changes(self, **changes: object) -> MachineParams:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Regime:
    """Parameters in force from ``start_s`` (simulated epoch seconds) on."""

    start_s: float
    params: MachineParams


# --------------------------------------------------------------------------- outputs


@dataclass(slots=True)
class MachineSnapshot:
    """What the PLC shows at one instant. Counters are uint32 and wrap at 2**32.
    Treat as read-only (not frozen only because history builds hundreds of thousands)."""

    time_s: float
    state: MachineState
    state_code: int
    #: fault code while in fault, otherwise the reason of the stop (0 while running)
    reason_code: int
    total: int
    rejects: int
    energy_wh: int
    power_w: int
    cycle_ms: int
    ideal_cycle_ms: int
    temperature_x10: int
    door_open: bool
    #: program number of the current product (0: no schedule) and its id ("" then)
    product_code: int = 0
    product: str = ""

    @property
    def good(self) -> int:
        return (self.total - self.rejects) % UINT32

    @property
    def fault_code(self) -> int:
        return self.reason_code if self.state is MachineState.FAULT else 0

    @property
    def reason(self) -> str:
        return REASON_NAMES.get(self.reason_code, str(self.reason_code))

    @property
    def temperature_c(self) -> float:
        return self.temperature_x10 / 10


@dataclass(frozen=True, slots=True)
class Episode:
    """One stretch of a single state: the model's ground truth for KPIs."""

    start_s: float
    end_s: float
    state: MachineState
    reason_code: int
    units: int
    rejects: int
    #: ideal cycle time in force (units x this = ideal production time)
    ideal_cycle_time_s: float
    #: the product current during the episode ("" without a schedule)
    product: str = ""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class Totals:
    """ISO 22400 quantities summed from episodes. Ratios are None when undefined."""

    planned_busy_s: float = 0.0
    running_s: float = 0.0
    state_s: dict[MachineState, float] = field(default_factory=dict)
    units: float = 0.0
    rejects: float = 0.0
    ideal_run_s: float = 0.0
    faults: int = 0

    @property
    def availability(self) -> float | None:
        return self.running_s / self.planned_busy_s if self.planned_busy_s else None

    @property
    def performance(self) -> float | None:
        return self.ideal_run_s / self.running_s if self.running_s else None

    @property
    def quality(self) -> float | None:
        return (self.units - self.rejects) / self.units if self.units else None

    @property
    def oee(self) -> float | None:
        if not self.planned_busy_s:
            return None
        if not self.units:
            return 0.0
        # A x P x Q collapses to the ideal time of good units over planned busy time
        good_share = (self.units - self.rejects) / self.units
        return self.ideal_run_s * good_share / self.planned_busy_s


def summarize(
    episodes: Sequence[Episode], start_s: float | None = None, end_s: float | None = None
) -> Totals:
    """Sum episodes overlapping [start_s, end_s). An episode cut by the window counts its
    share of time, and the same share of its units (an approximation only at the cut)."""
    out = Totals()
    for ep in episodes:
        a = ep.start_s if start_s is None else max(ep.start_s, start_s)
        b = ep.end_s if end_s is None else min(ep.end_s, end_s)
        if b <= a:
            continue
        share = (b - a) / ep.duration_s
        dt = b - a
        out.state_s[ep.state] = out.state_s.get(ep.state, 0.0) + dt
        if ep.state is not MachineState.PLANNED_STOP:
            out.planned_busy_s += dt
        if ep.state is MachineState.RUNNING:
            out.running_s += dt
            out.units += ep.units * share
            out.rejects += ep.rejects * share
            out.ideal_run_s += ep.units * share * ep.ideal_cycle_time_s
        elif ep.state is MachineState.FAULT and a == ep.start_s:
            out.faults += 1
    return out


# --------------------------------------------------------------------------- the model


def _geometric(rng: random.Random, p: float) -> int:
    """Trials up to and including the first success (>= 1); NEVER when p is 0."""
    if p <= 0:
        return NEVER
    if p >= 1:
        return 1
    return int(math.log(1.0 - rng.random()) / math.log(1.0 - p)) + 1


def _exp_ms(rng: random.Random, mean_s: float | None) -> int:
    if mean_s is None:
        return NEVER
    return max(1, round(rng.expovariate(1.0 / mean_s) * 1000))


def _gamma_ms(rng: random.Random, mean_s: float) -> int:
    """Repair-like durations: rarely near zero, with a long tail (gamma, shape 2)."""
    if mean_s <= 0:
        return 1
    return max(1, round(rng.gammavariate(2.0, mean_s / 2.0) * 1000))


_POWERED = (MachineState.IDLE, MachineState.SETUP, MachineState.FAULT, MachineState.STOPPED)


class MachineModel:
    """One simulated machine.

    ``params`` is one parameter set, or regimes (each from its start time on; the first
    applies from the beginning whatever its start). ``after`` with ``switch_at_s`` is the
    short form for a before/after pair.
    """

    def __init__(
        self,
        params: MachineParams | Sequence[Regime],
        seed: int,
        start_time_s: float,
        *,
        after: MachineParams | None = None,
        switch_at_s: float | None = None,
        initial_total: int = 0,
        initial_rejects: int = 0,
        initial_energy_wh: int = 0,
        keep_events: bool = False,
    ) -> None:
        # the first parameter set also covers any time before its start: a model started
        # after the switch is simply in the later regime
        if isinstance(params, MachineParams):
            regimes = [(-NEVER, params)]
        else:
            ordered = sorted(params, key=lambda r: r.start_s)
            if not ordered:
                raise ValueError("at least one regime is needed")
            regimes = [(-NEVER, ordered[0].params)]
            regimes += [(_ms(r.start_s), r.params) for r in ordered[1:]]
        if after is not None:
            if switch_at_s is None:
                raise ValueError("'after' needs 'switch_at_s'")
            regimes = sorted([*regimes, (_ms(switch_at_s), after)], key=lambda r: r[0])
        self._regimes = regimes
        #: position in the product schedule; it advances at each changeover
        self._product_index = 0
        self.seed = seed
        self.keep_events = keep_events
        self.events: list[Episode] = []
        self._init_total = initial_total % UINT32
        self._init_rejects = initial_rejects % UINT32
        self._init_energy_wh = initial_energy_wh % UINT32

        # one stream per kind of event: draws of one kind never shift another's
        def stream(kind: str) -> random.Random:
            return random.Random(f"{seed}:{kind}")

        self._rng_fault = stream("fault")
        self._rng_reject = stream("reject")
        self._rng_idle = stream("idle")
        self._rng_setup = stream("setup")
        self._rng_stop = stream("stop")

        t0 = _ms(start_time_s)
        self._now = t0
        self._regime_index = 0
        while self._regime_index + 1 < len(self._regimes) and self._regimes[self._regime_index + 1][0] <= t0:
            self._regime_index += 1
        self._p = self._regimes[self._regime_index][1].for_product(0)
        self._next_regime = self._next_regime_ms()

        # unbounded counters; the snapshot wraps them
        self._produced = 0
        self._rejected = 0
        self._energy_wms = 0
        self._settled_at = t0
        p = self._p
        self._temp = p.ambient_c
        self._last_cycle_ms = p.cycle_ms

        # running-time clocks and unit countdowns (drawn per regime)
        self._draw_clocks()
        self._units_since_setup = 0
        self._run_ms_since_setup = 0

        # current episode
        self._state = MachineState.PLANNED_STOP
        self._reason = REASON_NO_SHIFT
        self._ep_start = t0
        self._ep_units = 0
        self._ep_rejects = 0
        self._state_end = NEVER
        self._cache_state()
        self._cal_kind, self._cal_until = p.calendar.segment(t0)
        # running sub-segment
        self._run_start = t0
        self._run_base = 0
        self._cycle = p.cycle_ms
        self._horizon = NEVER
        self._enter_production_or_stop(t0)

    # ------------------------------------------------------------------ public API

    @property
    def now_s(self) -> float:
        return self._now / 1000

    @property
    def state(self) -> MachineState:
        return self._state

    @property
    def params(self) -> MachineParams:
        return self._p

    @property
    def produced(self) -> int:
        """Units produced since the model started (not wrapped)."""
        return self._produced_at(self._now)

    @property
    def rejected(self) -> int:
        return self._rejected

    def advance(self, to_time_s: float) -> None:
        """Move simulated time forward to ``to_time_s`` (epoch seconds)."""
        to = _ms(to_time_s)
        if to < self._now:
            raise ValueError(f"time runs forward only: {to_time_s} is before {self.now_s}")
        while self._horizon <= to:
            self._step(self._horizon)
        self._now = to

    def snapshot(self) -> MachineSnapshot:
        # called for every history sample: per-state values are cached at state changes
        t = self._now
        dt = t - self._settled_at
        if self._state is MachineState.RUNNING:
            run = t - self._run_start
            produced = self._run_base + run // self._cycle
            cycle = self._cycle if run >= self._cycle else self._last_cycle_ms
        else:
            produced = self._produced
            cycle = self._last_cycle_ms
        return MachineSnapshot(
            t / 1000,
            self._state,
            self._state_code,
            self._reason,
            (self._init_total + produced) % UINT32,
            (self._init_rejects + self._rejected) % UINT32,
            (self._init_energy_wh + (self._energy_wms + self._power_now * dt) // _WMS_PER_WH) % UINT32,
            self._power_now,
            cycle,
            self._ideal_cycle_ms,
            round((self._target_c + (self._temp - self._target_c) * exp(-dt / self._tau_ms)) * 10),
            self._door_open,
            self._product_code,
            self._product_id,
        )

    def history(
        self, start_s: float, end_s: float, sample_every_s: float
    ) -> Iterator[tuple[float, MachineSnapshot]]:
        """Snapshots at start, start + step, ... before end (half-open, so consecutive
        calls chain without duplicates). Advances this model as it goes."""
        if sample_every_s <= 0:
            raise ValueError("sample_every_s must be positive")
        step = _ms(sample_every_s)
        t = _ms(start_s)
        end = _ms(end_s)
        if t < self._now:
            raise ValueError(f"history starts at {start_s}, before the model's time {self.now_s}")
        while t < end:
            while self._horizon <= t:
                self._step(self._horizon)
            self._now = t
            snap = self.snapshot()
            yield snap.time_s, snap
            t += step

    def drain_events(self) -> list[Episode]:
        """Hand over the finished episodes recorded so far and forget them."""
        out, self.events = self.events, []
        return out

    def current_episode(self) -> Episode:
        """The episode in progress, cut at the current time."""
        units = self._produced_at(self._now) - self._ep_units
        return Episode(
            self._ep_start / 1000,
            self._now / 1000,
            self._state,
            self._reason,
            units,
            self._rejected - self._ep_rejects,
            self._p.ideal_cycle_time_s,
            self._product_id,
        )

    # ------------------------------------------------------------------ internals

    def _next_regime_ms(self) -> int:
        i = self._regime_index + 1
        return self._regimes[i][0] if i < len(self._regimes) else NEVER

    def _draw_clocks(self) -> None:
        p = self._p
        self._fault_clock = _exp_ms(self._rng_fault, p.mtbf_s)
        self._stop_clock = _exp_ms(self._rng_stop, p.stop_every_s)
        self._units_to_idle = _geometric(self._rng_idle, p.idle_probability)
        self._next_reject_unit = self._produced + _geometric(self._rng_reject, p.reject_rate)

    def _cache_state(self) -> None:
        """Per-state values the snapshot needs; refreshed on state and regime changes."""
        p, state = self._p, self._state
        self._state_code = STATE_CODES[state]
        self._power_now = self._power_w(state)
        self._target_c = p.running_c if state is MachineState.RUNNING else p.ambient_c
        self._tau_ms = p.thermal_tau_s * 1000
        self._ideal_cycle_ms = p.ideal_cycle_ms
        self._door_open = state is MachineState.SETUP or state is MachineState.FAULT
        if p.products:
            product = p.products[self._product_index % len(p.products)]
            self._product_code, self._product_id = product.code, product.id
        else:
            self._product_code, self._product_id = 0, ""

    def _power_w(self, state: MachineState) -> int:
        p = self._p
        if state is MachineState.RUNNING:
            kw = p.running_kw
        elif state in _POWERED:
            kw = p.idle_kw
        else:
            kw = p.standby_kw
        return round(kw * 1000)

    def _produced_at(self, t: int) -> int:
        if self._state is MachineState.RUNNING:
            return self._run_base + (t - self._run_start) // self._cycle
        return self._produced

    def _settle(self, t: int) -> None:
        """Bring energy and temperature up to ``t`` under the current state."""
        dt = t - self._settled_at
        if dt <= 0:
            return
        self._energy_wms += self._power_now * dt
        target = self._target_c
        self._temp = target + (self._temp - target) * math.exp(-dt / self._tau_ms)
        self._settled_at = t

    def _setup_due(self) -> bool:
        p = self._p
        if p.setup_every_units is not None and self._units_since_setup >= p.setup_every_units:
            return True
        return p.setup_every_s is not None and self._run_ms_since_setup >= _ms(p.setup_every_s)

    # -- state changes

    def _close_episode(self, t: int) -> None:
        if self.keep_events and t > self._ep_start:
            self.events.append(
                Episode(
                    self._ep_start / 1000,
                    t / 1000,
                    self._state,
                    self._reason,
                    self._produced - self._ep_units,
                    self._rejected - self._ep_rejects,
                    self._p.ideal_cycle_time_s,
                    self._product_id,
                )
            )
        self._ep_start = t
        self._ep_units = self._produced
        self._ep_rejects = self._rejected

    def _enter(self, t: int, state: MachineState, reason: int, until: int = NEVER) -> None:
        self._settle(t)
        if state is not self._state or reason != self._reason:
            self._close_episode(t)
        self._state = state
        self._reason = reason
        self._state_end = until
        self._cache_state()
        if state is MachineState.RUNNING:
            self._start_run(t)
        else:
            self._horizon = min(until, self._cal_until, self._next_regime)

    def _enter_production_or_stop(self, t: int) -> None:
        """Where the machine goes when nothing holds it: the calendar decides, then a
        changeover that fell due, else production."""
        if self._cal_kind is CalendarKind.OFF:
            self._enter(t, MachineState.PLANNED_STOP, REASON_NO_SHIFT)
        elif self._cal_kind is CalendarKind.BREAK:
            self._enter(t, MachineState.PLANNED_STOP, REASON_BREAK)
        elif self._setup_due():
            dur = self._p.setup_duration_s * self._rng_setup.uniform(0.8, 1.2)
            self._units_since_setup = 0
            self._run_ms_since_setup = 0
            self._enter(t, MachineState.SETUP, REASON_CHANGEOVER, t + max(1, _ms(dur)))
            self._next_product()
        else:
            self._enter(t, MachineState.RUNNING, REASON_NONE)

    def _next_product(self) -> None:
        """A changeover begins: the next product of the schedule is set up. Called after the
        run's episode was closed, so that episode keeps the outgoing product."""
        base = self._regimes[self._regime_index][1]
        if len(base.products) < 2:
            return
        self._product_index = (self._product_index + 1) % len(base.products)
        self._p = base.for_product(self._product_index)
        self._cache_state()

    def _start_run(self, t: int) -> None:
        # a new run starts a fresh cycle: the unit in progress at a stop was abandoned
        self._run_start = t
        self._run_base = self._produced
        self._cycle = self._p.cycle_ms
        self._plan_run()

    def _plan_run(self) -> None:
        """Set the run's end (first of the running-time clocks and unit countdowns) and
        the horizon (that end, the next reject, the calendar or the next regime)."""
        p = self._p
        start, cycle = self._run_start, self._cycle
        ends = [
            start + self._fault_clock,
            start + self._stop_clock,
            start + self._units_to_idle * cycle if self._units_to_idle < NEVER else NEVER,
        ]
        if p.setup_every_units is not None:
            left = max(1, p.setup_every_units - self._units_since_setup)
            ends.append(start + left * cycle)
        if p.setup_every_s is not None:
            ends.append(start + max(1, _ms(p.setup_every_s) - self._run_ms_since_setup))
        self._state_end = min(ends)
        reject_at = NEVER
        if self._next_reject_unit < NEVER:
            reject_at = start + (self._next_reject_unit - self._run_base) * cycle
        self._horizon = min(self._state_end, reject_at, self._cal_until, self._next_regime)

    def _finish_run(self, t: int) -> None:
        """Account the run up to ``t`` (units, clocks) before the state changes."""
        units = (t - self._run_start) // self._cycle
        ran = t - self._run_start
        self._produced = self._run_base + units
        if units:
            self._last_cycle_ms = self._cycle
        self._fault_clock -= ran
        self._stop_clock -= ran
        if self._units_to_idle < NEVER:
            self._units_to_idle -= units
        self._units_since_setup += units
        self._run_ms_since_setup += ran

    def _step(self, t: int) -> None:
        """Handle whatever is due at ``t`` (the horizon)."""
        running = self._state is MachineState.RUNNING
        if running:
            produced = self._run_base + (t - self._run_start) // self._cycle
            if produced >= self._next_reject_unit:
                # unit completion times are exact multiples, so this fires on the unit
                self._rejected += 1
                self._next_reject_unit += _geometric(self._rng_reject, self._p.reject_rate)
        if t >= self._next_regime:
            self._switch_regime(t, running)
            return
        if t >= self._cal_until:
            kind, self._cal_until = self._p.calendar.segment(t)
            if kind is not self._cal_kind:
                self._cal_kind = kind
                if running:
                    self._finish_run(t)
                self._enter_production_or_stop(t)
                return
        if running:
            if t >= self._state_end:
                self._end_run(t)
            else:
                self._plan_run()
        elif t >= self._state_end:
            self._enter_production_or_stop(t)
        else:
            self._horizon = min(self._state_end, self._cal_until, self._next_regime)

    def _switch_regime(self, t: int, running: bool) -> None:
        if running:
            self._finish_run(t)
        self._settle(t)
        # split the episode so every episode has one parameter set (before/after windows
        # then sum exactly)
        self._close_episode(t)
        self._regime_index += 1
        self._p = self._regimes[self._regime_index][1].for_product(self._product_index)
        self._next_regime = self._next_regime_ms()
        self._draw_clocks()
        self._cache_state()
        self._cal_kind, self._cal_until = self._p.calendar.segment(t)
        producing = self._cal_kind is CalendarKind.PRODUCTION
        if running and producing:
            self._start_run(t)
        elif self._state is MachineState.PLANNED_STOP or not producing:
            self._enter_production_or_stop(t)
        else:
            self._horizon = min(self._state_end, self._cal_until, self._next_regime)

    def _end_run(self, t: int) -> None:
        """The run reached its end: decide which clock or countdown fired."""
        self._finish_run(t)
        p = self._p
        if self._fault_clock <= 0:
            self._fault_clock = _exp_ms(self._rng_fault, p.mtbf_s)
            codes = [c for c, _ in p.fault_reasons]
            weights = [w for _, w in p.fault_reasons]
            code = self._rng_fault.choices(codes, weights)[0]
            self._enter(t, MachineState.FAULT, code, t + _gamma_ms(self._rng_fault, p.mttr_s))
        elif self._stop_clock <= 0:
            self._stop_clock = _exp_ms(self._rng_stop, p.stop_every_s)
            dur = _gamma_ms(self._rng_stop, p.stop_mean_s)
            self._enter(t, MachineState.STOPPED, REASON_OPERATOR_STOP, t + dur)
        elif self._setup_due():
            self._enter_production_or_stop(t)
        elif self._units_to_idle <= 0:
            self._units_to_idle = _geometric(self._rng_idle, p.idle_probability)
            dur = _gamma_ms(self._rng_idle, p.idle_mean_s)
            self._enter(t, MachineState.IDLE, p.idle_reason, t + dur)
        else:
            # nothing fired (a clock was refreshed): keep running without a new episode
            self._start_run(t)


def history(
    model: MachineModel, start_s: float, end_s: float, sample_every_s: float
) -> Iterator[tuple[float, MachineSnapshot]]:
    """Function form of :meth:`MachineModel.history`."""
    return model.history(start_s, end_s, sample_every_s)
