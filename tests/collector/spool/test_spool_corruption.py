"""One damaged byte in a spool segment costs the record it is in, not the rest of the segment."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.spool import Spool, segment_name
from collector.spool.format import HEADER_SIZE, encode_record

BIG = 1 << 40
POINTS = 3  # per record


def point(n: int) -> bytes:
    return b'm,host=a s="x\ny",n=%010di %010d' % (n, n)


def batch(i: int) -> list[bytes]:
    return [point(i * POINTS + j) for j in range(POINTS)]


SIZE = len(encode_record(batch(0), 0.0))

#: one byte in each part of a record: magic, version, flags, payload_len, count,
#: written_at, crc, the length table, a point
PLACES = {
    "magic": 0,
    "version": 1,
    "flags": 2,
    "payload_len": 5,
    "payload_len_low": 4,
    "count": 8,
    "written_at": 15,
    "crc": 21,
    "lengths": HEADER_SIZE + 1,
    "point": HEADER_SIZE + 4 * POINTS + 7,
    "last_byte": SIZE - 1,
}


def write_records(directory: Path, n: int, *, sealed: bool) -> None:
    """``n`` records; with ``sealed``, all in the first segment and two more in a second."""
    spool = Spool(directory, max_bytes=BIG, segment_bytes=n * SIZE, fsync=False)
    spool.open()
    for i in range(n + (2 if sealed else 0)):
        spool.append([batch(i)])
    spool.close()
    assert len(list(directory.glob("*.seg"))) == (2 if sealed else 1)


def flip(directory: Path, record: int, place: int, xor: int = 0xFF) -> None:
    path = directory / segment_name(0)
    data = bytearray(path.read_bytes())
    data[record * SIZE + place] ^= xor
    path.write_bytes(bytes(data))


def replay(spool: Spool) -> list[int]:
    """Every record number read, committing as it goes."""
    out: list[int] = []
    while records := spool.read(7):
        out.extend(int(r.points[0].rsplit(b" ", 1)[1]) // POINTS for r in records)
        spool.commit(records[-1].next)
    return out


def check_replay(directory: Path, total: int, lost: int) -> None:
    spool = Spool(directory, max_bytes=BIG, fsync=False)
    spool.open()
    try:
        assert replay(spool) == [i for i in range(total) if i != lost]
        stats = spool.stats
        assert stats.corrupt_records_skipped == 1
        assert stats.torn_bytes_discarded == 0
        assert stats.pending_points == 0
        assert stats.pending_bytes == 0
    finally:
        spool.close()


@pytest.mark.parametrize("sealed", [False, True], ids=["active", "sealed"])
@pytest.mark.parametrize("place", list(PLACES.values()), ids=list(PLACES))
def test_one_bad_byte_costs_one_record(tmp_path: Path, sealed: bool, place: int) -> None:
    n, k = 76, 38
    write_records(tmp_path, n, sealed=sealed)
    flip(tmp_path, k, place)
    check_replay(tmp_path, n + (2 if sealed else 0), k)


def test_the_skip_is_logged_with_segment_and_offset(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_records(tmp_path, 10, sealed=False)
    flip(tmp_path, 4, PLACES["point"])
    with caplog.at_level(logging.ERROR, logger="collector.spool.spool"):
        check_replay(tmp_path, 10, 4)
    assert f"corrupt record in {segment_name(0)} at offset {4 * SIZE}" in caplog.text
    assert f"next valid record at offset {5 * SIZE}" in caplog.text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(3, 12),
    data=st.data(),
    sealed=st.booleans(),
    xor=st.integers(1, 255),
)
def test_any_byte_of_any_record(
    tmp_path_factory: pytest.TempPathFactory, n: int, data, sealed: bool, xor: int
) -> None:
    # the last record of the active segment is a torn append (cut, not counted): not this case
    k = data.draw(st.integers(0, n - 1 if sealed else n - 2), label="record")
    place = data.draw(st.integers(0, SIZE - 1), label="byte")
    directory = tmp_path_factory.mktemp("spool")
    write_records(directory, n, sealed=sealed)
    flip(directory, k, place, xor)
    check_replay(directory, n + (2 if sealed else 0), k)


@pytest.mark.parametrize("sealed", [False, True], ids=["active", "sealed"])
@pytest.mark.parametrize("place", [PLACES["magic"], PLACES["payload_len"], PLACES["point"]])
def test_damage_while_open_costs_one_record(tmp_path: Path, sealed: bool, place: int) -> None:
    n, k = 20, 12
    spool = Spool(tmp_path, max_bytes=BIG, segment_bytes=n * SIZE, fsync=False)
    spool.open()
    try:
        for i in range(n + (2 if sealed else 0)):
            spool.append([batch(i)])
        first = spool.read(5 * POINTS)
        assert len(first) == 5
        spool.commit(first[-1].next)
        flip(tmp_path, k, place)
        seen = [int(r.points[0].rsplit(b" ", 1)[1]) // POINTS for r in first] + replay(spool)
        assert seen == [i for i in range(n + (2 if sealed else 0)) if i != k]
        assert spool.stats.corrupt_records_skipped == 1
        assert spool.stats.pending_points == 0
        assert spool.stats.pending_bytes == 0
        spool.append([batch(100)])
        assert replay(spool) == [100]
    finally:
        spool.close()


def test_committed_cursor_before_the_damage_is_kept(tmp_path: Path) -> None:
    n, k = 30, 20
    write_records(tmp_path, n, sealed=False)
    spool = Spool(tmp_path, max_bytes=BIG, fsync=False)
    spool.open()
    records = spool.read(10 * POINTS)
    spool.commit(records[-1].next)
    spool.close()
    flip(tmp_path, k, PLACES["count"])
    spool = Spool(tmp_path, max_bytes=BIG, fsync=False)
    spool.open()
    try:
        assert spool.stats.pending_points == (n - 10 - 1) * POINTS
        assert replay(spool) == [i for i in range(10, n) if i != k]
    finally:
        spool.close()


def test_verify_segment_and_find_record(tmp_path: Path) -> None:
    write_records(tmp_path, 6, sealed=False)
    flip(tmp_path, 1, PLACES["payload_len"])
    flip(tmp_path, 2, PLACES["magic"])
    from collector.spool.format import find_record, verify_segment

    path = tmp_path / segment_name(0)
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        assert find_record(fd, SIZE + 1, size) == 3 * SIZE
        assert find_record(fd, 5 * SIZE + 1, size) is None
        checked = verify_segment(fd, size)
    finally:
        os.close(fd)
    assert [(h.start, h.end) for h in checked.holes] == [(SIZE, 3 * SIZE)]
    assert checked.end == size and checked.tail is None
    assert checked.points == 4 * POINTS


@pytest.mark.parametrize("field", ["magic", "version", "flags", "count", "payload_len"])
def test_a_damaged_header_in_a_sealed_segment_is_counted_at_open(tmp_path: Path, field: str) -> None:
    # The header walk that indexes sealed segments must notice it, not a read much later:
    # the pending count (what the forwarder and the health page show) is right from the start.
    n, k = 20, 7
    write_records(tmp_path, n, sealed=True)
    flip(tmp_path, k, PLACES[field])
    spool = Spool(tmp_path, max_bytes=BIG, fsync=False)
    spool.open()
    try:
        stats = spool.stats
        assert (stats.corrupt_records_skipped, stats.corrupt_bytes_skipped) == (1, SIZE)
        assert stats.pending_points == (n + 2 - 1) * POINTS
    finally:
        spool.close()
    check_replay(tmp_path, n + 2, k)


def test_find_record_sees_a_record_start_split_between_two_reads(tmp_path: Path) -> None:
    # Every chunk size from the marker's own length up: some reads end inside the next
    # record's first four bytes, which the following read must still see whole.
    from collector.spool.format import find_record

    write_records(tmp_path, 3, sealed=False)
    fd = os.open(tmp_path / segment_name(0), os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        found = {chunk: find_record(fd, 1, size, chunk=chunk) for chunk in range(4, SIZE + 8)}
    finally:
        os.close(fd)
    assert {chunk: at for chunk, at in found.items() if at != SIZE} == {}


@pytest.mark.parametrize(
    ("field", "reason"),
    [("magic", "bad record header"), ("flags", "bad record header"), ("point", "record checksum mismatch")],
)
def test_the_log_says_why_a_record_was_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, field: str, reason: str
) -> None:
    write_records(tmp_path, 10, sealed=False)
    flip(tmp_path, 4, PLACES[field])
    with caplog.at_level(logging.ERROR, logger="collector.spool.spool"):
        check_replay(tmp_path, 10, 4)
    assert f"at offset {4 * SIZE} ({reason})" in caplog.text


def test_header_walks_give_the_same_answer_for_any_read_size(tmp_path: Path) -> None:
    # Records cross the reads' boundaries at every possible place (the real reads are
    # megabytes, so only a segment that large would show a mistake there otherwise).
    from collector.spool.format import Scan, scan_headers, verify_records

    write_records(tmp_path, 4, sealed=False)
    fd = os.open(tmp_path / segment_name(0), os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        whole = Scan(size, 4 * POINTS, None)
        for chunk in range(1, 2 * SIZE + 2):
            assert verify_records(fd, size, chunk=chunk) == whole, chunk
            assert scan_headers(fd, 0, size, chunk=chunk) == whole, chunk
            assert verify_records(fd, size, chunk=chunk, start=SIZE) == Scan(size, 3 * POINTS, None), chunk
    finally:
        os.close(fd)
