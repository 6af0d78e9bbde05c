"""Products: units and time per product, ideal time per product, changeovers
(assessor/domain/kpi/products.py, assessor/data/signals.py, docs/kpi-method.md "Products")."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import example, given, settings
from hypothesis import strategies as st

from assessor.data.signals import MachineSignals, ProductDays, machine_days
from assessor.domain.kpi.formulas import kpis
from assessor.domain.kpi.model import KpiPolicy
from assessor.domain.kpi.products import apportion, product_ideal_s
from assessor.domain.kpi.timeline import StateSample
from assessor.domain.models import Factory, Line, Machine, Product, ShiftCalendar
from assessor.services.kpis import product_report

MACHINE = Machine("m-1", "l-1", 30.0)
DAY = [(dt.date(2024, 3, 4), 0.0, 7200.0)]
PLANNED = [[(0.0, 7200.0)]]
PRODUCTS = (
    Product("A", 20.0),
    Product("B", 45.0, machine_times={"m-1": 40.0}),
)


def factory(products: tuple[Product, ...] = PRODUCTS) -> Factory:
    return Factory(
        id="f",
        name="f",
        calendar=ShiftCalendar(timezone="UTC"),
        lines=(Line("l-1", (MACHINE,)),),
        products=products,
    )


def ideal_of(f: Factory):
    return lambda p: f.ideal_cycle_time(MACHINE, p or None)


units = st.lists(st.tuples(st.sampled_from(["A", "B", "X", ""]), st.integers(0, 10_000)), max_size=8)


@given(units, st.data())
def test_ideal_time_is_invariant_to_splitting_a_products_units_over_rows(rows, data) -> None:
    ideal = ideal_of(factory())
    if not rows:
        return
    k = data.draw(st.integers(0, len(rows) - 1))
    product, n = rows[k]
    cut = data.draw(st.integers(0, n))
    split = [*rows[:k], (product, cut), (product, n - cut), *rows[k + 1 :]]
    assert product_ideal_s(split, ideal) == product_ideal_s(rows, ideal)


@given(st.sampled_from(["A", "B", "X", ""]), st.integers(0, 10**6))
def test_one_product_is_its_ideal_time_times_units(product, n) -> None:
    f = factory()
    ict = f.ideal_cycle_time(MACHINE, product or None)[0]
    assert product_ideal_s([(product, n)], ideal_of(f)) == ict * n


def test_unknown_code_falls_back_to_the_machines_ideal_cycle_time() -> None:
    f = factory()
    assert f.ideal_cycle_time(MACHINE, "ZZ-9") == (30.0, False)
    assert f.ideal_cycle_time(MACHINE, "B") == (40.0, True)
    assert product_ideal_s([("ZZ-9", 10), ("A", 10)], ideal_of(f)) == 30.0 * 10 + 20.0 * 10


@given(st.integers(0, 10_000), st.lists(st.floats(0, 1e4), min_size=1, max_size=6))
def test_apportioned_units_add_up_to_the_machines(target, shares) -> None:
    out = apportion(target, shares)
    assert sum(out) == target and all(n >= 0 for n in out)


# -- whole machine: states, counter and product samples ---------------------------------

states = st.lists(
    st.tuples(st.integers(0, 7190), st.sampled_from(["running", "running", "idle", "setup", "fault"])),
    min_size=1,
    max_size=30,
)
steps = st.lists(st.tuples(st.integers(1, 7199), st.integers(0, 20)), max_size=40)


def signals(state_samples, counter_steps, good: bool = False) -> MachineSignals:
    sig = MachineSignals()
    for t, s in sorted(state_samples):
        sig.add_state(float(t), s)
    total = 0
    sig.counters["count_total"].append((0.0, 0))
    for t, n in sorted(counter_steps):
        total += n
        sig.counters["count_total"].append((float(t), total))
    if good:
        sig.counters["count_reject"] = [(t, v // 10) for t, v in sig.counters["count_total"]]
    sig.alive = [(0.0, 7200.0)]
    return sig


@settings(max_examples=60, deadline=None)
@given(states, steps, st.integers(0, 7199), st.sampled_from(["", "same", "unknown"]), st.booleans())
# more rejects than units credited (counters read at one instant): good and rejects per
# product must still add up to the machine's
@example([(1, "running")], [(1, 1), (1, 1), (1, 8), (4, 1)], 2, "same", True)
@example([(1, "running")], [(1, 1), (1, 1), (1, 8)], 0, "same", True)
def test_with_one_product_or_none_the_totals_are_todays(state_samples, counter_steps, at, kind, good) -> None:
    """One product whose ideal time is the machine's (or a code the registry does not
    know, or no product at all): the totals are exactly the ones without products."""
    plain = machine_days(signals(state_samples, counter_steps, good), MACHINE, DAY, PLANNED, 600.0)
    f = factory((Product("same", MACHINE.ideal_cycle_time_s),))
    sig = signals(state_samples, counter_steps, good)
    if kind:
        sig.product_t, sig.product_v = [float(at)], [kind]
    with_product = machine_days(sig, MACHINE, DAY, PLANNED, 600.0, ideal=ideal_of(f))
    assert with_product.totals == plain.totals
    day = with_product.products[0]
    for field in ("total_count", "good_count", "reject_count", "failures", "small_stops"):
        assert sum(getattr(t, field) for t in day.values()) == getattr(plain.totals[0], field)


@settings(max_examples=40, deadline=None)
@given(states, steps, st.integers(0, 7199))
def test_with_one_known_product_performance_is_todays_formula_with_its_ideal_time(
    state_samples, counter_steps, at
) -> None:
    sig = signals(state_samples, counter_steps)
    sig.before_product = StateSample(-5.0, "B")
    sig.alive = [(-10.0, 7210.0)]
    sig.product_t, sig.product_v = [float(at)], ["B"]
    (t,) = machine_days(sig, MACHINE, DAY, PLANNED, 600.0, ideal=ideal_of(factory())).totals
    assert t.ideal_run_s == 40.0 * t.total_count
    assert kpis(t).performance == kpis(dataclasses.replace(t, ideal_run_s=40.0 * t.total_count)).performance


def two_products() -> MachineSignals:
    """A runs 0-1800 (one unit per 30 s), setup 1800-2400 with the product changed to B
    at 2100, B runs 2400-7200 (one unit per 60 s)."""
    sig = MachineSignals()
    for t, s in [(0, "running"), (1800, "setup"), (2400, "running")]:
        sig.add_state(float(t), s)
    sig.counters["count_total"] = [(float(t), t // 30) for t in range(0, 1801, 60)] + [
        (float(t), 60 + (t - 2400) // 60) for t in range(2460, 7200, 60)
    ]
    # two rejects, both of B
    sig.counters["count_reject"] = [(t, 0 if t < 3000 else 2) for t, _ in sig.counters["count_total"]]
    sig.product_t, sig.product_v = [0.0, 2100.0], ["A", "B"]
    sig.alive = [(0.0, 7200.0)]
    return sig


def test_setup_before_the_first_unit_belongs_to_the_incoming_product() -> None:
    md = machine_days(two_products(), MACHINE, DAY, PLANNED, 600.0, ideal=ideal_of(factory()))
    a, b = md.products[0]["A"], md.products[0]["B"]
    assert a.setup_s == 0 and b.setup_s == 600.0
    assert a.run_s == 1800.0 and b.run_s == 4800.0
    assert (a.total_count, b.total_count) == (60, 79)
    assert (a.good_count, b.good_count) == (60, 77)
    (c,) = md.changeovers
    assert (c.from_product, c.to_product, c.at, c.setup_s) == ("A", "B", 2100.0, 600.0)
    (t,) = md.totals
    assert t.ideal_run_s == 20.0 * 60 + 40.0 * 79
    assert t.standard_s == 20.0 * 60 + 40.0 * 77


def test_unknown_code_and_units_before_any_product_are_timed_by_the_machine_and_reported() -> None:
    """Units 0-600 before any product sample, then a code the registry does not know."""
    sig = MachineSignals()
    sig.add_state(0.0, "running")
    sig.counters["count_total"] = [(float(t), t // 30) for t in range(0, 7200, 60)]
    sig.product_t, sig.product_v = [600.0], ["ZZ-9"]
    sig.alive = [(0.0, 7200.0)]
    f = factory()
    md = machine_days(sig, MACHINE, DAY, PLANNED, 600.0, ideal=ideal_of(f))
    assert md.totals[0].ideal_run_s == 30.0 * md.totals[0].total_count
    found = ProductDays(
        {("l-1", "m-1", DAY[0][0], p): t for p, t in md.products[0].items()},
        [("l-1", "m-1", c) for c in md.changeovers],
    )
    report = product_report(f, found, "machine,product", "total", KpiPolicy())
    by_product = {r["product"]: r for r in report["rows"]}
    assert set(by_product) == {None, "ZZ-9"}
    assert by_product[None]["total_count"] == 20 and by_product["ZZ-9"]["total_count"] == 218
    assert not by_product[None]["product_known"] and not by_product["ZZ-9"]["product_known"]
    assert by_product["ZZ-9"]["ideal_time_s"] == 30.0 * 218
    assert report["unknown_products"] == [
        {"line": "l-1", "machine": "m-1", "product": None, "units": 20},
        {"line": "l-1", "machine": "m-1", "product": "ZZ-9", "units": 218},
    ]
    # no known product before ZZ-9: not a changeover
    assert report["changeovers"] == []


def test_report_groups_products_over_machines_and_counts_changeovers() -> None:
    md = machine_days(two_products(), MACHINE, DAY, PLANNED, 600.0, ideal=ideal_of(factory()))
    found = ProductDays(
        {("l-1", "m-1", DAY[0][0], p): t for p, t in md.products[0].items()},
        [("l-1", "m-1", c) for c in md.changeovers],
    )
    report = product_report(factory(), found, "product", "total", KpiPolicy())
    rows = {r["product"]: r for r in report["rows"]}
    assert rows["A"]["product_known"] and rows["A"]["ideal_time_s"] == 20.0 * 60
    assert rows["A"]["performance"] == (20.0 * 60) / 1800.0
    assert rows["B"]["performance"] == (40.0 * 79) / 4800.0
    assert report["unknown_products"] == []
    assert report["changeovers"] == [
        {
            "line": "l-1",
            "machine": "m-1",
            "from_product": "A",
            "to_product": "B",
            "count": 1,
            "setup_s": 600.0,
        }
    ]
