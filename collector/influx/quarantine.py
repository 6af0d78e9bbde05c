"""Points InfluxDB refused for good, kept on disk for a person or a replay tool.

One JSON object per line in ``quarantine-YYYYMMDD.jsonl`` (UTC date), appended and
fsynced before ``put`` returns, so a quarantined point is never only in memory:

    {"quarantined_at": "2024-05-01T12:00:00.123456+00:00", "status": 400,
     "reason": "...", "points": ["line protocol", ...]}
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from collector.spool.jsonl_files import append_durable, read_records

log = logging.getLogger(__name__)

FILE_PREFIX = "quarantine-"
FILE_SUFFIX = ".jsonl"


@dataclass(frozen=True)
class QuarantinedBatch:
    quarantined_at: datetime
    status: int
    reason: str
    points: list[bytes]
    file: Path
    line: int


def _points_to_json(points: Sequence[bytes]) -> tuple[list[str], bool]:
    """Decoded points, and whether they are all valid UTF-8."""
    try:
        return [p.decode("utf-8") for p in points], True
    except UnicodeDecodeError:
        # surrogateescape plus ASCII-only JSON keeps the exact bytes recoverable
        return [p.decode("utf-8", "surrogateescape") for p in points], False


class Quarantine:
    def __init__(
        self,
        directory: Path | str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.directory = Path(directory)
        self._clock = clock
        # Delivery may quarantine from several tasks; their worker threads share files
        self._lock = threading.Lock()

    def path_for(self, when: datetime) -> Path:
        return self.directory / f"{FILE_PREFIX}{when.astimezone(UTC):%Y%m%d}{FILE_SUFFIX}"

    async def put(self, points: Sequence[bytes], status: int, reason: str) -> Path:
        """Append one record and fsync it; returns the file written."""
        return await asyncio.to_thread(self.put_blocking, points, status, reason)

    def put_blocking(self, points: Sequence[bytes], status: int, reason: str) -> Path:
        when = self._clock()
        texts, utf8 = _points_to_json(points)
        record = {
            "quarantined_at": when.astimezone(UTC).isoformat(),
            "status": status,
            "reason": reason,
            "points": texts,
        }
        line = json.dumps(record, ensure_ascii=not utf8) + "\n"
        data = line.encode("utf-8")
        path = self.path_for(when)
        with self._lock:
            append_durable(self.directory, path, data)
        return path



def read_quarantine(directory: Path | str) -> Iterator[QuarantinedBatch]:
    """Every quarantined batch, oldest first, with the points as the exact bytes sent.

    A last line without its newline (the process died while appending) is skipped with
    a warning; a damaged line anywhere else raises ValueError naming file and line.
    """
    for path, number, record in read_records(directory, FILE_PREFIX, FILE_SUFFIX, "quarantine"):
        try:
            batch = QuarantinedBatch(
                quarantined_at=datetime.fromisoformat(record["quarantined_at"]),
                status=int(record["status"]),
                reason=str(record["reason"]),
                points=[p.encode("utf-8", "surrogateescape") for p in record["points"]],
                file=path,
                line=number,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}:{number}: not a quarantine record: {exc}") from exc
        yield batch
