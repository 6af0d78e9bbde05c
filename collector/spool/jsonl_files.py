"""Append-only JSON-lines files, one per day, that survive a power cut: the quarantine
of points InfluxDB refused and the dead letters of MQTT messages that could not be used."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def append_durable(directory: Path, path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` and fsync it (and the directory, for a new file)."""
    directory.mkdir(parents=True, exist_ok=True)
    new_file = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if new_file:
        # the new directory entry must survive a power cut as well
        fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def day_files(directory: Path | str, prefix: str, suffix: str) -> list[Path]:
    """The files of one kind, oldest day first."""
    return sorted(Path(directory).glob(f"{prefix}*{suffix}"))


def read_records(
    directory: Path | str, prefix: str, suffix: str, what: str
) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """(file, line number, record) for every record, oldest first.

    A last line without its newline (the process died while appending) is skipped with
    a warning; a damaged line anywhere else raises ValueError naming file and line.
    """
    for path in day_files(directory, prefix, suffix):
        lines = path.read_bytes().split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline
        if torn:
            log.warning("%s: ignoring incomplete last line (%d bytes)", path, len(torn))
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not a {what} record: {exc}") from exc
            yield path, number, record
