"""Chunked query answers by rows and by columns: the columnar parse joins rows before
parsing where that is safe, and must give exactly what parsing row by row gives."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assessor.data.influx_wire import InfluxError, MergedRows, StreamedColumns, flatten_rows

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    # strings built to look like the separators the columnar parse joins on
    st.sampled_from(['"],[', "],[", "]]", '"values":[[', "\\", '\\"],[1', 'run"ning', ""]),
    st.text(max_size=6),
)


def answer(series: list[tuple[dict[str, str], list[list[object]]]], columns: list[str]) -> bytes:
    doc = {
        "results": [
            {
                "statement_id": 0,
                "series": [
                    {"name": "machine_data", "tags": tags, "columns": columns, "values": rows}
                    for tags, rows in series
                    if rows
                ],
            }
        ]
    }
    return json.dumps(doc, ensure_ascii=False).encode()


@settings(max_examples=300, deadline=None)
@given(width=st.integers(1, 3), data=st.data())
def test_streamed_columns_are_the_rows_transposed_whatever_the_values(
    width: int, data: st.DataObject
) -> None:
    """Series come one after another, each over one chunk or several (as InfluxDB's chunked
    answers send them); every series is handed on once, whole, by columns."""
    columns = ["time", *[f"f{i}" for i in range(width)]]
    row = st.tuples(st.integers(0, 10**13), *[values] * width).map(list)
    machines = data.draw(st.lists(st.lists(row, min_size=1, max_size=8), min_size=1, max_size=3))
    stream = [(f"m{i}", r) for i, rows in enumerate(machines) for r in rows]
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(stream) - 1)), max_size=3))))
    by_rows, streamed = MergedRows(), []
    by_columns = StreamedColumns(lambda statement, series: streamed.append((statement, series)))
    for lo, hi in itertools.pairwise([0, *cuts, len(stream)]):
        part = stream[lo:hi]
        series = [(m, [r for mm, r in part if mm == m]) for m in dict.fromkeys(mm for mm, _ in part)]
        raw = answer([({"machine": m}, rows) for m, rows in series], columns)
        by_rows.add(raw)
        by_columns.add(raw)
    by_columns.finish()
    (rows_result,) = by_rows.statements()
    assert [s.tags for _, s in streamed] == [s.tags for s in rows_result]
    for (statement, c), r in zip(streamed, rows_result, strict=True):
        assert statement == 0 and c.columns == r.columns
        assert c.data == [[v[k] for v in r.values] for k in range(len(columns))]


def test_numbers_and_strings_without_escapes_are_joined_others_left_apart() -> None:
    assert flatten_rows(b'{"values":[[1,2],[3,null]]}') == b'{"values":[[1,2,3,null]]}'
    assert flatten_rows(b'{"values":[[1,"a"],[3,"b"]]}') == b'{"values":[[1,"a",3,"b"]]}'
    mixed = b'{"values":[[1,null],[2,"a],[b"],[3,4]]}'
    assert flatten_rows(mixed) == b'{"values":[[1,null,2,"a],[b",3,4]]}'
    escaped = b'{"values":[[1,"a\\"],[2"],[3,"b"]]}'
    assert flatten_rows(escaped) == escaped


def test_an_error_in_a_chunk_is_raised() -> None:
    with pytest.raises(InfluxError, match="boom"):
        StreamedColumns(lambda *_: None).add(b'{"results":[{"statement_id":0,"error":"boom"}]}')
