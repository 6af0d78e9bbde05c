"""The durable queue between the sources and InfluxDB (docs/spool.md): ``spool`` (segment
files and the read cursor), ``format`` (the record codec), ``appender`` (the asyncio
group-commit front end) and ``jsonl_files`` (the durable JSON-lines files of the dead
letters and the quarantine)."""

from collector.spool.appender import SpoolAppender
from collector.spool.spool import (
    CURSOR_FILE,
    Position,
    Record,
    Spool,
    SpoolError,
    SpoolLockedError,
    SpoolStats,
    segment_name,
)

__all__ = [
    "CURSOR_FILE",
    "Position",
    "Record",
    "Spool",
    "SpoolAppender",
    "SpoolError",
    "SpoolLockedError",
    "SpoolStats",
    "segment_name",
]
