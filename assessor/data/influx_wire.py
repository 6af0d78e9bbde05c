"""InfluxDB's chunked JSON query answers (1.x ``/query``, also 2.x/3.x through their v1
API) into series: by rows, or by columns for the long reads of raw samples.

A factory-month of raw samples is millions of values, and building a Python list per
row costs more than anything the KPIs then do with them. So for a columnar read each
series' rows are joined into one flat row before parsing and cut into columns by
slicing, where that is safe: in values without strings ``],[`` can only separate rows;
in values with strings but no backslash every ``"`` opens or closes a string (one inside
a string would be escaped), so a ``],[`` outside the quotes separates rows. Values with
a backslash are parsed row by row, and so is a series whose rows did not all join.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any

import orjson


class InfluxError(Exception):
    pass


class DatabaseNotFound(InfluxError):
    """The database (1.x) or the bucket's mapping (2.x/3.x) a query named does not exist."""


@dataclass(frozen=True)
class Series:
    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def rows(self) -> Iterator[dict[str, Any]]:
        cols = self.columns
        for v in self.values:
            yield dict(zip(cols, v, strict=True))


@dataclass(frozen=True)
class Columns:
    """A series by columns: ``data[i]`` holds the values of ``columns[i]`` in time order."""

    name: str
    tags: dict[str, str]
    columns: list[str]
    data: list[list[Any]]

    def column(self, name: str) -> list[Any] | None:
        try:
            return self.data[self.columns.index(name)]
        except ValueError:
            return None


_VALUES = b'"values":[['
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def flatten_rows(raw: bytes) -> bytes:
    """``raw`` with the rows of every series joined into one where that is safe."""
    parts = []
    pos = 0
    while (i := raw.find(_VALUES, pos)) >= 0:
        start = i + len(_VALUES)
        end = raw.find(b"]]", start)
        if end < 0:
            break
        segment = raw[start:end]
        parts.append(raw[pos:start])
        parts.append(_joined(segment))
        pos = end
    if not parts:
        return raw
    parts.append(raw[pos:])
    return b"".join(parts)


def _joined(segment: bytes) -> bytes:
    if b'"' not in segment:
        return segment.replace(b"],[", b",")
    if b"\\" in segment:
        return segment
    if segment.count(b"],[") == segment.count(b'"],['):
        # every row ends in a string (a state polled with its counters, state last)
        return segment.replace(b'"],[', b'",')
    # without escapes every '"' opens or closes a string: the even pieces lie outside
    pieces = segment.split(b'"')
    pieces[0::2] = [p.replace(b"],[", b",") for p in pieces[0::2]]
    return b'"'.join(pieces)


def _documents(raw: bytes) -> Iterator[dict[str, Any]]:
    if not raw.strip():
        return
    doc = orjson.loads(raw)
    yield from _results(doc)


def _results(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "error" in doc:
        raise _error(doc["error"])
    for result in doc.get("results", []):
        if "error" in result:
            raise _error(result["error"])
        yield result


def _error(text: object) -> InfluxError:
    if str(text).startswith("database not found"):
        return DatabaseNotFound(f"query failed: {text}")
    return InfluxError(f"query failed: {text}")


def _key(s: dict[str, Any]) -> SeriesKey:
    return s.get("name", ""), tuple(sorted((s.get("tags") or {}).items()))


def _flat_columns(columns: list[str], values: list[Any]) -> list[list[Any]] | None:
    """The columns of a series whose rows were joined into one (or that has one row);
    None when some rows were left apart."""
    n = len(columns)
    if not values:
        return [[] for _ in range(n)]
    if len(values) > 1 or len(values[0]) % n or any(map(isinstance, values[0], repeat(list))):
        return None
    flat = values[0]
    return [flat[k::n] for k in range(n)]


def _by_column(columns: list[str], values: list[Any]) -> list[list[Any]]:
    return [list(map(itemgetter(k), values)) for k in range(len(columns))]


class MergedRows:
    """Chunks of one answer merged by statement and series (a series split over chunks
    continues where it stopped), by rows."""

    def __init__(self) -> None:
        self._by_statement: dict[int, dict[SeriesKey, Series]] = {}

    def add(self, raw: bytes) -> None:
        for result in _documents(raw):
            statement = self._by_statement.setdefault(result.get("statement_id", 0), {})
            for s in result.get("series", []):
                key = _key(s)
                if key in statement:
                    statement[key].values.extend(s.get("values", []))
                else:
                    statement[key] = Series(
                        key[0], dict(s.get("tags") or {}), s["columns"], list(s.get("values", []))
                    )

    def statements(self) -> list[list[Series]]:
        return _in_order(self._by_statement)


def _column_results(raw: bytes) -> Iterator[tuple[int, list[tuple[dict[str, Any], list[list[Any]]]]]]:
    """(statement id, [(series, its columns)]) of each result in one chunk."""
    if not raw.strip():
        return
    results = list(_results(orjson.loads(flatten_rows(raw))))
    flat = [
        [_flat_columns(s["columns"], s.get("values") or []) for s in r.get("series", [])] for r in results
    ]
    if any(c is None for r in flat for c in r):
        # rows of mixed kinds that could not be joined safely: row by row
        results = list(_documents(raw))
        flat = [
            [_by_column(s["columns"], s.get("values") or []) for s in r.get("series", [])] for r in results
        ]
    for result, data_of in zip(results, flat, strict=True):
        yield result.get("statement_id", 0), list(zip(result.get("series", []), data_of, strict=True))  # type: ignore[arg-type]


class StreamedColumns:
    """Series by columns, each handed to ``done(statement id, series)`` as soon as it is
    complete: a chunked answer sends one series' rows together (over one chunk or
    several), so the next series, or the end, completes it."""

    def __init__(self, done: Callable[[int, Columns], None]) -> None:
        self._done = done
        self._current: tuple[int, SeriesKey, Columns] | None = None

    def add(self, raw: bytes) -> None:
        for statement_id, s, data in ((i, s, d) for i, series in _column_results(raw) for s, d in series):
            key = _key(s)
            cur = self._current
            if cur is not None and cur[0] == statement_id and cur[1] == key:
                for column, more in zip(cur[2].data, data, strict=True):
                    column.extend(more)
                continue
            self.finish()
            self._current = (
                statement_id,
                key,
                Columns(key[0], dict(s.get("tags") or {}), s["columns"], data),
            )

    def finish(self) -> None:
        if self._current is not None:
            statement_id, _, series = self._current
            self._current = None
            self._done(statement_id, series)


def _in_order(by_statement: dict[int, dict[SeriesKey, Any]]) -> list[list[Any]]:
    if not by_statement:
        return []
    return [list(by_statement.get(i, {}).values()) for i in range(max(by_statement) + 1)]
