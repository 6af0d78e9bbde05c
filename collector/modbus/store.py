"""Which decoded values of a poll to store: every poll, or only on change.

A register stored ``on_change`` is written when its value differs from the value last
*stored* (not last read, so a slow drift inside a deadband still adds up to a stored
change), when it was never stored since the path was last dead, and at least every
``refresh``. The fields of one register travel together: a state register's ``state``
and ``state_code`` are both written when either changed.

Deadband: a number is stored when ``|new - last stored| >= deadband``. ``>=`` so that a
deadband equal to the value's resolution (``deadband: 0.1`` with ``scale: 0.1``, or
``deadband: 1`` on an integer) stores every step of one resolution unit. A deadband of 0
is the same as none: any change is stored.
"""

from __future__ import annotations

from collections.abc import Iterable

from collector.modbus.config import DeviceConfig
from collector.modbus.decode import Fields, FieldValue

_NEVER = object()


class ChangeFilter:
    """Per device: the last stored value of every on-change field, and when it was stored."""

    __slots__ = ("_groups", "_last", "_refresh_ns", "_stored_at")

    def __init__(self, groups: dict[str, tuple[int, float]], refresh_ns: int) -> None:
        #: field key -> (register index, deadband); only on-change fields are listed
        self._groups = groups
        self._refresh_ns = refresh_ns
        self._last: dict[str, FieldValue] = {}
        self._stored_at: dict[int, int] = {}

    @classmethod
    def for_device(cls, dev: DeviceConfig) -> ChangeFilter | None:
        """The device's filter, or None when every register is stored at every poll."""
        groups = {
            key: (i, reg.deadband or 0.0)
            for i, reg in enumerate(dev.registers)
            if dev.store_of(reg) == "on_change"
            for key in dev.field_keys(reg)
        }
        return cls(groups, int(dev.refresh * 1e9)) if groups else None

    def covers(self, keys: Iterable[str]) -> bool:
        """Whether any of ``keys`` is stored on change (else select() is not needed)."""
        return any(k in self._groups for k in keys)

    def forget(self) -> None:
        """The path was dead: the next answer stores every value again, changed or not,
        so that no stored value is taken to hold across the gap."""
        self._last.clear()
        self._stored_at.clear()

    def select(self, fields: Fields, t_ns: int) -> Fields:
        """The fields of one answer (read at ``t_ns``) to store; remembers what it keeps."""
        groups, last = self._groups, self._last
        due: set[int] = set()
        held: set[int] = set()
        for key, value in fields:
            g = groups.get(key)
            if g is None or g[0] in due:
                continue
            index, band = g
            if self._due(last.get(key, _NEVER), value, band, index, t_ns):
                due.add(index)
            else:
                held.add(index)
        if not held:
            out = fields
        else:
            out = [(k, v) for k, v in fields if (g := groups.get(k)) is None or g[0] in due]
        for key, value in out:
            g = groups.get(key)
            if g is not None:
                last[key] = value
                self._stored_at[g[0]] = t_ns
        return out

    def _due(self, before: object, value: FieldValue, band: float, index: int, t_ns: int) -> bool:
        if before is _NEVER:
            return True
        if t_ns - self._stored_at.get(index, t_ns) >= self._refresh_ns:
            return True
        if band > 0:
            return abs(value - before) >= band  # type: ignore[operator]
        # type() too: a field never changes type, but True == 1 must not hide a change
        return value != before or type(value) is not type(before)
