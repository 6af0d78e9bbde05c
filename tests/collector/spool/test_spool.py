"""The spool: order, durability across reopen, recovery of torn and corrupt data, the size cap."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import collector.spool.spool as spool_module
from collector.spool import (
    CURSOR_FILE,
    Position,
    Record,
    Spool,
    SpoolAppender,
    SpoolError,
    SpoolLockedError,
    segment_name,
)
from collector.spool.format import HEADER_SIZE, encode_record

BIG = 1 << 40


def point(n: int, pad: int = 0) -> bytes:
    # A string field with a literal newline: the spool must not frame on b"\n".
    # Fixed width, so that records of equally many points are equally large.
    return b'm,host=a s="line1\nline2%s",n=%010di %010d' % (b"x" * pad, n, n)


def number(p: bytes) -> int:
    return int(p.rsplit(b" ", 1)[1])


def batch(start: int, count: int, pad: int = 0) -> list[bytes]:
    return [point(n, pad) for n in range(start, start + count)]


def record_size(points: list[bytes]) -> int:
    return len(encode_record(points, 0.0))


def read_all(spool: Spool, chunk: int = 1000) -> list[Record]:
    out: list[Record] = []
    while records := spool.read(chunk):
        out.extend(records)
    return out


def numbers(records: list[Record]) -> list[int]:
    return [number(p) for r in records for p in r.points]


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def opened(spool_dir: Path) -> Iterator[Spool]:
    spool = Spool(spool_dir, max_bytes=BIG, fsync=False)
    spool.open()
    yield spool
    spool.close()


def reopen(spool: Spool, **kwargs: object) -> Spool:
    spool.close()
    options: dict[object, object] = {"max_bytes": BIG, "fsync": False}
    options.update(kwargs)
    again = Spool(spool.path, **options)  # type: ignore[arg-type]
    again.open()
    return again


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


# ---------------------------------------------------------------------- order and cursor


def test_append_read_commit_rewind_keep_order(opened: Spool) -> None:
    opened.append([batch(0, 3), batch(3, 2)])
    opened.append([batch(5, 4)])

    first = opened.read(5)
    assert [len(r.points) for r in first] == [3, 2]
    assert numbers(first) == [0, 1, 2, 3, 4]
    assert first[0].next == first[1].position

    second = opened.read(100)
    assert numbers(second) == [5, 6, 7, 8]
    assert opened.read(100) == []

    opened.commit(first[-1].next)
    opened.rewind()
    assert numbers(read_all(opened)) == [5, 6, 7, 8]


def test_points_keep_their_bytes_and_boundaries(opened: Spool) -> None:
    odd = [b"", b"\n", b"a\nb\n", bytes(range(256)), b"x" * 70000]
    opened.append([odd])
    (record,) = opened.read(10)
    assert record.points == odd


def test_read_limits(opened: Spool) -> None:
    batches = [batch(100, 10), batch(110, 10), batch(120, 10)]
    opened.append(batches)
    assert numbers(opened.read(25)) == list(range(100, 120))
    opened.rewind()
    # A record bigger than the limit is still returned, alone.
    assert numbers(opened.read(3)) == list(range(100, 110))
    opened.rewind()
    first, second = (sum(map(len, b)) for b in batches[:2])
    assert len(opened.read(1000, max_bytes=first)) == 1
    opened.rewind()
    assert len(opened.read(1000, max_bytes=first + 1)) == 1
    opened.rewind()
    assert len(opened.read(1000, max_bytes=first + second)) == 2
    opened.rewind()
    assert len(opened.read(1000, max_bytes=1)) == 1


def test_read_uses_its_whole_budget(opened: Spool) -> None:
    opened.append([[b"%d" % n] for n in range(6)])  # six records of one 1-byte point
    assert [p for r in opened.read(3) for p in r.points] == [b"0", b"1", b"2"]
    opened.rewind()
    assert [p for r in opened.read(1000, max_bytes=3) for p in r.points] == [b"0", b"1", b"2"]


def test_commit_of_what_was_read_does_not_scan_the_segment(
    opened: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The forwarder commits after every delivery: counting what it delivered must not
    # walk the headers on disk again, read() already knows.
    opened.append([batch(0, 4), batch(4, 4), batch(8, 4)])
    records = opened.read(8)

    def no_scan(*args: object, **kwargs: object) -> None:
        raise AssertionError("commit scanned the segment")

    monkeypatch.setattr(spool_module, "scan_headers", no_scan)
    opened.commit(records[0].next)
    opened.commit(records[1].next)
    assert opened.pending_points == opened.stats.pending_points == 4
    assert opened.stats.pending_bytes == record_size(batch(8, 4))
    monkeypatch.undo()
    assert numbers(read_all(opened)) == list(range(8, 12))


def test_read_does_not_consume_until_commit(opened: Spool) -> None:
    opened.append([batch(0, 5)])
    assert numbers(opened.read(100)) == list(range(5))
    opened.rewind()
    assert numbers(opened.read(100)) == list(range(5))
    assert opened.stats.pending_points == opened.pending_points == 5
    opened.rewind()
    opened.commit(opened.read(100)[-1].next)
    assert opened.pending_points == opened.stats.pending_points == 0


def test_empty_points_keep_their_place_across_a_reopen(spool_dir: Path) -> None:
    # A record of empty points is all length table (count * 4 == payload_len): the
    # smallest valid record, which the header checks must not call implausible.
    spool = Spool(spool_dir, max_bytes=BIG, segment_bytes=1, fsync=False)  # a segment per record
    spool.open()
    spool.append([[b""], [b"", b""], [b"x", b""], [b""]])
    records = spool.read(100)
    spool.rewind()
    spool.commit(records[0].next)  # counted from the headers on disk, not from read()
    assert spool.stats.pending_points == 5
    spool = reopen(spool, segment_bytes=1)
    try:
        assert spool.stats.corrupt_records_skipped == spool.stats.torn_bytes_discarded == 0
        assert spool.stats.pending_points == 5
        assert [r.points for r in read_all(spool)] == [[b"", b""], [b"x", b""], [b""]]
    finally:
        spool.close()


def test_empty_batches_are_ignored(opened: Spool) -> None:
    opened.append([])
    opened.append([[], batch(0, 1), []])
    assert numbers(read_all(opened)) == [0]


def test_commit_without_read_and_after_rewind(opened: Spool) -> None:
    opened.append([batch(0, 4), batch(4, 4), batch(8, 4)])
    records = opened.read(100)
    opened.rewind()
    opened.commit(records[1].next)  # positions stay valid after a rewind
    assert opened.stats.pending_points == 4
    assert numbers(read_all(opened)) == list(range(8, 12))


def test_commit_rejects_positions_that_are_not_record_bounds(opened: Spool) -> None:
    opened.append([batch(0, 4)])
    (record,) = opened.read(10)
    with pytest.raises(ValueError):
        opened.commit(Position(record.position.segment, record.next.offset + 1))
    with pytest.raises(ValueError):
        opened.commit(Position(record.position.segment, 5))
    with pytest.raises(ValueError):
        opened.commit(Position(99, 0))
    opened.commit(record.next)
    opened.commit(record.position)  # behind the cursor: nothing to do
    assert opened.stats.pending_points == 0


def test_closed_spool_refuses_work(spool_dir: Path) -> None:
    spool = Spool(spool_dir, max_bytes=BIG, fsync=False)
    with pytest.raises(SpoolError):
        spool.append([batch(0, 1)])
    spool.open()
    spool.close()
    with pytest.raises(SpoolError):
        spool.read(1)


def test_second_open_of_a_directory_is_refused(opened: Spool) -> None:
    with pytest.raises(SpoolLockedError):
        Spool(opened.path, max_bytes=BIG).open()


# ---------------------------------------------------------------------- restart


def test_restart_keeps_pending_and_not_committed(opened: Spool) -> None:
    opened.append([batch(0, 10)])
    opened.append([batch(10, 10)])
    opened.append([batch(20, 10)])
    records = opened.read(15)
    opened.commit(records[0].next)
    oldest = opened.stats.oldest_pending_at

    spool = reopen(opened)
    try:
        stats = spool.stats
        assert stats.pending_points == 20
        assert stats.pending_bytes == record_size(batch(10, 10)) + record_size(batch(20, 10))
        assert stats.oldest_pending_at == oldest
        # Read but not committed before the restart: delivered again.
        assert numbers(read_all(spool)) == list(range(10, 30))
    finally:
        spool.close()


def test_missing_cursor_replays_from_the_oldest_segment(opened: Spool) -> None:
    opened.append([batch(0, 3)])
    opened.commit(opened.read(10)[-1].next)
    opened.append([batch(3, 3)])
    opened.close()
    (opened.path / CURSOR_FILE).unlink()
    spool = reopen(opened)
    try:
        assert numbers(read_all(spool)) == list(range(6))
    finally:
        spool.close()


def test_unreadable_cursor_replays_instead_of_failing(opened: Spool) -> None:
    opened.append([batch(0, 3)])
    opened.commit(opened.read(10)[-1].next)
    opened.close()
    (opened.path / CURSOR_FILE).write_text("{not json")
    spool = reopen(opened)
    try:
        assert numbers(read_all(spool)) == list(range(3))
    finally:
        spool.close()


def test_cursor_file_is_plain_json(opened: Spool) -> None:
    opened.append([batch(0, 3)])
    record = opened.read(10)[-1]
    opened.commit(record.next)
    doc = json.loads((opened.path / CURSOR_FILE).read_text())
    assert (doc["segment"], doc["offset"]) == (record.next.segment, record.next.offset)
    assert doc["version"] == 1  # docs/spool.md: an older reader must still recognise the file
    assert not (opened.path / "cursor.tmp").exists()


def test_cursor_inside_a_record_resumes_at_its_start(opened: Spool) -> None:
    opened.append([batch(0, 3), batch(3, 3)])
    second = opened.read(100)[1]
    opened.close()
    doc = {"segment": second.position.segment, "offset": second.position.offset + 5}
    (opened.path / CURSOR_FILE).write_text(json.dumps(doc))
    spool = reopen(opened)
    try:
        assert spool.stats.pending_points == 3
        assert numbers(read_all(spool)) == [3, 4, 5]
    finally:
        spool.close()


def test_cursor_at_the_end_of_the_data_reopens_without_a_warning(
    opened: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    # Everything delivered is the normal state at a restart: no alarm in the log.
    opened.append([batch(0, 3)])
    opened.commit(opened.read(10)[-1].next)
    with caplog.at_level(logging.WARNING):
        spool = reopen(opened)
    try:
        assert caplog.records == []
        assert spool.stats.pending_points == 0
    finally:
        spool.close()


def test_cursor_past_the_data_is_clamped(opened: Spool) -> None:
    opened.append([batch(0, 3)])
    opened.close()
    (opened.path / CURSOR_FILE).write_text(json.dumps({"segment": 0, "offset": 10**6}))
    spool = reopen(opened)
    try:
        assert spool.stats.pending_points == 0
        spool.append([batch(3, 1)])
        assert numbers(read_all(spool)) == [3]
    finally:
        spool.close()


def test_reader_thread_and_writer_thread(spool_dir: Path) -> None:
    spool = Spool(spool_dir, max_bytes=BIG, segment_bytes=4096, fsync=False)
    spool.open()
    total = 20_000
    got: list[int] = []

    def deliver() -> None:
        rng = random.Random(7)
        while len(got) < total:
            records = spool.read(rng.randint(1, 300))
            if not records:
                continue
            if rng.random() < 0.2:
                spool.rewind()
                continue
            got.extend(numbers(records))
            spool.commit(records[-1].next)

    reader = threading.Thread(target=deliver)
    reader.start()
    try:
        for start in range(0, total, 50):
            spool.append([batch(start, 20), batch(start + 20, 30)])
        reader.join(20)
        assert got == list(range(total))
        assert spool.stats.pending_points == 0
        assert len(segment_files(spool_dir)) == 1
    finally:
        spool.close()


# ---------------------------------------------------------------------- segments


def test_segments_roll_and_commit_deletes_spent_ones(spool_dir: Path) -> None:
    size = record_size(batch(0, 5))
    spool = Spool(spool_dir, max_bytes=BIG, segment_bytes=2 * size, fsync=False)
    spool.open()
    try:
        for i in range(10):
            spool.append([batch(5 * i, 5)])
        files = segment_files(spool_dir)
        assert [f.name for f in files] == [segment_name(i) for i in range(5)]
        assert spool.stats.segments == 5

        records = spool.read(25)  # five records: segments 0, 1 and half of 2
        spool.commit(records[-1].next)
        assert [f.name for f in segment_files(spool_dir)] == [segment_name(i) for i in (2, 3, 4)]
        assert spool.stats.pending_points == 25

        spool.commit(spool.read(1000)[-1].next)
        # The segment being written is kept even when fully delivered.
        assert [f.name for f in segment_files(spool_dir)] == [segment_name(4)]
        assert spool.stats.pending_points == 0
        assert spool.stats.oldest_pending_at is None
        spool.append([batch(50, 5)])
        assert numbers(read_all(spool)) == list(range(50, 55))
    finally:
        spool.close()


@pytest.mark.parametrize("options", [{"max_bytes": 0}, {"max_bytes": 100, "segment_bytes": 0}])
def test_sizes_must_be_positive(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        Spool(Path("x"), **options)  # type: ignore[arg-type]


def test_default_segment_size() -> None:
    assert Spool(Path("x"), max_bytes=1 << 30).segment_bytes == 64 << 20
    assert Spool(Path("x"), max_bytes=80 << 20).segment_bytes == 10 << 20


def test_reading_across_segments_in_one_call(spool_dir: Path) -> None:
    spool = Spool(spool_dir, max_bytes=BIG, segment_bytes=1, fsync=False)
    spool.open()
    try:
        for i in range(6):
            spool.append([batch(i * 2, 2)])
        records = spool.read(1000)
        assert numbers(records) == list(range(12))
        assert [r.position.segment for r in records] == list(range(6))
    finally:
        spool.close()


# ---------------------------------------------------------------------- torn and corrupt data


def test_torn_last_record_at_every_offset(spool_dir: Path) -> None:
    spool = Spool(spool_dir, max_bytes=BIG, fsync=False)
    spool.open()
    spool.append([batch(0, 3)])
    spool.append([batch(3, 2)])
    spool.commit(spool.read(3)[-1].next)  # a committed cursor must survive recovery
    spool.append([batch(5, 3, pad=7)])
    spool.close()
    (seg,) = segment_files(spool_dir)
    whole = seg.read_bytes()
    last_start = len(whole) - record_size(batch(5, 3, pad=7))

    for cut in range(last_start, len(whole)):
        seg.write_bytes(whole[:cut])
        again = Spool(spool_dir, max_bytes=BIG, fsync=False)
        again.open()
        try:
            assert again.stats.torn_bytes_discarded == cut - last_start
            assert again.stats.pending_points == 2
            assert numbers(read_all(again)) == [3, 4]
            assert seg.stat().st_size == last_start
            again.append([batch(100, 1)])
            again.rewind()
            assert numbers(read_all(again)) == [3, 4, 100]
        finally:
            again.close()


def test_corrupt_crc_in_last_segment_is_cut_at_open(opened: Spool) -> None:
    opened.append([batch(0, 3)])
    opened.append([batch(3, 3)])
    opened.close()
    (seg,) = segment_files(opened.path)
    data = bytearray(seg.read_bytes())
    data[-5] ^= 0x40  # inside the last record's payload
    seg.write_bytes(bytes(data))
    spool = reopen(opened)
    try:
        assert spool.stats.torn_bytes_discarded == record_size(batch(3, 3))
        assert numbers(read_all(spool)) == [0, 1, 2]
    finally:
        spool.close()


def test_corrupt_record_in_sealed_segment_costs_that_record(
    spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    size = record_size(batch(0, 4))
    spool = Spool(spool_dir, max_bytes=BIG, segment_bytes=3 * size, fsync=False)
    spool.open()
    for i in range(6):
        spool.append([batch(4 * i, 4)])
    spool.close()
    first = segment_files(spool_dir)[0]
    data = bytearray(first.read_bytes())
    data[size + HEADER_SIZE + 20] ^= 0xFF  # payload of the second record: header still valid
    first.write_bytes(bytes(data))

    spool = Spool(spool_dir, max_bytes=BIG, segment_bytes=3 * size, fsync=False)
    spool.open()
    try:
        assert spool.stats.pending_points == 24  # headers alone cannot tell yet
        with caplog.at_level(logging.ERROR):
            records = read_all(spool)
        assert numbers(records) == list(range(4)) + list(range(8, 24))
        assert f"corrupt record in {segment_name(0)} at offset {size}" in caplog.text
        stats = spool.stats
        assert stats.corrupt_bytes_skipped == size
        assert stats.corrupt_records_skipped == 1
        assert stats.pending_points == 20
        spool.commit(records[-1].next)
        assert spool.stats.pending_points == 0
        assert spool.stats.pending_bytes == 0
        assert [f.name for f in segment_files(spool_dir)] == [segment_name(1)]
    finally:
        spool.close()


def test_garbage_header_in_sealed_segment_is_found_at_open(spool_dir: Path) -> None:
    size = record_size(batch(0, 4))
    spool = Spool(spool_dir, max_bytes=BIG, segment_bytes=2 * size, fsync=False)
    spool.open()
    for i in range(4):
        spool.append([batch(4 * i, 4)])
    spool.close()
    first = segment_files(spool_dir)[0]
    data = bytearray(first.read_bytes())
    data[size] = 0  # magic byte of the second record
    first.write_bytes(bytes(data))

    spool = Spool(spool_dir, max_bytes=BIG, segment_bytes=2 * size, fsync=False)
    spool.open()
    try:
        assert spool.stats.corrupt_bytes_skipped == size
        assert spool.stats.pending_points == 12
        assert numbers(read_all(spool)) == [0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15]
    finally:
        spool.close()


def test_failed_write_is_rolled_back(opened: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = reopen(opened, fsync=True)
    try:
        opened.append([batch(0, 2)])

        def broken(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(spool_module, "_sync", broken)
        with pytest.raises(OSError):
            opened.append([batch(2, 2)])
        monkeypatch.undo()
        opened.append([batch(4, 2)])
        assert numbers(read_all(opened)) == [0, 1, 4, 5]
        assert opened.stats.pending_points == 4
    finally:
        opened.close()


# ---------------------------------------------------------------------- size cap


def capped(spool_dir: Path) -> Spool:
    # 4 records of 10 points per segment (2216 bytes); 11 records fit, 12 do not.
    assert record_size(batch(0, 10)) == 554
    spool = Spool(spool_dir, max_bytes=6500, segment_bytes=2000, fsync=False)
    spool.open()
    return spool


def test_cap_drops_oldest_segments_and_counts_exactly(
    spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = capped(spool_dir)
    try:
        for i in range(11):
            spool.append([batch(10 * i, 10)])
        assert spool.stats.dropped_points == 0
        with caplog.at_level(logging.WARNING):
            spool.append([batch(110, 10)])  # 6648 bytes > 6500: segment 0 goes
        assert "dropped 40 undelivered points" in caplog.text
        stats = spool.stats
        assert (stats.dropped_points, stats.dropped_points_total) == (40, 40)
        assert stats.pending_points == 80
        assert stats.disk_bytes <= 6500
        assert stats.pending_bytes == stats.disk_bytes == 8 * 554  # nothing delivered yet
        assert numbers(read_all(spool)) == list(range(40, 120))
    finally:
        spool.close()


def test_cap_counts_only_what_was_not_delivered(spool_dir: Path) -> None:
    spool = capped(spool_dir)
    try:
        for i in range(12):
            spool.append([batch(10 * i, 10)])
        spool.commit(spool.read(20)[-1].next)  # two of segment 1's four records
        for i in range(12, 16):
            spool.append([batch(10 * i, 10)])
        stats = spool.stats
        assert stats.dropped_points == 40 + 20
        assert stats.pending_points == 160 - 60 - 20
        assert numbers(read_all(spool)) == list(range(80, 160))
    finally:
        spool.close()
    again = Spool(spool_dir, max_bytes=6500, segment_bytes=2000, fsync=False)
    again.open()
    try:
        assert again.stats.dropped_points == 0
        assert again.stats.dropped_points_total == 60
        assert again.stats.pending_points == 80
    finally:
        again.close()


def test_cap_moves_the_read_position_past_dropped_records(spool_dir: Path) -> None:
    spool = capped(spool_dir)
    try:
        for i in range(8):
            spool.append([batch(10 * i, 10)])
        in_flight = spool.read(10)  # delivering record 0 while the cap strikes
        for i in range(8, 12):
            spool.append([batch(10 * i, 10)])
        assert spool.stats.dropped_points == 40
        spool.commit(in_flight[-1].next)  # already dropped: a no-op
        assert spool.stats.pending_points == 80
        assert numbers(read_all(spool)) == list(range(40, 120))
    finally:
        spool.close()


def test_cap_never_deletes_the_segment_being_written(spool_dir: Path) -> None:
    spool = Spool(spool_dir, max_bytes=100, segment_bytes=10_000, fsync=False)
    spool.open()
    try:
        spool.append([batch(0, 10)])
        assert spool.stats.disk_bytes > 100
        assert numbers(read_all(spool)) == list(range(10))
    finally:
        spool.close()


# ---------------------------------------------------------------------- stats


def test_stats(opened: Spool) -> None:
    stats = opened.stats
    assert (stats.pending_points, stats.pending_bytes, stats.oldest_pending_at) == (0, 0, None)
    assert stats.segments == 1
    opened.append([batch(0, 3)])
    opened.append([batch(3, 3)])
    stats = opened.stats
    assert stats.pending_points == 6
    assert stats.pending_bytes == stats.disk_bytes == 2 * record_size(batch(0, 3))
    records = opened.read(100)
    assert stats.oldest_pending_at == records[0].written_at
    opened.commit(records[0].next)
    assert opened.stats.oldest_pending_at == records[1].written_at
    assert opened.stats.pending_bytes == record_size(batch(0, 3))


# ---------------------------------------------------------------------- model-based


class SpoolMachine(RuleBasedStateMachine):
    """Random appends, reads, commits, rewinds and reopens against a list model."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="spool-model-"))
        self.options: dict[str, int | bool] = {}
        self.spool: Spool | None = None
        self.appended: list[bytes] = []
        self.index: dict[bytes, int] = {}
        self.delivered: list[bytes] = []
        self.unacked: list[Record] = []
        self.last_read = -1

    @initialize(
        segment_bytes=st.integers(40, 700),
        max_bytes=st.sampled_from([BIG, 1200, 3000]),
    )
    def setup(self, segment_bytes: int, max_bytes: int) -> None:
        self.options = {"max_bytes": max_bytes, "segment_bytes": segment_bytes, "fsync": False}
        self.spool = Spool(self.dir, **self.options)  # type: ignore[arg-type]
        self.spool.open()

    @property
    def s(self) -> Spool:
        assert self.spool is not None
        return self.spool

    @rule(sizes=st.lists(st.integers(0, 6), min_size=1, max_size=4), pad=st.integers(0, 60))
    def append(self, sizes: list[int], pad: int) -> None:
        batches = []
        for size in sizes:
            start = len(self.appended)
            points = batch(start, size, pad)
            for p in points:
                self.index[p] = len(self.appended)
                self.appended.append(p)
            batches.append(points)
        self.s.append(batches)

    @rule(max_points=st.integers(1, 25), max_bytes=st.none() | st.integers(1, 400))
    def read(self, max_points: int, max_bytes: int | None) -> None:
        records = self.s.read(max_points, max_bytes)
        if len(records) > 1:
            assert sum(len(r.points) for r in records) <= max_points
            if max_bytes is not None:
                assert sum(len(p) for r in records for p in r.points) <= max_bytes
        for r in records:
            for p in r.points:
                assert self.index[p] > self.last_read, "out of order or repeated"
                self.last_read = self.index[p]
        self.unacked.extend(records)

    @precondition(lambda self: self.unacked)
    @rule(data=st.data())
    def commit(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, len(self.unacked) - 1))
        cursor = self.s.committed
        self.s.commit(self.unacked[i].next)
        for r in self.unacked[: i + 1]:
            # Records the cap dropped while in flight are behind the cursor already.
            if r.position >= cursor:
                self.delivered.extend(r.points)
        del self.unacked[: i + 1]

    @rule()
    def rewind(self) -> None:
        self.s.rewind()
        self.unacked = []
        self.last_read = self._last_delivered()

    @rule()
    def reopen(self) -> None:
        self.s.close()
        self.spool = Spool(self.dir, **self.options)  # type: ignore[arg-type]
        self.spool.open()
        self.unacked = []
        self.last_read = self._last_delivered()

    def _last_delivered(self) -> int:
        return self.index[self.delivered[-1]] if self.delivered else -1

    @invariant()
    def counts_add_up(self) -> None:
        if self.spool is None:
            return
        stats = self.s.stats
        total = stats.pending_points + len(self.delivered) + stats.dropped_points_total
        assert total == len(self.appended)
        assert (stats.pending_points == 0) == (stats.oldest_pending_at is None)

    def teardown(self) -> None:
        try:
            if self.spool is not None:
                self._check_everything()
                self.s.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _check_everything(self) -> None:
        self.s.rewind()
        pending = [p for r in read_all(self.s, 7) for p in r.points]
        assert len(pending) == self.s.stats.pending_points
        assert not set(pending) & set(self.delivered), "delivered twice"
        for seq in (self.delivered, pending):
            idx = [self.index[p] for p in seq]
            assert idx == sorted(set(idx)), "order not kept"
        kept = set(pending) | set(self.delivered)
        dropped = [i for i, p in enumerate(self.appended) if p not in kept]
        assert len(dropped) == self.s.stats.dropped_points_total
        if dropped and pending:
            assert max(dropped) < self.index[pending[0]], "dropped newer data than it kept"


SpoolMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSpoolModel = SpoolMachine.TestCase


# ---------------------------------------------------------------------- appender


class CountingSpool(Spool):
    def __init__(self, path: Path, **kwargs: object) -> None:
        super().__init__(path, **kwargs)  # type: ignore[arg-type]
        self.calls: list[int] = []
        self.fail_next = False

    def append(self, batches: Sequence[Sequence[bytes]]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise OSError(28, "No space left on device")
        self.calls.append(len(batches))
        super().append(batches)


@pytest.fixture
def counting(spool_dir: Path) -> Iterator[CountingSpool]:
    spool = CountingSpool(spool_dir, max_bytes=BIG, fsync=False)
    spool.open()
    yield spool
    spool.close()


async def test_appender_groups_concurrent_appends(counting: CountingSpool) -> None:
    appender = SpoolAppender(counting, max_delay=0.05)
    await appender.start()
    try:
        await asyncio.gather(*(appender.append(batch(i * 3, 3)) for i in range(50)))
        assert len(counting.calls) < 5
        assert sum(counting.calls) == 50
        assert appender.data_available.is_set()
        assert counting.stats.pending_points == 150
        assert numbers(read_all(counting)) == list(range(150))
    finally:
        await appender.stop()


async def test_appender_respects_max_points(counting: CountingSpool) -> None:
    appender = SpoolAppender(counting, max_delay=3600.0, max_points=10)
    await appender.start()
    try:
        # A full group goes at once instead of waiting out max_delay (an hour: the guard
        # only ends a hang)
        await asyncio.wait_for(asyncio.gather(*(appender.append(batch(i * 5, 5)) for i in range(6))), 10)
        assert counting.calls == [2, 2, 2]
    finally:
        await appender.stop()


async def test_appender_accepts_groups_of_one_point(counting: CountingSpool) -> None:
    # an hour-long window: a writer that waited instead of writing each full group at once
    # would hang, and the guard (which bounds nothing but a hang) would end the test
    appender = SpoolAppender(counting, max_delay=3600.0, max_points=1)
    await appender.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(appender.append(batch(i, 1)) for i in range(3))), 10)
        assert counting.calls == [1, 1, 1]
    finally:
        await appender.stop()
    with pytest.raises(ValueError, match="max_points"):
        SpoolAppender(counting, max_points=0)


