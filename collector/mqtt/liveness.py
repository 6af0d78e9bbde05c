"""Liveness of MQTT machines: what the session and the messages vouch for (docs/mqtt.md).

``MqttLiveness`` wraps ``collector.liveness.LivenessRecorder`` with the MQTT rules. Like
the recorder it is plain state without a clock or I/O: ``MqttSource`` feeds it messages,
deaths, connection events and flush ticks in the order they happened, spools what
``flush()`` returns, and persists ``state_doc()`` (``write_state``/``read_state``) so a
restarted collector can continue its records over the time it was away.

Who vouches for what:

- A stored message shows its machine alive at its sample time.
- While the session is up, each tick extends every alive machine to "now": a Sparkplug B
  or status source would have sent its death, and the broker its last will. Sources with
  ``max_silence`` must also have sent something recently; after that long without a
  message the machine is declared ``silent`` and its record cut back to its last message.
- While disconnected nothing is extended. A reconnect with the session lost ends every
  record where it was (``session_lost``). A reconnect to a kept session first reads the
  broker's queue to its end (the source publishes a marker to its own sync topic and waits
  for it): deaths queued meanwhile end their records; the rest were alive over the gap.
- A record started by a message whose time stamp lies before the session's current
  stretch (old or queued data, a publisher clock far behind) is grown by messages only:
  the session cannot vouch for time before it was there.
"""

from __future__ import annotations

import enum
import json
import logging
import os
from pathlib import Path
from typing import Any

from collector.liveness import LivenessRecorder, MachineKey
from datacontract import DownReason

log = logging.getLogger(__name__)

STATE_VERSION = 1
_MISSING: Any = object()


class Session(enum.Enum):
    #: no connection: nothing is vouched for
    DISCONNECTED = "disconnected"
    #: connected to a kept session, the broker's queue not yet read to its end
    SYNCING = "syncing"
    #: connected and caught up: ticks extend the alive machines
    CONNECTED = "connected"


def _key_text(key: MachineKey) -> str:
    return f"{key[0]}\x00{key[1]}"


def _text_key(text: str) -> MachineKey | None:
    if text.count("\x00") != 1:
        return None
    line, machine = text.split("\x00")
    return line, machine


def _int_or_none(value: object) -> int | None:
    return value if type(value) is int else None


