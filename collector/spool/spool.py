"""Durable on-disk queue of line-protocol points between the collectors and InfluxDB.

A point counts as accepted only once it is in a segment file and fsynced. One writer
task reads the spool in order, delivers to InfluxDB and commits the position up to
which delivery succeeded. Delivery is at-least-once: anything after the committed
cursor is sent again after a restart, which InfluxDB absorbs because a point's series
and timestamp identify it. See docs/spool.md for the format and the recovery rules.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from collector.spool.format import (
    HEADER_SIZE,
    CorruptRecord,
    Hole,
    Scan,
    decode_points,
    encode_record,
    find_record,
    point_bytes,
    read_header,
    scan_headers,
    verify_segment,
)

log = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".seg"
CURSOR_FILE = "cursor"
CURSOR_TMP = "cursor.tmp"
LOCK_FILE = "lock"
DEFAULT_MAX_SEGMENT_BYTES = 64 << 20

_READ_CHUNK_MIN = 8 << 10
_READ_CHUNK_MAX = 4 << 20
_CURSOR_VERSION = 1


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """Where a record starts, or the read cursor: a segment and a byte offset in it."""

    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class Record:
    position: Position  # start of this record
    next: Position  # just after it: commit this to mark the record delivered
    points: list[bytes]
    written_at: float  # unix seconds when appended


@dataclass
class SpoolStats:
    pending_points: int
    pending_bytes: int  # on disk, framing included
    oldest_pending_at: float | None
    dropped_points: int  # by the size cap since this process opened the spool
    segments: int
    torn_bytes_discarded: int  # cut off the last segment at open
    dropped_points_total: int = 0  # by the size cap over the spool's whole life
    disk_bytes: int = 0
    corrupt_bytes_skipped: int = 0  # unreadable bytes stepped over
    corrupt_records_skipped: int = 0  # corrupt stretches stepped over, each one record or more


class SpoolError(Exception):
    pass


class SpoolLockedError(SpoolError):
    """Another process (or another Spool object) has this spool directory open."""


@dataclass
class _Segment:
    seq: int
    path: Path
    end: int  # records tile [0, end); readers never look past it
    size: int  # bytes in the file, what the size cap counts
    points: int  # points in [0, end)
    #: corrupt stretches: where one starts -> the valid record after it (or ``end``)
    holes: dict[int, int] = field(default_factory=dict)


@dataclass
class _Budget:
    points: int
    point_bytes: int


@dataclass(frozen=True, slots=True)
class _Inflight:
    """A record handed out by read() and not committed yet."""

    start: Position
    next: Position
    points: int
    size: int


def segment_name(seq: int) -> str:
    return f"{seq:020d}{SEGMENT_SUFFIX}"


class Spool:
    """Segmented append-only log with a committed read cursor and a size cap.

    ``append`` is meant for one thread (the appender's executor) while ``read``,
    ``commit`` and ``rewind`` run on another; every method is safe to call from
    any thread. A reader never waits for an append's fsync.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int,
        segment_bytes: int | None = None,
        fsync: bool = True,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        if segment_bytes is None:
            segment_bytes = max(1, min(DEFAULT_MAX_SEGMENT_BYTES, max_bytes // 8))
        if segment_bytes <= 0:
            raise ValueError(f"segment_bytes must be positive, got {segment_bytes}")
        self._dir = Path(path)
        self._max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        # Lock order: _append_lock, then _cursor_lock, then _lock. _lock guards all
        # state shared with readers and is never held across an append's write or fsync.
        self._append_lock = threading.Lock()
        self._cursor_lock = threading.Lock()
        self._lock = threading.Lock()
        self._opened = False
        self._lock_fd: int | None = None
        self._segments: dict[int, _Segment] = {}  # ascending seq; the last one is active
        self._active: _Segment | None = None
        self._write_fd: int | None = None
        self._write_offset = 0
        self._roll_next = False
        self._cursor = Position(0, 0)
        self._read_pos = Position(0, 0)
        self._inflight: deque[_Inflight] = deque()
        self._pending_points = 0
        self._pending_bytes = 0
        self._oldest_at: float | None = None  # cache; None while pending means "look it up"
        self._dropped = 0
        self._dropped_total = 0
        self._torn = 0
        self._corrupt = 0
        self._corrupt_records = 0
        self._reindexed = False  # a read found a corrupt stretch (see read())

    # ------------------------------------------------------------------ lifecycle

    @property
    def path(self) -> Path:
        return self._dir

    @property
    def segment_bytes(self) -> int:
        return self._segment_bytes

    @property
    def committed(self) -> Position:
        """The committed cursor: everything before it was delivered."""
        with self._lock:
            return self._cursor

    def open(self) -> None:
        """Create the directory if needed and recover whatever a crash left behind."""
        if self._opened:
            raise SpoolError(f"spool {self._dir} is already open")
        _make_durable_dir(self._dir, fsync=self._fsync)
        self._lock_fd = _lock_directory(self._dir)
        try:
            with self._lock:
                self._recover()
        except BaseException:
            self._release_files()
            raise
        self._opened = True

    def close(self) -> None:
        with self._append_lock, self._cursor_lock, self._lock:
            if not self._opened:
                return
            self._opened = False
            self._release_files()

    def __enter__(self) -> Spool:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _release_files(self) -> None:
        for fd in (self._write_fd, self._lock_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._write_fd = self._lock_fd = None

    def _check_open(self) -> None:
        if not self._opened:
            raise SpoolError(f"spool {self._dir} is not open")

    # ------------------------------------------------------------------ recovery

    def _recover(self) -> None:
        self._reset_state()
        (self._dir / CURSOR_TMP).unlink(missing_ok=True)
        saved, self._dropped_total = self._load_cursor()
        seqs = self._list_segments()
        if saved is not None:
            # Segments wholly before the cursor were delivered; a crash between the
            # cursor write and their unlink leaves them behind.
            for seq in [s for s in seqs if s < saved.segment]:
                (self._dir / segment_name(seq)).unlink(missing_ok=True)
            seqs = [s for s in seqs if s >= saved.segment]
        if not seqs:
            seqs = [saved.segment + 1 if saved is not None else 0]
            os.close(self._create_segment_file(seqs[0]))
        for seq in seqs[:-1]:
            self._segments[seq] = self._scan_sealed(seq)
        self._segments[seqs[-1]] = self._recover_last(seqs[-1])
        self._active = self._segments[seqs[-1]]
        self._cursor = self._read_pos = self._place_cursor(saved)
        for seq in [s for s in self._segments if s < self._cursor.segment]:
            self._segments.pop(seq).path.unlink(missing_ok=True)
        self._pending_points, self._pending_bytes = self._pending_from(self._cursor)
        self._write_fd = os.open(self._active.path, os.O_WRONLY)
        self._write_offset = self._active.end

    def _reset_state(self) -> None:
        self._segments = {}
        self._inflight.clear()
        self._roll_next = False
        self._oldest_at = None
        self._dropped = self._torn = self._corrupt = self._corrupt_records = 0

    def _list_segments(self) -> list[int]:
        seqs = []
        for entry in self._dir.iterdir():
            if entry.suffix == SEGMENT_SUFFIX and entry.stem.isdigit():
                seqs.append(int(entry.stem))
        return sorted(seqs)

    def _load_cursor(self) -> tuple[Position | None, int]:
        try:
            raw = (self._dir / CURSOR_FILE).read_bytes()
        except FileNotFoundError:
            return None, 0
        try:
            doc = json.loads(raw)
            pos = Position(int(doc["segment"]), int(doc["offset"]))
            return pos, int(doc.get("dropped_total", 0))
        except (ValueError, KeyError, TypeError):
            # Renames are atomic, so this means outside damage. Starting from the
            # oldest segment re-sends data (harmless) instead of losing it.
            log.error("spool %s: unreadable cursor file, replaying from the start", self._dir)
            return None, 0

    def _scan_sealed(self, seq: int) -> _Segment:
        """Index a segment that is no longer written to, by its headers only, unless they
        show damage: then every record is checked, to find exactly which ones are bad."""
        path = self._dir / segment_name(seq)
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            scan = scan_headers(fd, 0, size)
            if scan.error is None:
                return _Segment(seq, path, scan.end, size, scan.points)
            # A damaged length field sends the header walk astray before it notices, so
            # where it stopped is not where the damage is.
            checked = verify_segment(fd, size)
        finally:
            os.close(fd)
        seg = _Segment(seq, path, size, size, checked.points)
        holes = list(checked.holes)
        if checked.tail is not None:
            holes.append(Hole(checked.end, size, checked.tail))
        self._add_holes(seg, holes)
        return seg

    def _recover_last(self, seq: int) -> _Segment:
        """Verify the segment a crash may have torn: step over corrupt records, and cut it
        after its last good one (what follows that is an append the crash interrupted)."""
        path = self._dir / segment_name(seq)
        fd = os.open(path, os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            checked = verify_segment(fd, size)
            end = checked.end
            if end < size:
                log.warning(
                    "spool %s: discarding %d bytes of an incomplete or corrupt record at the "
                    "end of %s (offset %d)",
                    self._dir,
                    size - end,
                    path.name,
                    end,
                )
                os.ftruncate(fd, end)
                if self._fsync:
                    _sync(fd)
                self._torn += size - end
        finally:
            os.close(fd)
        seg = _Segment(seq, path, end, end, checked.points)
        self._add_holes(seg, checked.holes)
        return seg

    def _add_holes(self, seg: _Segment, holes: Sequence[Hole]) -> None:
        """Remember corrupt stretches of ``seg`` so every walk steps over them, and count them."""
        for hole in holes:
            if seg.holes.get(hole.start) == hole.end:
                continue  # known already
            seg.holes[hole.start] = hole.end
            self._corrupt_records += 1
            self._corrupt += hole.end - hole.start
            log.error(
                "spool %s: corrupt record in %s at offset %d (%s); skipped %d bytes, up to %s",
                self._dir,
                seg.path.name,
                hole.start,
                hole.reason,
                hole.end - hole.start,
                f"the next valid record at offset {hole.end}" if hole.end < seg.end else "the end",
            )

    def _place_cursor(self, saved: Position | None) -> Position:
        if saved is None or saved.segment not in self._segments:
            return self._normalize(Position(next(iter(self._segments)), 0))
        seg = self._segments[saved.segment]
        offset = saved.offset
        if offset > seg.end:
            log.warning(
                "spool %s: committed cursor %s is past the data in %s; using its end",
                self._dir,
                saved,
                seg.path.name,
            )
            offset = seg.end
        boundary = self._scan(seg, 0, offset).end
        if boundary != offset:
            log.warning(
                "spool %s: committed cursor %s is not at a record start; resuming at offset %d",
                self._dir,
                saved,
                boundary,
            )
        return self._normalize(Position(seg.seq, boundary))

    def _scan(self, seg: _Segment, start: int, stop: int) -> Scan:
        fd = os.open(seg.path, os.O_RDONLY)
        try:
            return scan_headers(fd, start, stop, holes=seg.holes)
        finally:
            os.close(fd)

    def _pending_from(self, cursor: Position) -> tuple[int, int]:
        """Points and bytes at and after ``cursor``, which is a record start."""
        points = nbytes = 0
        for seg in self._segments.values():
            if seg.seq > cursor.segment:
                points += seg.points
                nbytes += seg.end
        seg = self._segments[cursor.segment]
        before, _ = self._count_in(seg, 0, cursor.offset)
        return points + seg.points - before, nbytes + seg.end - cursor.offset

    # ------------------------------------------------------------------ positions

    def _next_seq(self, seq: int) -> int | None:
        for candidate in self._segments:
            if candidate > seq:
                return candidate
        return None

    def _normalize(self, pos: Position) -> Position:
        """The canonical form of a position: the end of a sealed segment is the next one's
        start, and a position in a corrupt stretch is the valid record after it."""
        while True:
            seg = self._segments.get(pos.segment)
            if seg is not None and seg.holes:
                pos = Position(pos.segment, _skip_holes(seg, pos.offset))
            if seg is None or pos.offset < seg.end or seg is self._active:
                return pos
            nxt = self._next_seq(seg.seq)
            if nxt is None:
                return pos
            pos = Position(nxt, 0)

    def _end(self) -> Position:
        assert self._active is not None
        return Position(self._active.seq, self._active.end)

    def _count_in(self, seg: _Segment, start: int, stop: int) -> tuple[int, int]:
        """Points and bytes of the records in ``[start, stop)``, which must be record bounds."""
        if start >= stop:
            return 0, 0
        scan = self._scan(seg, start, stop)
        if scan.error is not None:
            raise ValueError(f"{Position(seg.seq, stop)} is not a record boundary")
        return scan.points, stop - start

    def _count_range(self, start: Position, stop: Position) -> tuple[int, int]:
        points = nbytes = 0
        pos = start
        while pos < stop:
            seg = self._segments[pos.segment]
            last = seg.seq == stop.segment
            p, b = self._count_in(seg, pos.offset, stop.offset if last else seg.end)
            points += p
            nbytes += b
            nxt = self._next_seq(seg.seq)
            if last or nxt is None:
                break
            pos = Position(nxt, 0)
        return points, nbytes

    # ------------------------------------------------------------------ append

    def append(self, batches: Sequence[Sequence[bytes]]) -> None:
        """Write one record per non-empty batch, then one fsync; durable on return.

        Either every batch is durable or the call raises; after a raise some of
        them may still be on disk and get delivered (at-least-once).
        """
        written_at = time.time()
        records = [encode_record(batch, written_at) for batch in batches if len(batch)]
        if not records:
            return
        data = records[0] if len(records) == 1 else b"".join(records)
        points = sum(len(batch) for batch in batches)
        with self._append_lock:
            self._check_open()
            seg = self._segment_for_append()
            offset = self._write_offset
            try:
                _pwrite_all(self._write_fd, data, offset)  # type: ignore[arg-type]
                if self._fsync:
                    _sync(self._write_fd)  # type: ignore[arg-type]
            except BaseException:
                self._undo_write(seg, offset)
                raise
            self._write_offset = offset + len(data)
            with self._lock:
                self._publish(seg, points, len(data), written_at)
                dropped, doomed = self._enforce_cap()
            if doomed:
                self._after_drop(dropped, doomed)

    def _publish(self, seg: _Segment, points: int, nbytes: int, written_at: float) -> None:
        if self._pending_points == 0:
            self._oldest_at = written_at
        seg.end = seg.size = self._write_offset
        seg.points += points
        self._pending_points += points
        self._pending_bytes += nbytes

    def _segment_for_append(self) -> _Segment:
        seg = self._active
        assert seg is not None
        if not self._roll_next and (self._write_offset < self._segment_bytes or seg.end == 0):
            return seg
        seq = seg.seq + 1
        fd = self._create_segment_file(seq)
        new = _Segment(seq, self._dir / segment_name(seq), 0, 0, 0)
        with self._lock:
            self._segments[seq] = new
            self._active = new
            self._cursor = self._normalize(self._cursor)
            self._read_pos = self._normalize(self._read_pos)
        old_fd, self._write_fd = self._write_fd, fd
        if old_fd is not None:
            os.close(old_fd)
        self._write_offset = 0
        self._roll_next = False
        return new

    def _create_segment_file(self, seq: int) -> int:
        path = self._dir / segment_name(seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            if self._fsync:
                # The new name must survive a power loss along with the data fsynced into it.
                _sync_dir(self._dir)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)  # or the next try would find it and fail forever
            raise
        return fd

    def _undo_write(self, seg: _Segment, offset: int) -> None:
        """Cut a failed write off so the next append does not land behind garbage."""
        try:
            os.ftruncate(self._write_fd, offset)  # type: ignore[arg-type]
        except OSError:
            log.exception("spool %s: cannot truncate %s after a failed write", self._dir, seg.path)
            self._roll_next = True
            with contextlib.suppress(OSError), self._lock:
                seg.size = max(seg.size, os.fstat(self._write_fd).st_size)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ size cap

    def _enforce_cap(self) -> tuple[int, list[Path]]:
        """Drop whole oldest segments until the spool fits in max_bytes again."""
        total = sum(seg.size for seg in self._segments.values())
        dropped = 0
        doomed: list[Path] = []
        while total > self._max_bytes and len(self._segments) > 1:
            oldest = next(iter(self._segments.values()))
            points, nbytes = self._pending_in_oldest(oldest)
            del self._segments[oldest.seq]
            total -= oldest.size
            dropped += points
            self._pending_points -= points
            self._pending_bytes -= nbytes
            doomed.append(oldest.path)
        if doomed:
            first = Position(next(iter(self._segments)), 0)
            if self._cursor < first:
                self._cursor = self._normalize(first)
                self._oldest_at = None
            if self._read_pos < self._cursor:
                self._read_pos = self._cursor
            while self._inflight and self._inflight[0].start < self._cursor:
                self._inflight.popleft()
            self._dropped += dropped
            self._dropped_total += dropped
        return dropped, doomed

    def _pending_in_oldest(self, oldest: _Segment) -> tuple[int, int]:
        if oldest.seq < self._cursor.segment:
            return 0, 0
        # The cursor is in the oldest segment, so every other segment is wholly pending
        # and the running totals give this one's share without reading it.
        later = [seg for seg in self._segments.values() if seg is not oldest]
        return (
            self._pending_points - sum(seg.points for seg in later),
            self._pending_bytes - sum(seg.end for seg in later),
        )

    def _after_drop(self, dropped: int, doomed: list[Path]) -> None:
        log.warning(
            "spool %s: over its %d byte cap, dropped %d undelivered points in %d oldest segment(s)",
            self._dir,
            self._max_bytes,
            dropped,
            len(doomed),
        )
        # The append itself is durable already, so nothing here may fail it: a caller
        # told otherwise would append the same points again.
        try:
            self._persist_cursor()
        except OSError:
            # Harmless: a cursor inside a deleted segment resolves to the oldest one left.
            log.exception("spool %s: cannot write the cursor after dropping data", self._dir)
        for path in doomed:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                log.exception("spool %s: cannot delete %s", self._dir, path.name)

    # ------------------------------------------------------------------ read

    def read(self, max_points: int, max_bytes: int | None = None) -> list[Record]:
        """The next undelivered records after the read position, which moves past them.

        Stops before a record that would exceed ``max_points`` points or ``max_bytes``
        bytes of line protocol, but always returns a pending record if there is one.
        Nothing is consumed until ``commit``.
        """
        if max_points < 1:
            raise ValueError(f"max_points must be at least 1, got {max_points}")
        budget = _Budget(max_points, sys.maxsize if max_bytes is None else max_bytes)
        out: list[Record] = []
        with self._lock:
            self._check_open()
            pos = self._normalize(self._read_pos)
            while budget.points > 0 and budget.point_bytes > 0:
                seg = self._segments[pos.segment]
                if pos.offset < seg.end:
                    offset, stop = self._read_segment(seg, pos.offset, out, budget)
                    pos = Position(seg.seq, offset)
                    if stop:
                        break
                if seg is self._active:
                    break
                pos = self._normalize(pos)
            self._read_pos = pos
            if self._reindexed:
                # records read before a corrupt stretch was found may end where it starts:
                # commits then count from disk
                self._reindexed = False
                self._inflight.clear()
                return out
            # Recorded only once the whole read succeeded, so a failed read cannot
            # leave entries behind that a later read would hand out again.
            self._inflight.extend(
                _Inflight(r.position, r.next, len(r.points), r.next.offset - r.position.offset) for r in out
            )
        return out

    def _read_segment(
        self, seg: _Segment, offset: int, out: list[Record], budget: _Budget
    ) -> tuple[int, bool]:
        """Append records of ``seg`` from ``offset`` to ``out``; return (offset, stop reading)."""
        fd = os.open(seg.path, os.O_RDONLY)
        try:
            buf = b""
            base = offset  # file offset of buf[0]
            while offset < seg.end:
                if seg.holes and (after := _skip_holes(seg, offset)) != offset:
                    offset = after
                    continue
                rel = offset - base
                try:
                    if rel + HEADER_SIZE > len(buf):
                        base, rel = offset, 0
                        buf = os.pread(fd, self._chunk_size(seg.end - offset, budget), offset)
                    header = read_header(buf, rel)
                    if rel + header.size > len(buf):
                        base, rel = offset, 0
                        buf = os.pread(fd, max(header.size, _READ_CHUNK_MIN), offset)
                    if out and (header.count > budget.points or point_bytes(header) > budget.point_bytes):
                        return offset, True
                    points = decode_points(buf, rel, header)
                except CorruptRecord as exc:
                    offset = self._on_bad_record(seg, offset, exc)
                    buf, base = b"", offset
                    continue
                nxt = offset + header.size
                if seg.holes:
                    nxt = _skip_holes(seg, nxt)  # the stretch is delivered with the record before it
                out.append(
                    Record(Position(seg.seq, offset), Position(seg.seq, nxt), points, header.written_at)
                )
                budget.points -= header.count
                budget.point_bytes -= point_bytes(header)
                offset = nxt
                if budget.points <= 0 or budget.point_bytes <= 0:
                    return offset, True
            return offset, False
        finally:
            os.close(fd)

    def _chunk_size(self, remaining: int, budget: _Budget) -> int:
        # Read about what the point budget needs: a small read() must not copy megabytes.
        per_point = self._pending_bytes / self._pending_points if self._pending_points else 256
        wanted = int(budget.points * per_point * 1.25) + HEADER_SIZE
        return min(remaining, max(_READ_CHUNK_MIN, min(wanted, _READ_CHUNK_MAX)))

    def _on_bad_record(self, seg: _Segment, offset: int, exc: Exception) -> int:
        """Step over a record that fails its checks; return where reading goes on.

        Only outside damage gets here (recovery checked the last segment, and readers
        see only fsynced data), so the whole segment is checked again: the header walk
        that counted its points may have been led astray by the same damage.
        """
        fd = os.open(seg.path, os.O_RDONLY)
        try:
            checked = verify_segment(fd, seg.end)
            holes = list(checked.holes)
            if checked.tail is not None:
                holes.append(Hole(checked.end, seg.end, checked.tail))
            if not any(h.start <= offset < h.end for h in holes):
                # cannot happen unless the file changes under us; never read the same bad bytes twice
                nxt = find_record(fd, offset + 1, seg.end)
                holes.append(Hole(offset, seg.end if nxt is None else nxt, str(exc)))
        finally:
            os.close(fd)
        self._add_holes(seg, holes)
        seg.points = checked.points
        self._reindexed = True
        self._cursor = self._normalize(self._cursor)
        self._pending_points, self._pending_bytes = self._pending_from(self._cursor)
        self._oldest_at = None
        return _skip_holes(seg, offset)

    # ------------------------------------------------------------------ commit

    def commit(self, upto: Position) -> None:
        """Mark everything before ``upto`` delivered, durably, and delete spent segments.

        Committing a position at or before the cursor is a no-op (the size cap may
        have moved the cursor past records that were still being delivered).
        """
        with self._cursor_lock:
            with self._lock:
                self._check_open()
                upto = self._normalize(upto)
                if upto <= self._cursor:
                    self._forget_inflight_upto(self._cursor)
                    return
                self._validate_commit(upto)
                points, nbytes = self._delivered_between(self._cursor, upto)
                self._cursor = upto
                if self._read_pos < upto:
                    self._read_pos = upto
                    self._inflight.clear()
                self._pending_points -= points
                self._pending_bytes -= nbytes
                self._oldest_at = None
                spent = [seg for seg in self._segments.values() if seg.seq < upto.segment]
                for seg in spent:
                    del self._segments[seg.seq]
                state = (self._cursor, self._dropped_total)
            self._write_cursor(*state)
        # Only after the cursor is durable: a crash in between must not leave a cursor
        # that points before data which is gone.
        for seg in spent:
            seg.path.unlink(missing_ok=True)

    def _validate_commit(self, upto: Position) -> None:
        seg = self._segments.get(upto.segment)
        if seg is None or upto.offset > seg.end:
            raise ValueError(f"cannot commit {upto}: past the end of the spool ({self._end()})")

    def _forget_inflight_upto(self, pos: Position) -> None:
        while self._inflight and self._inflight[0].next <= pos:
            self._inflight.popleft()

    def _delivered_between(self, start: Position, stop: Position) -> tuple[int, int]:
        """Points and bytes in ``[start, stop)``, from what read() handed out when possible."""
        first: _Inflight | None = None
        last: _Inflight | None = None
        points = nbytes = 0
        while self._inflight and self._inflight[0].next <= stop:
            last = self._inflight.popleft()
            first = first or last
            points += last.points
            nbytes += last.size
        if (
            first is not None
            and last is not None
            and self._normalize(first.start) == start
            and self._normalize(last.next) == stop
        ):
            return points, nbytes
        self._inflight.clear()
        return self._count_range(start, stop)

    def rewind(self) -> None:
        """Move the read position back to the committed cursor, after a failed delivery."""
        with self._lock:
            self._read_pos = self._cursor
            self._inflight.clear()

    def _persist_cursor(self) -> None:
        with self._cursor_lock:
            with self._lock:
                state = (self._cursor, self._dropped_total)
            self._write_cursor(*state)

    def _write_cursor(self, cursor: Position, dropped_total: int) -> None:
        doc = {
            "version": _CURSOR_VERSION,
            "segment": cursor.segment,
            "offset": cursor.offset,
            "dropped_total": dropped_total,
        }
        tmp = self._dir / CURSOR_TMP
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _pwrite_all(fd, json.dumps(doc).encode(), 0)
            if self._fsync:
                _sync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._dir / CURSOR_FILE)
        if self._fsync:
            _sync_dir(self._dir)

    # ------------------------------------------------------------------ stats

    @property
    def pending_points(self) -> int:
        """Accepted points not yet committed as delivered. Cheap (the forwarder asks every
        few milliseconds); ``stats`` also looks up the oldest record's time on disk."""
        with self._lock:
            return self._pending_points

    @property
    def stats(self) -> SpoolStats:
        with self._lock:
            return SpoolStats(
                pending_points=self._pending_points,
                pending_bytes=self._pending_bytes,
                oldest_pending_at=self._oldest_pending_at(),
                dropped_points=self._dropped,
                segments=len(self._segments),
                torn_bytes_discarded=self._torn,
                dropped_points_total=self._dropped_total,
                disk_bytes=sum(seg.size for seg in self._segments.values()),
                corrupt_bytes_skipped=self._corrupt,
                corrupt_records_skipped=self._corrupt_records,
            )

    def _oldest_pending_at(self) -> float | None:
        if self._pending_points == 0:
            return None
        if self._oldest_at is None and self._opened:
            seg = self._segments[self._cursor.segment]
            try:
                fd = os.open(seg.path, os.O_RDONLY)
                try:
                    self._oldest_at = read_header(os.pread(fd, HEADER_SIZE, self._cursor.offset)).written_at
                finally:
                    os.close(fd)
            except (OSError, CorruptRecord, ValueError):
                return None
        return self._oldest_at


def _skip_holes(seg: _Segment, offset: int) -> int:
    """``offset``, or the end of the corrupt stretch it is in (holes are rare: a list walk)."""
    moved = True
    while moved:
        moved = False
        for start, end in seg.holes.items():
            if start <= offset < end:
                offset, moved = end, True
    return offset


def _lock_directory(directory: Path) -> int:
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SpoolLockedError(f"spool {directory} is in use by another process") from None
    return fd


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _sync(fd: int) -> None:
    # fdatasync also flushes the file size, which is all the metadata a reader needs.
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:
        os.fsync(fd)


def _make_durable_dir(directory: Path, *, fsync: bool) -> None:
    """Create ``directory`` (and its parents) if missing; each new name is synced into its
    parent, so appends acknowledged on a first start survive a power loss with the folder."""
    missing = []
    d = directory
    while not d.exists():
        missing.append(d)
        d = d.parent
    directory.mkdir(parents=True, exist_ok=True)
    if fsync:
        for created in reversed(missing):
            _sync_dir(created.parent)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