async def test_appender_waits_for_company_until_the_group_is_full(counting: CountingSpool) -> None:
    # Under a second of window: a writer that skipped short windows would write alone.
    appender = SpoolAppender(counting, max_delay=0.9, max_points=3)
    await appender.start()
    try:
        for n in range(2):  # the second time proves that a written group left the count
            first = appender.append_nowait(batch(3 * n, 1))
            for _ in range(5):  # let the writer take it and start waiting for more
                await asyncio.sleep(0)
            assert counting.calls == [2] * n and not first.done()
            await asyncio.gather(first, appender.append(batch(3 * n + 1, 2)))  # full: written at once
        assert counting.calls == [2, 2]
        assert numbers(read_all(counting)) == list(range(6))
    finally:
        await appender.stop()


async def test_urgent_append_ends_a_window_already_waiting(counting: CountingSpool) -> None:
    appender = SpoolAppender(counting, max_delay=3600.0)
    await appender.start()
    try:
        relaxed = appender.append_nowait(batch(0, 2))
        for _ in range(5):  # let the writer take it and start waiting for more
            await asyncio.sleep(0)
        assert counting.calls == [] and not relaxed.done()
        # the guard only ends a hang: an hour-long window would otherwise hold both
        await asyncio.wait_for(asyncio.gather(relaxed, appender.append(batch(2, 1), urgent=True)), 10)
        assert counting.calls == [2]  # the waiting append went along in the same write
    finally:
        await appender.stop()


