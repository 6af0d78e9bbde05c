"""Liveness records: when each machine's data path was alive (docs/data-model.md).

A source tells the recorder what it saw: ``alive(key, t)`` for every sign of life (a
Modbus poll answered, an MQTT message, the MQTT session still up), ``down(key, ...)``
when the path died. ``flush()`` returns the ``machine_liveness`` lines to spool: for
every record that grew since the last flush, the same point (its start time) again with
the longer ``alive_s``. Rewriting one point instead of adding a heartbeat per period
keeps the data the assessor reads to about one row per machine and hour, and a replay
of the spool rewrites the same points (idempotent, like every other sample).

The recorder is plain state, no I/O and no clock of its own: the caller passes times,
which keeps it testable and lets MQTT use payload time stamps and Modbus request times.
"""

from __future__ import annotations

from dataclasses import dataclass

from datacontract import (
    FIELD_ALIVE_S,
    FIELD_DOWN_REASON,
    LIVENESS_MAX_RECORD_S,
    MEASUREMENT_LIVENESS,
    TAG_FACTORY,
    TAG_LINE,
    TAG_MACHINE,
    DownReason,
)
from datacontract.lineprotocol import encode_point, series_prefix

MachineKey = tuple[str, str]  # (line, machine)
_MAX_NS = int(LIVENESS_MAX_RECORD_S * 1e9)


@dataclass
class _Record:
    start_ns: int
    until_ns: int
    #: ``until_ns`` as last returned by flush (-1: never written)
    written_ns: int = -1


class LivenessRecorder:
    """Alive records of the machines of one factory, fed in time order per machine."""

    def __init__(self, factory: str, *, max_record_ns: int = _MAX_NS) -> None:
        if max_record_ns <= 0:
            raise ValueError("max_record_ns must be positive")
        self.factory = factory
        self._max = max_record_ns
        self._open: dict[MachineKey, _Record] = {}
        self._prefixes: dict[MachineKey, bytes] = {}
        #: lines of records that were closed (rolled over, ended) since the last flush
        self._pending: list[bytes] = []

    # -- what sources report -------------------------------------------------------

    def alive(self, key: MachineKey, t_ns: int) -> None:
        """The path to ``key`` was alive at ``t_ns`` and, if a record is open, since it."""
        rec = self._open.get(key)
        if rec is None:
            self._open[key] = _Record(t_ns, t_ns)
            return
        if t_ns <= rec.until_ns:
            return
        # a record never spans more than max_record: close it and go on in a new one
        while t_ns - rec.start_ns > self._max:
            edge = rec.start_ns + self._max
            rec.until_ns = edge
            self._pending.append(self._line(key, rec))
            rec = self._open[key] = _Record(edge, edge)
        rec.until_ns = t_ns

    def is_alive(self, key: MachineKey) -> bool:
        return key in self._open

    def last_alive_ns(self, key: MachineKey) -> int | None:
        rec = self._open.get(key)
        return None if rec is None else rec.until_ns

    def down(
        self, key: MachineKey, at_ns: int, reason: DownReason, *, alive_until_ns: int | None = None
    ) -> None:
        """The path to ``key`` was found dead at ``at_ns``. The open record ends at the last
        moment the path was known alive (``alive_until_ns``, which may lie before what was
        already written: a source declared silent is not vouched for since its last
        message), and a down mark is written at ``at_ns``."""
        rec = self._open.pop(key, None)
        if rec is not None:
            if alive_until_ns is not None:
                rec.until_ns = max(rec.start_ns, min(rec.until_ns, alive_until_ns))
            if rec.until_ns != rec.written_ns:
                self._pending.append(self._line(key, rec))
        prefix = self._prefix(key)
        if rec is not None and at_ns == rec.start_ns:
            at_ns += 1  # a down mark must not land on the record's own point
        self._pending.append(encode_point(prefix, [(FIELD_DOWN_REASON, reason.value)], at_ns))

    def down_all(self, at_ns: int, reason: DownReason) -> None:
        for key in list(self._open):
            self.down(key, at_ns, reason)

    def open_keys(self) -> list[MachineKey]:
        return list(self._open)

    # -- what goes to the spool ----------------------------------------------------

    def flush(self) -> list[bytes]:
        """Lines to spool now: records closed since the last flush, and every open record
        that grew (a record is first written once it spans any time at all, or is closed)."""
        out, self._pending = self._pending, []
        for key, rec in self._open.items():
            if rec.until_ns != rec.written_ns and rec.until_ns > rec.start_ns:
                out.append(self._line(key, rec))
        return out

    # -- state across a restart (MQTT resumes its records from a persistent session) --

    def snapshot(self) -> dict[str, list[int | str]]:
        """Open records as plain data, as far as they were written (what InfluxDB will have)."""
        return {
            f"{line}\x00{machine}": [rec.start_ns, rec.written_ns]
            for (line, machine), rec in self._open.items()
            if rec.written_ns >= rec.start_ns
        }

    @staticmethod
    def parse_snapshot(data: object) -> dict[MachineKey, tuple[int, int]]:
        """key -> (record start, written until) from ``snapshot()``; anything malformed is skipped."""
        out: dict[MachineKey, tuple[int, int]] = {}
        if not isinstance(data, dict):
            return out
        for k, v in data.items():
            if (
                isinstance(k, str)
                and k.count("\x00") == 1
                and isinstance(v, list)
                and len(v) == 2
                and all(type(x) is int for x in v)
                and v[0] <= v[1]
            ):
                line, machine = k.split("\x00")
                out[(line, machine)] = (v[0], v[1])
        return out

    def resume(self, key: MachineKey, start_ns: int, until_ns: int) -> None:
        """Reopen a record written before a restart, so it grows on instead of a new one
        starting (the gap between is vouched for by the caller)."""
        self._open[key] = _Record(start_ns, until_ns, written_ns=until_ns)

    # -- encoding --------------------------------------------------------------------

    def _prefix(self, key: MachineKey) -> bytes:
        p = self._prefixes.get(key)
        if p is None:
            p = self._prefixes[key] = series_prefix(
                MEASUREMENT_LIVENESS, {TAG_FACTORY: self.factory, TAG_LINE: key[0], TAG_MACHINE: key[1]}
            )
        return p

    def _line(self, key: MachineKey, rec: _Record) -> bytes:
        rec.written_ns = rec.until_ns
        span = (rec.until_ns - rec.start_ns) / 1e9
        return encode_point(self._prefix(key), [(FIELD_ALIVE_S, float(span))], rec.start_ns)
