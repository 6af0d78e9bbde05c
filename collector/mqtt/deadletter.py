"""MQTT messages that could not be stored, kept on disk for a person or a replay tool.

One JSON object per line in ``deadletter-YYYYMMDD.jsonl`` (UTC day of arrival):

    {"received_at": "2024-05-01T12:00:00.123456Z", "received_ns": 1714564800123456789,
     "topic": "plant/line-1/press-01/telemetry",
     "subscription": {"index": 0, "filter": "plant/+/+/telemetry"},
     "reason": "$.counters.total: missing", "payload_bytes": 16,
     "payload_b64": "eyJzdGF0dXMiOiJSVU4ifQ==", "payload_text": "{\\"status\\":\\"RUN\\"}"}

``payload_b64`` is the exact payload; ``payload_text`` is there for reading when the
payload is UTF-8, cut to 4 KiB (``payload_truncated``). A batch is written with one
append and one fsync per file. Dead letters are diagnostics: a record that cannot be
encoded, a full disk or the size cap is logged and counted, never raised, so a broken
publisher can never hold up the good data arriving beside it.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from collector.spool.jsonl_files import append_durable, day_files, read_records

log = logging.getLogger(__name__)

FILE_PREFIX = "deadletter-"
FILE_SUFFIX = ".jsonl"
TEXT_LIMIT = 4096


class DeadLetter(NamedTuple):
    """One refused message; a plain tuple in this order is accepted as well."""

    topic: str
    subscription_index: int | None
    subscription_filter: str | None
    reason: str
    payload: bytes
    received_ns: int


@dataclass(frozen=True)
class StoredDeadLetter:
    received_at: datetime
    received_ns: int
    topic: str
    subscription_index: int | None
    subscription_filter: str | None
    reason: str
    payload: bytes
    file: Path
    line: int


def _day(received_ns: int) -> str:
    return f"{datetime.fromtimestamp(received_ns // 10**9, UTC):%Y%m%d}"


def _iso(received_ns: int) -> str:
    seconds, rest = divmod(received_ns, 10**9)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{rest // 1000:06d}Z"


def encode_record(letter: DeadLetter) -> bytes:
    """One JSON line, newline included."""
    topic, index, flt, reason, payload, received_ns = letter
    payload = bytes(payload)
    record: dict[str, object] = {
        "received_at": _iso(received_ns),
        "received_ns": int(received_ns),
        "topic": str(topic),
        "subscription": None if index is None else {"index": int(index), "filter": flt},
        "reason": str(reason),
        "payload_bytes": len(payload),
        "payload_b64": base64.b64encode(payload).decode("ascii"),
    }
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        # cut at 4 KiB; "ignore" only drops a character the cut split in two
        record["payload_text"] = payload[:TEXT_LIMIT].decode("utf-8", "ignore")
        record["payload_truncated"] = len(payload) > TEXT_LIMIT
    try:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        return line.encode("utf-8")
    except UnicodeEncodeError:
        # a topic with an unpaired surrogate: escaped JSON still keeps it exactly
        return (json.dumps(record) + "\n").encode("ascii")


class DeadLetters:
    def __init__(self, directory: Path | str, *, max_bytes: int = 256 * 2**20) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        #: records made durable, and records lost (unencodable, I/O error, size cap)
        self.written = 0
        self.failed = 0
        self.dropped = 0
        self._total: int | None = None  # bytes on disk; read at the first write
        self._capped = False  # warn once when the cap starts dropping, not per batch
        self._lock = threading.Lock()

    def path_for(self, received_ns: int) -> Path:
        return self.directory / f"{FILE_PREFIX}{_day(received_ns)}{FILE_SUFFIX}"

    def write(self, letter: DeadLetter | tuple) -> bool:
        return self.write_many([letter]) == 1

    def write_many(self, letters: Iterable[DeadLetter | tuple]) -> int:
        """Append and fsync a batch; returns how many records are now durable."""
        by_file: dict[Path, list[bytes]] = {}
        for letter in letters:
            try:
                letter = DeadLetter(*letter)
                data = encode_record(letter)
                path = self.path_for(letter.received_ns)
            except Exception:
                # whatever a single record holds, the rest of the batch still gets written
                log.exception("dead letter: cannot encode a record; it is lost")
                self.failed += 1
                continue
            by_file.setdefault(path, []).append(data)
        done = 0
        with self._lock:
            for path, lines in by_file.items():
                done += self._append(path, lines)
        return done

    def _append(self, path: Path, lines: list[bytes]) -> int:
        data = b"".join(lines)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if not self._room_for(len(data), keep=path):
                self.dropped += len(lines)
                if not self._capped:
                    log.warning(
                        "dead letter: %s is at its cap of %d bytes; dropping new records until "
                        "tomorrow's file or until space is freed (counted as dropped)",
                        self.directory,
                        self.max_bytes,
                    )
                self._capped = True
                return 0
            self._capped = False
            append_durable(self.directory, path, data)
        except OSError as exc:
            log.error("dead letter: cannot write %s: %s; %d record(s) lost", path, exc, len(lines))
            self.failed += len(lines)
            self._total = None  # unknown how much landed: measure again next time
            return 0
        self._total = (self._total or 0) + len(data)
        self.written += len(lines)
        return len(lines)

    def _room_for(self, size: int, *, keep: Path) -> bool:
        """Delete the oldest days (never ``keep``) until ``size`` more bytes fit the cap."""
        if self._total is None:
            self._total = sum(p.stat().st_size for p in self.files())
        if self._total + size <= self.max_bytes:
            return True
        for old in self.files():
            if old == keep:
                continue
            freed = old.stat().st_size
            old.unlink()
            log.warning("dead letter: deleted %s (%d bytes) to stay under the cap", old.name, freed)
            self._total -= freed
            if self._total + size <= self.max_bytes:
                return True
        return False

    def files(self) -> list[Path]:
        return dead_letter_files(self.directory)

    def read(self) -> Iterator[StoredDeadLetter]:
        return read_dead_letters(self.directory)


def dead_letter_files(directory: Path | str) -> list[Path]:
    """Dead-letter files, oldest day first."""
    return day_files(directory, FILE_PREFIX, FILE_SUFFIX)


def read_dead_letters(directory: Path | str) -> Iterator[StoredDeadLetter]:
    """Every dead letter, oldest first, with the payload as the exact bytes received.

    A last line without its newline (the process died while appending) is skipped with
    a warning; a damaged line anywhere else raises ValueError naming file and line.
    """
    for path, number, record in read_records(directory, FILE_PREFIX, FILE_SUFFIX, "dead-letter"):
        try:
            sub = record["subscription"]
            received_ns = int(record["received_ns"])
            letter = StoredDeadLetter(
                received_at=datetime.fromtimestamp(received_ns // 10**9, UTC).replace(
                    microsecond=received_ns % 10**9 // 1000
                ),
                received_ns=received_ns,
                topic=str(record["topic"]),
                subscription_index=None if sub is None else int(sub["index"]),
                subscription_filter=None if sub is None else sub["filter"],
                reason=str(record["reason"]),
                payload=base64.b64decode(record["payload_b64"], validate=True),
                file=path,
                line=number,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}:{number}: not a dead-letter record: {exc}") from exc
        yield letter
