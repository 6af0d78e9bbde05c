"""On-disk record codec of the spool: framing, checksums and the header walk.

A record is a 24-byte header followed by its payload::

    offset size field
    0      1    magic        0xF5
    1      1    version      1
    2      2    flags        0 (reserved)
    4      4    payload_len  u32, bytes after the header
    8      4    count        u32, points in the record
    12     8    written_at   float64, unix seconds at append
    20     4    crc32        of bytes 0..19 followed by the payload

The payload is a table of ``count`` u32 point lengths followed by the points
concatenated. Lengths come first (rather than interleaved) so that encoding is
one ``struct.pack`` plus one ``b"".join`` and decoding one ``unpack_from``:
no Python-level work per point beyond a slice. Everything is little-endian.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from itertools import accumulate, pairwise
from typing import NamedTuple

MAGIC = 0xF5
VERSION = 1

_FIELDS = struct.Struct("<BBHIId")
_CRC = struct.Struct("<I")
_HEADER = struct.Struct("<BBHIIdI")  # the fields and the CRC in one unpack
FIELDS_SIZE = _FIELDS.size
HEADER_SIZE = FIELDS_SIZE + _CRC.size

#: A single record can never be larger than this; a header claiming more is garbage.
MAX_PAYLOAD = 1 << 30


class CorruptRecord(ValueError):
    """The bytes at a record position are not a valid record."""


class Header(NamedTuple):
    payload_len: int
    count: int
    written_at: float
    crc: int

    @property
    def size(self) -> int:
        return HEADER_SIZE + self.payload_len


def encode_record(points: Sequence[bytes], written_at: float) -> bytes:
    """One framed record holding ``points`` in order."""
    count = len(points)
    lengths = struct.pack(f"<{count}I", *map(len, points))
    body = b"".join(points)
    payload_len = len(lengths) + len(body)
    if payload_len > MAX_PAYLOAD:
        raise ValueError(f"record of {payload_len} bytes exceeds the {MAX_PAYLOAD} byte limit")
    fields = _FIELDS.pack(MAGIC, VERSION, 0, payload_len, count, written_at)
    crc = zlib.crc32(body, zlib.crc32(lengths, zlib.crc32(fields)))
    return b"".join((fields, _CRC.pack(crc), lengths, body))


def read_header(buf: bytes, offset: int = 0) -> Header:
    """Parse and sanity-check the header at ``offset``; the CRC is checked by ``decode_points``.

    ``buf`` must hold at least ``HEADER_SIZE`` bytes from ``offset``.
    """
    if len(buf) - offset < HEADER_SIZE:
        raise CorruptRecord("incomplete record header")
    magic, version, flags, payload_len, count, written_at, crc = _HEADER.unpack_from(buf, offset)
    if magic != MAGIC or version != VERSION or flags != 0:
        raise CorruptRecord(f"bad record header (magic {magic:#x}, version {version})")
    if payload_len > MAX_PAYLOAD or count * 4 > payload_len:
        raise CorruptRecord(f"implausible record header ({count} points in {payload_len} bytes)")
    return Header(payload_len, count, written_at, crc)


def decode_points(buf: bytes, offset: int, header: Header) -> list[bytes]:
    """The points of the record at ``offset`` after verifying its CRC.

    ``buf`` must hold the whole record (``header.size`` bytes from ``offset``).
    """
    start = offset + HEADER_SIZE
    end = start + header.payload_len
    if not crc_matches(buf, offset, header):
        raise CorruptRecord("record checksum mismatch or incomplete record")
    count = header.count
    lengths = struct.unpack_from(f"<{count}I", buf, start)
    data = start + 4 * count
    # The CRC makes this practically impossible, but a wrong length table would
    # silently misalign every point after it, so it is worth one sum().
    if data + sum(lengths) != end:
        raise CorruptRecord("record point lengths do not add up to its payload")
    return [buf[a:b] for a, b in pairwise(accumulate(lengths, initial=data))]


def point_bytes(header: Header) -> int:
    """Bytes of line protocol in a record, without its framing."""
    return header.payload_len - 4 * header.count


class Scan(NamedTuple):
    """What a walk over a run of records found."""

    end: int  # offset just after the last whole, valid record
    points: int  # points in the records before ``end``
    error: str | None  # why the walk stopped before its limit, if it did


def scan_headers(
    fd: int, start: int, stop: int, chunk: int = 1 << 20, holes: Mapping[int, int] | None = None
) -> Scan:
    """Walk the record headers in ``[start, stop)`` of an open file, skipping payloads.

    Stops early at a garbage header or at a record that runs past ``stop``; ``end`` is
    then that record's offset, which makes this also "the last record start <= stop".
    ``holes`` maps the start of each known corrupt stretch to the valid record after it;
    the walk jumps over them. Payload CRCs are not checked (see ``verify_records``).
    """
    unpack = _FIELDS.unpack_from
    offset, points = start, 0
    buf = b""
    base = start  # file offset of buf[0]
    while offset < stop:
        if holes and offset in holes:
            if holes[offset] > stop:
                return Scan(offset, points, "inside a corrupt stretch")
            offset = holes[offset]
            continue
        rel = offset - base
        if rel + HEADER_SIZE > len(buf):
            base, rel = offset, 0
            buf = os.pread(fd, max(min(chunk, stop - offset), HEADER_SIZE), offset)
            if len(buf) < HEADER_SIZE:
                return Scan(offset, points, "incomplete record header")
        magic, version, flags, payload_len, count, _ = unpack(buf, rel)
        if magic != MAGIC or version != VERSION or flags != 0:
            return Scan(offset, points, "bad record header")
        if payload_len > MAX_PAYLOAD or count * 4 > payload_len:
            return Scan(offset, points, "implausible record header")
        after = offset + HEADER_SIZE + payload_len
        if after > stop:
            return Scan(offset, points, "record runs past the end")
        points += count
        offset = after
    return Scan(offset, points, None)


def verify_records(fd: int, stop: int, chunk: int = 4 << 20, start: int = 0) -> Scan:
    """Like ``scan_headers`` from ``start``, but also checks every record's CRC."""
    # Inlined rather than built on read_header/crc_matches: this runs over a whole
    # segment at every start, and per-record calls would double its cost.
    unpack = _HEADER.unpack_from
    crc32 = zlib.crc32
    offset, points = start, 0
    buf = b""
    view = memoryview(buf)
    base = start  # file offset of buf[0]
    while offset < stop:
        rel = offset - base
        if rel + HEADER_SIZE > len(buf):
            base, rel = offset, 0
            buf = os.pread(fd, max(min(chunk, stop - offset), HEADER_SIZE), offset)
            view = memoryview(buf)
            if len(buf) < HEADER_SIZE:
                return Scan(offset, points, "incomplete record header")
        magic, version, flags, payload_len, count, _, crc = unpack(buf, rel)
        if magic != MAGIC or version != VERSION or flags != 0:
            return Scan(offset, points, "bad record header")
        if payload_len > MAX_PAYLOAD or count * 4 > payload_len:
            return Scan(offset, points, "implausible record header")
        size = HEADER_SIZE + payload_len
        if offset + size > stop:
            return Scan(offset, points, "record runs past the end")
        if rel + size > len(buf):
            base, rel = offset, 0
            buf = os.pread(fd, max(chunk, size), offset)
            view = memoryview(buf)
        if crc32(view[rel + HEADER_SIZE : rel + size], crc32(view[rel : rel + FIELDS_SIZE])) != crc:
            return Scan(offset, points, "record checksum mismatch")
        points += count
        offset += size
    return Scan(offset, points, None)


