"""InfluxDB's chunked JSON query answers (1.x ``/query``, also 2.x/3.x through their v1
API) into series: by rows, or by columns for the long reads of raw samples.

A factory-month of raw samples is millions of values, and building a Python list per
row costs more than anything the KPIs then do with them. So for a columnar read each
series' rows are joined into one flat row before parsing and cut into columns by
slicing. Where that is safe: in values without strings ``],[`` can only separate rows;
in values with strings but no backslash ``"],[`` can only separate rows that end in a
string (a ``"`` inside a string would be escaped). A series whose rows were not all
joined that way is parsed again, row by row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any

import orjson


class InfluxError(Exception):
    pass


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
        if b'"' not in segment:
            parts.append(segment.replace(b"],[", b","))
        elif b"\\" not in segment:
            parts.append(segment.replace(b'"],[', b'",'))
        else:
            parts.append(segment)
        pos = end
    if not parts:
        return raw
    parts.append(raw[pos:])
    return b"".join(parts)


def _documents(raw: bytes) -> Iterator[dict[str, Any]]:
    if not raw.strip():
        return
    doc = orjson.loads(raw)
    yield from _results(doc)


def _results(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "error" in doc:
        raise InfluxError(f"query failed: {doc['error']}")
    for result in doc.get("results", []):
        if "error" in result:
            raise InfluxError(f"query failed: {result['error']}")
        yield result


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


class MergedColumns:
    """As ``MergedRows``, by columns."""

    def __init__(self) -> None:
        self._by_statement: dict[int, dict[SeriesKey, Columns]] = {}

    def add(self, raw: bytes) -> None:
        if not raw.strip():
            return
        results = list(_results(orjson.loads(flatten_rows(raw))))
        flat = [
            [_flat_columns(s["columns"], s.get("values") or []) for s in r.get("series", [])] for r in results
        ]
        if any(c is None for r in flat for c in r):
            # rows of mixed kinds (a string in some, a number last in others): row by row
            results = list(_documents(raw))
            flat = [
                [_by_column(s["columns"], s.get("values") or []) for s in r.get("series", [])]
                for r in results
            ]
        for result, data_of in zip(results, flat, strict=True):
            statement = self._by_statement.setdefault(result.get("statement_id", 0), {})
            for s, data in zip(result.get("series", []), data_of, strict=True):
                key = _key(s)
                if key in statement:
                    for column, more in zip(statement[key].data, data, strict=True):
                        column.extend(more)
                else:
                    statement[key] = Columns(key[0], dict(s.get("tags") or {}), s["columns"], data)

    def statements(self) -> list[list[Columns]]:
        return _in_order(self._by_statement)


def _in_order(by_statement: dict[int, dict[SeriesKey, Any]]) -> list[list[Any]]:
    if not by_statement:
        return []
    return [list(by_statement.get(i, {}).values()) for i in range(max(by_statement) + 1)]
