"""collector/liveness.py: alive records grow in place, roll over, end, and survive a restart."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from collector.liveness import LivenessRecorder
from datacontract import DownReason

S = 1_000_000_000
KEY = ("line-1", "press-1")


def parse(line: bytes) -> tuple[str, dict[str, str], int]:
    head, fields, ts = line.decode().rsplit(" ", 2)
    return head, dict(f.split("=", 1) for f in fields.split(",")), int(ts)


def records(lines: list[bytes]) -> dict[int, float]:
    """start -> alive_s, the last write of each point winning (as InfluxDB keeps it)."""
    out: dict[int, float] = {}
    for line in lines:
        _, fields, ts = parse(line)
        if "alive_s" in fields:
            out[ts] = float(fields["alive_s"])
    return out


def test_a_record_grows_in_place_and_is_written_only_when_it_grew() -> None:
    rec = LivenessRecorder("f1")
    rec.alive(KEY, 100 * S)
    assert rec.flush() == []  # nothing spanned yet
    rec.alive(KEY, 105 * S)
    first = rec.flush()
    assert records(first) == {100 * S: 5.0}
    assert first[0].startswith(b"machine_liveness,factory=f1,line=line-1,machine=press-1 ")
    assert rec.flush() == []
    rec.alive(KEY, 103 * S)  # out of order: nothing new
    assert rec.flush() == []
    rec.alive(KEY, 130 * S)
    assert records(rec.flush()) == {100 * S: 30.0}


def test_down_ends_the_record_at_the_last_alive_moment_and_marks_the_detection() -> None:
    rec = LivenessRecorder("f1")
    rec.alive(KEY, 0)
    rec.alive(KEY, 50 * S)
    rec.flush()
    rec.down(KEY, 60 * S, DownReason.SILENT, alive_until_ns=20 * S)
    lines = rec.flush()
    assert records(lines) == {0: 20.0}  # shrunk: the silence is not vouched for
    marks = [parse(x) for x in lines if b"down_reason" in x]
    assert [(m[1]["down_reason"], m[2]) for m in marks] == [('"silent"', 60 * S)]
    assert not rec.is_alive(KEY)
    rec.alive(KEY, 70 * S)
    rec.alive(KEY, 71 * S)
    assert records(rec.flush()) == {70 * S: 1.0}  # a new record after the gap


def test_a_record_never_spans_more_than_the_maximum() -> None:
    rec = LivenessRecorder("f1", max_record_ns=10 * S)
    rec.alive(KEY, 0)
    rec.alive(KEY, 35 * S)
    assert records(rec.flush()) == {0: 10.0, 10 * S: 10.0, 20 * S: 10.0, 30 * S: 5.0}


def test_snapshot_resumes_the_written_record() -> None:
    rec = LivenessRecorder("f1")
    rec.alive(KEY, 10 * S)
    rec.alive(KEY, 20 * S)
    rec.flush()
    rec.alive(KEY, 25 * S)  # not flushed: not in InfluxDB, not in the snapshot
    snap = LivenessRecorder.parse_snapshot(rec.snapshot())
    assert snap == {KEY: (10 * S, 20 * S)}
    again = LivenessRecorder("f1")
    again.resume(KEY, *snap[KEY])
    assert again.flush() == []
    again.alive(KEY, 40 * S)
    assert records(again.flush()) == {10 * S: 30.0}


def test_parse_snapshot_skips_what_is_malformed() -> None:
    assert LivenessRecorder.parse_snapshot(None) == {}
    assert LivenessRecorder.parse_snapshot({"a\x00b": [2, 1], "x": [0, 1], "c\x00d": [0, "1"]}) == {}


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=60))
def test_records_cover_exactly_the_span_of_the_evidence(times: list[int]) -> None:
    """Whatever the order and spacing of the signs of life, the records tile
    [first, last] without gaps or overlap (flushing at any point in between)."""
    rec = LivenessRecorder("f1", max_record_ns=1000 * S)
    lines: list[bytes] = []
    ordered = sorted(times)
    for i, t in enumerate(ordered):
        rec.alive(KEY, t * S)
        if i % 7 == 3:
            lines += rec.flush()
    lines += rec.flush()
    spans = sorted((start, start + int(alive * S)) for start, alive in records(lines).items())
    if ordered[-1] == ordered[0]:
        assert spans == []
        return
    assert spans[0][0] == ordered[0] * S
    assert spans[-1][1] == ordered[-1] * S
    for (_, hi), (lo, _) in itertools.pairwise(spans):
        assert hi == lo