class MqttLiveness:
    """The alive records of one MQTT source's machines. All times are ns since 1970."""

    def __init__(self, factory: str, *, client_id: str, **recorder_options: int) -> None:
        self.recorder = LivenessRecorder(factory, **recorder_options)
        self.client_id = client_id
        self.session = Session.DISCONNECTED
        #: since when the session has been up without a gap it could not bridge;
        #: ticks extend only records whose last sign of life lies in this stretch
        self.vouched_since: int | None = None
        self._last_ts: dict[MachineKey, int] = {}
        self._last_arrival: dict[MachineKey, int] = {}
        #: max_silence per machine in ns (None: no limit)
        self._limit: dict[MachineKey, int | None] = {}
        #: Sparkplug (group, edge node) of a machine: an NDEATH ends its devices too
        self._node: dict[MachineKey, tuple[str, str]] = {}
        #: machines heard through a QoS 0 subscription: a broker queues nothing of theirs
        #: while the collector is away (their wills neither), so no gap of theirs is bridged
        self._unqueued: set[MachineKey] = set()
        #: records of the previous run, until the first connect says whether to resume
        self._restored: dict[MachineKey, tuple[int, int]] = {}
        #: a machine was declared dead since the last flush: spool before acknowledging
        self.urgent = False

    # -- what the messages say ---------------------------------------------------------

    def message(
        self,
        key: MachineKey,
        ts_ns: int,
        arrival_ns: int,
        limit_ns: int | None,
        node: tuple[str, str] | None = None,
        *,
        queued: bool = True,
    ) -> None:
        """A stored message shows ``key`` alive at ``ts_ns`` (its sample time). ``queued``:
        it came through a QoS 1/2 subscription, which the broker keeps while we are away."""
        limit = self._limit.get(key, _MISSING)
        if limit is _MISSING:
            limit = self._limit[key] = limit_ns
        elif limit is not None and (limit_ns is None or limit_ns > limit):
            # fed by several subscriptions: silent only when silent for all of them
            limit = self._limit[key] = limit_ns
        last = self._last_ts.get(key)
        if last is not None and ts_ns > last:
            if limit is not None and ts_ns - last > limit and self.recorder.is_alive(key):
                # a gap seen in the messages themselves (a queue read after a reconnect)
                self._down(key, last + limit, DownReason.SILENT, alive_until_ns=last)
            self._last_ts[key] = ts_ns
        elif last is None:
            self._last_ts[key] = ts_ns
        self._last_arrival[key] = arrival_ns
        if node is not None:
            self._node[key] = node
        if not queued:
            self._unqueued.add(key)
        self.recorder.alive(key, ts_ns)

    def death(self, key: MachineKey, at_ns: int, *, alive_until_ns: int | None = None) -> None:
        """``key`` declared itself dead (Sparkplug death, last will, status offline)."""
        self._down(key, at_ns, DownReason.DEATH, alive_until_ns=alive_until_ns)

    def node_machines(self, node: tuple[str, str]) -> list[MachineKey]:
        """Alive machines that belong to a Sparkplug edge node."""
        return [k for k, n in self._node.items() if n == node and self.recorder.is_alive(k)]

    # -- what the connection says ------------------------------------------------------

    def connected(self, session_present: bool, now_ns: int) -> bool:
        """The broker accepted the connection. True: a kept session with records to carry
        over the gap; publish a marker and call ``marker`` when it comes back."""
        restored, self._restored = self._restored, {}
        if session_present:
            for key in [k for k in self.recorder.open_keys() if k in self._unqueued]:
                self._down(key, now_ns, DownReason.SESSION_LOST)
            restored = {k: r for k, r in restored.items() if k not in self._unqueued}
        if session_present and (restored or self.recorder.open_keys()):
            for key, (start, until) in restored.items():
                if not self.recorder.is_alive(key):
                    self.recorder.resume(key, start, until)
            self.session = Session.SYNCING
            return True
        if not session_present:
            # the broker forgot what it queued for us: nothing vouches for the gap
            for key in self.recorder.open_keys():
                self._down(key, now_ns, DownReason.SESSION_LOST)
            for key in restored:
                self._down(key, now_ns, DownReason.SESSION_LOST)
            if restored:
                log.info(
                    "mqtt liveness: session lost; %d record(s) of the last run not resumed", len(restored)
                )
        self.session = Session.CONNECTED
        self.vouched_since = now_ns
        return False

    def disconnected(self) -> None:
        self.session = Session.DISCONNECTED

    def marker(self, now_ns: int) -> bool:
        """Our marker came back: everything queued before it has been handled. The machines
        still alive are extended over the gap to now. False when no marker was awaited."""
        if self.session is not Session.SYNCING:
            return False
        self.session = Session.CONNECTED
        if self.vouched_since is None:
            self.vouched_since = now_ns
        self.vouch(now_ns)
        return True

    def tick(self, now_ns: int) -> None:
        """A flush tick: extend what the session vouches for, if it is up and caught up."""
        if self.session is Session.CONNECTED:
            self.vouch(now_ns)

    def vouch(self, now_ns: int) -> None:
        """Extend every alive machine to ``now_ns``, or declare it silent."""
        since = self.vouched_since if self.vouched_since is not None else now_ns
        for key in self.recorder.open_keys():
            until = self.recorder.last_alive_ns(key)
            if until is None or until < since:
                continue  # started by old time stamps: grown by messages only
            limit = self._limit.get(key)
            arrival = self._last_arrival.get(key)
            if limit is not None and arrival is not None and now_ns - arrival > limit:
                self._down(key, now_ns, DownReason.SILENT, alive_until_ns=self._last_ts.get(key))
            else:
                self.recorder.alive(key, now_ns)

    def stopped(self, now_ns: int) -> None:
        """A clean stop: a down mark per alive machine (after ``state_doc`` was saved, so
        a restart with the session continues the records over the mark)."""
        self.recorder.down_all(now_ns, DownReason.COLLECTOR_STOPPED)

    # -- output ------------------------------------------------------------------------

    def flush(self) -> list[bytes]:
        self.urgent = False
        return self.recorder.flush()

    def state_doc(self) -> dict[str, Any]:
        """What a restart needs, as JSON-ready data: the written records and, for their
        machines, the last message times, the silence limit and the Sparkplug node."""
        records = self.recorder.snapshot()
        machines: dict[str, dict[str, Any]] = {}
        for text in records:
            key = _text_key(text)
            assert key is not None
            node = self._node.get(key)
            machines[text] = {
                "last_ts": self._last_ts.get(key),
                "last_arrival": self._last_arrival.get(key),
                "max_silence_ns": self._limit.get(key),
                "node": list(node) if node is not None else None,
                "queued": key not in self._unqueued,
            }
        return {
            "version": STATE_VERSION,
            "client_id": self.client_id,
            "vouched_since": self.vouched_since,
            "records": records,
            "machines": machines,
        }

    def restore(self, doc: object) -> int:
        """Take the records of a previous run (``state_doc``); they are resumed or ended at
        the first connect. Returns how many; 0 for anything unusable (logged)."""
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
            log.warning("mqtt liveness: state file of an unknown format; nothing to resume")
            return 0
        if doc.get("client_id") != self.client_id:
            log.warning("mqtt liveness: state file of another client id; nothing to resume")
            return 0
        since = _int_or_none(doc.get("vouched_since"))
        records = LivenessRecorder.parse_snapshot(doc.get("records"))
        machines = doc.get("machines")
        if since is None or not isinstance(machines, dict):
            log.warning("mqtt liveness: state file incomplete; nothing to resume")
            return 0
        for key in records:
            entry = machines.get(_key_text(key))
            if not isinstance(entry, dict):
                continue
            if (last_ts := _int_or_none(entry.get("last_ts"))) is not None:
                self._last_ts[key] = last_ts
            if (last_arrival := _int_or_none(entry.get("last_arrival"))) is not None:
                self._last_arrival[key] = last_arrival
            self._limit[key] = _int_or_none(entry.get("max_silence_ns"))
            node = entry.get("node")
            if isinstance(node, list) and len(node) == 2 and all(isinstance(x, str) for x in node):
                self._node[key] = (node[0], node[1])
            if entry.get("queued") is False:
                self._unqueued.add(key)
        self._restored = records
        self.vouched_since = since
        return len(records)

    @property
    def restored(self) -> dict[MachineKey, tuple[int, int]]:
        return dict(self._restored)

    def _down(
        self, key: MachineKey, at_ns: int, reason: DownReason, *, alive_until_ns: int | None = None
    ) -> None:
        self.recorder.down(key, at_ns, reason, alive_until_ns=alive_until_ns)
        self.urgent = True


# -- the state file -----------------------------------------------------------------------


def write_state(path: Path, doc: dict[str, Any]) -> None:
    """Replace ``path`` atomically: a crash leaves the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_state(path: Path) -> object | None:
    """The document in ``path``; None (logged) when it is missing or unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        log.info("mqtt liveness: no state file %s; nothing to resume", path)
        return None
    except OSError as exc:
        log.warning("mqtt liveness: cannot read %s (%s); nothing to resume", path, exc)
        return None
    try:
        return json.loads(text)
    except ValueError:
        log.warning("mqtt liveness: %s is not valid JSON; nothing to resume", path)
        return None