async def test_appender_stop_drains_the_queue(counting: CountingSpool) -> None:
    durable: list[int] = []
    appender = SpoolAppender(counting, max_delay=10.0, on_durable=durable.append)
    await appender.start()
    futures = [appender.append_nowait(batch(i, 1)) for i in range(20)]
    await appender.stop()
    assert all(f.done() and f.exception() is None for f in futures)
    assert sum(durable) == 20
    assert counting.stats.pending_points == 20
    with pytest.raises(RuntimeError):
        appender.append_nowait(batch(0, 1))


async def test_appender_retries_a_failed_write_and_keeps_going(counting: CountingSpool) -> None:
    appender = SpoolAppender(counting, max_delay=0.0, retry_min=0.001)
    await appender.start()
    try:
        counting.fail_next = True
        await appender.append(batch(0, 2))
        await appender.append(batch(2, 2))
        assert appender.groups_failed == 0
        assert appender.write_errors == 1
        assert appender.failing_since is None
        assert numbers(read_all(counting)) == [0, 1, 2, 3]
    finally:
        await appender.stop()


async def test_cancelled_caller_does_not_unwrite_its_points(counting: CountingSpool) -> None:
    appender = SpoolAppender(counting, max_delay=0.05)
    await appender.start()
    try:
        task = asyncio.create_task(appender.append(batch(0, 3)))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await appender.append(batch(3, 1))
        assert numbers(read_all(counting)) == [0, 1, 2, 3]
    finally:
        await appender.stop()


async def test_appender_empty_append_is_immediate(counting: CountingSpool) -> None:
    appender = SpoolAppender(counting)
    await appender.start()
    try:
        await appender.append([])
        assert counting.calls == []
    finally:
        await appender.stop()


async def test_appender_without_delay_and_refusing_appends_when_not_running(counting: CountingSpool) -> None:
    # max_delay 0: every batch is written at once, no waiting to group
    appender = SpoolAppender(counting, max_delay=0)
    with pytest.raises(RuntimeError, match="not running"):
        appender.append_nowait(batch(0, 1))  # not started yet
    await appender.start()
    await appender.append(batch(0, 3))
    await appender.stop()
    assert numbers(read_all(counting)) == [0, 1, 2]
    with pytest.raises(RuntimeError, match="not running"):
        appender.append_nowait(batch(3, 1))