def crc_matches(buf: bytes, offset: int, header: Header) -> bool:
    start = offset + HEADER_SIZE
    end = start + header.payload_len
    if len(buf) < end:
        return False
    view = memoryview(buf)
    return zlib.crc32(view[start:end], zlib.crc32(view[offset : offset + FIELDS_SIZE])) == (header.crc)


#: how every record starts: magic, version and the zero flags
_SYNC = bytes((MAGIC, VERSION, 0, 0))


class Hole(NamedTuple):
    """A stretch of unreadable bytes: ``start`` was a record position, ``end`` is the
    next valid record (or the end of the data)."""

    start: int
    end: int
    reason: str


class Verified(NamedTuple):
    """A segment checked record by record, corrupt stretches stepped over."""

    end: int  # just after the last valid record
    points: int  # in the valid records
    holes: list[Hole]  # corrupt stretches before ``end``
    tail: str | None  # why the bytes in ``[end, stop)`` are not records, if there are any


def valid_record_at(fd: int, offset: int, stop: int) -> bool:
    """Whether a whole record with a matching CRC and consistent lengths starts at ``offset``."""
    head = os.pread(fd, HEADER_SIZE, offset)
    try:
        header = read_header(head)
    except CorruptRecord:
        return False
    if offset + header.size > stop:
        return False
    buf = os.pread(fd, header.size, offset)
    try:
        decode_points(buf, 0, header)
    except (CorruptRecord, struct.error):
        return False
    return True


def find_record(fd: int, start: int, stop: int, chunk: int = 1 << 20) -> int | None:
    """The first offset in ``[start, stop)`` where a whole valid record starts, if any.

    Looks at every position, not only where the damaged record claimed to end: a
    damaged length field would otherwise skip good records behind it.
    """
    pos = start
    while pos + HEADER_SIZE <= stop:
        buf = os.pread(fd, min(chunk, stop - pos), pos)
        i = buf.find(_SYNC)
        while i != -1:
            if valid_record_at(fd, pos + i, stop):
                return pos + i
            i = buf.find(_SYNC, i + 1)
        if pos + len(buf) >= stop or len(buf) < len(_SYNC):
            return None
        pos += len(buf) - (len(_SYNC) - 1)  # a marker may straddle two chunks
    return None


def verify_segment(fd: int, stop: int) -> Verified:
    """Check every record in ``[0, stop)``; step over each corrupt stretch to the next valid
    record, so that one bad byte costs the record it is in and not the rest of the file."""
    offset = points = 0
    holes: list[Hole] = []
    while True:
        scan = verify_records(fd, stop, start=offset)
        points += scan.points
        if scan.error is None:
            return Verified(scan.end, points, holes, None)
        nxt = find_record(fd, scan.end + 1, stop)
        if nxt is None:
            return Verified(scan.end, points, holes, scan.error)
        holes.append(Hole(scan.end, nxt, scan.error))
        offset = nxt
