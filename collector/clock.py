"""The time samples are stamped with: wall time that never steps back.

The system clock of an edge box can step: NTP corrects a box that booted without a
battery-backed clock, an operator sets the time by hand. A sample stamped by a clock
stepped back lands among older samples (a counter seems to drop, a state is inserted
into the past). ``SampleClock`` therefore runs on the monotonic clock, anchored to wall
time: ``now = anchor_wall + (monotonic - anchor_mono)``. Every ``check_interval`` it
compares that with the wall clock; when the wall clock is ahead by more than
``step_threshold`` (it was stepped forward, e.g. first NTP sync after boot) it re-anchors,
so stamps jump forward with it. A step back is never followed: stamps go on from the
monotonic clock, ahead of the wall clock by the step, until the collector restarts
(docs/configuration.md, "clock").

The kernel also says whether its clock is synchronised (``adjtimex``, readable without
root on Linux). With ``require_sync``, ``synced()`` is false until it first is, and the
pollers hold: nothing is read or stamped until then (no data is unknown time to the
assessor, which is honest; a wrong time stamp is not).

All sources are injectable (pure state, no threads), so the rules are tested with fake
clocks. ``CLOCK`` is the process's clock; ``now_ns`` its bound method, for any source
that stamps samples.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: a wall clock further than this from the anchored time has been stepped
STEP_THRESHOLD_NS = 2_000_000_000
#: how often the wall clock is compared (a time_ns() call per stamp would be cheap too,
#: but a slewing NTP daemon moves the wall clock by up to 0.5 ms/s: checks that rarely
#: see a difference keep the stamps exactly monotonic between steps)
CHECK_INTERVAL_NS = 1_000_000_000

#: adjtimex's answer when the kernel clock is not synchronised; STA_UNSYNC in its status
_TIME_ERROR = 5
_STA_UNSYNC = 0x0040


class _Timex(ctypes.Structure):
    # the head of struct timex (linux/timex.h) up to ``status``; the rest is padding
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 256),
    ]


def kernel_clock_synced() -> bool | None:
    """Whether the kernel reports its clock synchronised (NTP/chrony/timesyncd keep it
    so); None where that cannot be read (not Linux, no libc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        tx = _Timex()  # modes 0: read only, allowed without privileges
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR and not tx.status & _STA_UNSYNC


class SampleClock:
    def __init__(
        self,
        *,
        wall_ns: Callable[[], int] = time.time_ns,
        mono_ns: Callable[[], int] = time.monotonic_ns,
        sync_status: Callable[[], bool | None] = kernel_clock_synced,
        step_threshold_ns: int = STEP_THRESHOLD_NS,
        check_interval_ns: int = CHECK_INTERVAL_NS,
        require_sync: bool = False,
    ) -> None:
        self._wall, self._mono, self._sync_status = wall_ns, mono_ns, sync_status
        self.step_threshold_ns = step_threshold_ns
        self.check_interval_ns = check_interval_ns
        self.require_sync = require_sync
        self._anchor_mono = mono_ns()
        self._anchor_wall = wall_ns()
        self._checked = self._anchor_mono
        self._last = self._anchor_wall
        #: wall clock steps seen: forward (followed) and back (not followed)
        self.steps_forward = 0
        self.steps_back = 0
        #: how far the stamps run ahead of the wall clock after steps back
        self.ahead_ns = 0
        self._synced: bool | None = None
        self._sync_checked: int | None = None
        self._lock = threading.Lock()

    def configure(self, *, require_sync: bool, step_threshold_s: float) -> None:
        self.require_sync = require_sync
        self.step_threshold_ns = round(step_threshold_s * 1e9)

    def now_ns(self) -> int:
        """The time to stamp a sample with, in ns since the epoch; never less than a
        stamp given before. Safe to call from the MQTT client's network thread too."""
        with self._lock:
            mono = self._mono()
            if mono - self._checked >= self.check_interval_ns:
                self._check(mono)
            t = self._anchor_wall + (mono - self._anchor_mono)
            # the anchor moves only forward, the monotonic clock never back: t never drops
            self._last = max(self._last, t)
            return self._last

    def _check(self, mono: int) -> None:
        self._checked = mono
        wall = self._wall()
        ours = self._anchor_wall + (mono - self._anchor_mono)
        diff = wall - ours
        if diff > self.step_threshold_ns:
            self.steps_forward += 1
            log.warning("system clock stepped forward by %.3f s: sample times follow", diff / 1e9)
            self._anchor_wall, self._anchor_mono = wall, mono
            self.ahead_ns = 0
        elif diff < -self.step_threshold_ns:
            if -diff > self.ahead_ns + self.step_threshold_ns:
                self.steps_back += 1
                log.warning(
                    "system clock stepped back by %.3f s: sample times go on from the monotonic "
                    "clock, ahead of the system clock until the collector restarts",
                    (-diff - self.ahead_ns) / 1e9,
                )
            self.ahead_ns = -diff
        else:
            self.ahead_ns = 0

    def synced(self) -> bool:
        """Whether samples may be taken now: always without ``require_sync``; with it,
        once the kernel has reported its clock synchronised (or cannot say) since start.
        Read at most once per ``check_interval``. It latches: a kernel loses its
        synchronised mark after hours without an NTP server (its error bound grows to
        16 s), while the clock is still good to milliseconds, and a collector must not
        stop for an internet outage."""
        if not self.require_sync or self._synced:
            return True
        mono = self._mono()
        if self._sync_checked is None or mono - self._sync_checked >= self.check_interval_ns:
            first = self._sync_checked is None
            self._sync_checked = mono
            self._synced = self._sync_status() is not False
            if self._synced and not first:
                log.warning("system clock synchronised: sampling starts")
                self._check(mono)  # the sync most likely stepped the clock: follow it now
            elif not self._synced and first:
                log.warning("system clock not synchronised: sampling held until it is (clock.require_sync)")
        return bool(self._synced)


#: the collector's clock (``collector.runtime`` sets ``require_sync`` from the config)
CLOCK = SampleClock()
now_ns = CLOCK.now_ns
