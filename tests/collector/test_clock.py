"""Sample time stamps from a monotonic clock anchored to wall time (collector/clock.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.clock import SampleClock, kernel_clock_synced

S = 1_000_000_000
EPOCH = 1_700_000_000 * S


class FakeTime:
    """A wall clock that can be stepped and a monotonic clock that only advances."""

    def __init__(self) -> None:
        self.mono = 5 * S
        self.wall = EPOCH
        self.synced: bool | None = True

    def advance(self, ns: int) -> None:
        self.mono += ns
        self.wall += ns

    def clock(self, **kw) -> SampleClock:
        return SampleClock(
            wall_ns=lambda: self.wall, mono_ns=lambda: self.mono, sync_status=lambda: self.synced, **kw
        )


def test_stamps_follow_the_wall_clock_while_it_runs_steadily() -> None:
    ft = FakeTime()
    c = ft.clock()
    assert c.now_ns() == EPOCH
    ft.advance(10 * S)
    assert c.now_ns() == EPOCH + 10 * S
    # a slewing wall clock (NTP's small corrections) moves no stamp
    ft.wall += S // 2
    ft.advance(3 * S)
    assert c.now_ns() == EPOCH + 13 * S
    assert (c.steps_forward, c.steps_back) == (0, 0)


def test_a_wall_clock_stepped_back_never_moves_stamps_back() -> None:
    """The edge box's clock is set back an hour: the readings after it are stamped on,
    not in the past among the readings already taken."""
    ft = FakeTime()
    c = ft.clock()
    ft.advance(10 * S)
    before = c.now_ns()
    ft.wall -= 3600 * S
    ft.advance(2 * S)
    after = c.now_ns()
    assert after == before + 2 * S
    assert c.steps_back == 1 and c.ahead_ns == 3600 * S
    ft.advance(2 * S)
    assert c.now_ns() == after + 2 * S and c.steps_back == 1  # the same step, counted once


def test_a_wall_clock_stepped_forward_is_followed() -> None:
    """Booted with a stale time, then NTP sets the right one: stamps jump with it."""
    ft = FakeTime()
    c = ft.clock()
    ft.advance(S)
    stale = c.now_ns()
    ft.wall += 86_400 * S
    ft.advance(2 * S)
    assert c.now_ns() == ft.wall > stale
    assert c.steps_forward == 1


def test_the_wall_clock_is_read_at_most_once_per_check_interval() -> None:
    ft = FakeTime()
    c = ft.clock(check_interval_ns=10 * S)
    ft.wall += 3600 * S
    ft.advance(5 * S)
    assert c.now_ns() == EPOCH + 5 * S  # not checked yet
    ft.advance(5 * S)
    assert c.now_ns() == ft.wall


def test_sampling_is_held_until_the_clock_is_first_synchronised_when_required() -> None:
    ft = FakeTime()
    ft.synced = False
    assert ft.clock().synced()  # not required: always sample
    c = ft.clock(require_sync=True)
    assert not c.synced()
    ft.advance(S // 2)
    ft.synced = True
    assert not c.synced()  # read again only after the check interval
    # the sync steps the clock forward: the first stamp after it already follows
    ft.wall += 7200 * S
    ft.advance(S)
    assert c.synced() and c.now_ns() == ft.wall
    # hours later without an NTP server the kernel drops its mark: sampling goes on
    ft.synced = False
    ft.advance(10 * S)
    assert c.synced()
    # a kernel that cannot say does not hold sampling
    ft.synced = None
    assert ft.clock(require_sync=True).synced()


def test_the_kernel_sync_status_is_read_without_privileges() -> None:
    assert kernel_clock_synced() in (True, False, None)


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.integers(0, 5 * S), st.integers(-86_400 * S, 86_400 * S), st.booleans()), max_size=60
    )
)
def test_stamps_never_go_back_and_never_fall_behind_the_wall_clock_by_a_step(events) -> None:
    """Whatever the wall clock does, stamps never decrease, advance exactly with the
    monotonic clock between checks, and after a check are never behind the wall clock
    by more than the threshold."""
    ft = FakeTime()
    c = ft.clock()
    last = c.now_ns()
    for elapse, step, check in events:
        ft.wall += step if check else 0
        ft.advance(elapse)
        checked = c._checked
        t = c.now_ns()
        assert t >= last
        if c._checked != checked:  # the wall clock was compared on this call
            assert t >= ft.wall - c.step_threshold_ns
        last = t
