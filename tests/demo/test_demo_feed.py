"""The other factories' edge boxes in the demo: they continue the history's model up to
the present, fill time outside shifts with heartbeats, and never write a point twice."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise

import pytest

from assessor.data.daily_rows import window_bounds
from demo.feed import (
    REASON_BREAK,
    REASON_NO_SHIFT,
    EdgeBoxFeed,
    fed_plans,
    machine_stream,
    with_heartbeats,
)
from demo.history import _REASONS, FactoryPlan
from demo.portfolio import LIVE_FACTORY, build_plans

ANCHOR = dt.date(2025, 11, 27)


@pytest.fixture(scope="module")
def plans() -> list[FactoryPlan]:
    return build_plans(ANCHOR, 8, 6)


def test_live_and_silent_factories_are_not_fed(plans: list[FactoryPlan]) -> None:
    fed = fed_plans(plans, LIVE_FACTORY)
    ids = {p.factory.id for p in fed}
    assert LIVE_FACTORY not in ids
    assert all(p.silent_from is None for p in fed)
    assert any(p.silent_from is not None for p in plans), "the demo has a silent edge box"
    assert len(fed) == len(plans) - 2


def test_heartbeats_fill_gaps_with_the_right_reason(plans: list[FactoryPlan]) -> None:
    m = plans[1].machines[0]
    samples = [(0, {"state": "running"}), (600, {"state": "running"}), (600 + 3 * 3600, {"state": "idle"})]
    out = list(with_heartbeats(samples, 60, m))
    times = [t for t, _ in out]
    assert times == sorted(set(times))
    assert all(b - a <= 60 for a, b in pairwise(times))
    short = [f for t, f in out if 0 < t < 600]
    long = [f for t, f in out if 600 < t < 600 + 3 * 3600]
    assert {f["state"] for f in short + long} == {"stopped"}
    if m.signals.reasons:
        assert {f["downtime_reason"] for f in short} == {_REASONS[REASON_BREAK]}
        assert {f["downtime_reason"] for f in long} == {_REASONS[REASON_NO_SHIFT]}


def test_stream_continues_the_history_without_gaps(plans: list[FactoryPlan]) -> None:
    plan = fed_plans(plans, LIVE_FACTORY)[0]
    start, end = window_bounds(plan.factory, plan.after_window)
    stream = machine_stream(plan, plan.machines[0])
    times = []
    for t, _ in stream:
        if t > end + 3 * 86400:
            break
        times.append(t)
    assert times[0] >= start
    # a state every minute at most, day and night, past the end of the history too
    assert all(0 < b - a <= 60 for a, b in pairwise(times))


def test_feed_writes_each_point_once_and_only_when_due(plans: list[FactoryPlan]) -> None:
    fed = fed_plans(plans, LIVE_FACTORY)[:2]
    _, history_end = window_bounds(fed[0].factory, fed[0].after_window)
    posts: list[tuple[str, bytes]] = []
    stored = {p.factory.id: history_end - 3600 for p in fed}
    feed = EdgeBoxFeed(fed, lambda fid, body: posts.append((fid, body)), stored)
    now = history_end + 6 * 3600
    n1 = feed.feed(now)
    n2 = feed.feed(now)  # nothing new is due
    n3 = feed.feed(now + 600)
    lines = [line for _, b in posts for line in b.decode().splitlines()]
    assert n1 > 0 and n2 == 0 and n3 > 0 and len(lines) == n1 + n3
    keys = [(line.split(" ")[0], int(line.rsplit(" ", 1)[1])) for line in lines]
    assert len(keys) == len(set(keys)), "a point was written twice"
    stamps = [t for _, t in keys]
    assert min(stamps) > history_end - 3600 and max(stamps) <= now + 600


def test_feed_posts_each_factory_s_points_as_that_factory(plans: list[FactoryPlan]) -> None:
    """Each batch goes out under the factory whose points it holds (its own database and
    login in the demo), never mixed with another factory's."""
    fed = fed_plans(plans, LIVE_FACTORY)[:3]
    _, history_end = window_bounds(fed[0].factory, fed[0].after_window)
    posts: list[tuple[str, bytes]] = []
    feed = EdgeBoxFeed(fed, lambda fid, body: posts.append((fid, body)), {})
    feed.feed(history_end + 600)
    assert {fid for fid, _ in posts} == {p.factory.id for p in fed}
    for fid, body in posts:
        tags = {line.split(" ")[0].split(",")[1] for line in body.decode().splitlines()}
        assert tags == {f"factory={fid}"}, (fid, tags)
