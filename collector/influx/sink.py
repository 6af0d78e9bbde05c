"""What every InfluxDB sink offers: one write request in, one response out, never raising
for a server or network failure, so that the delivery policy sees them all the same way."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collector.influx.config import InfluxConfig

#: SinkResponse.status when no HTTP answer came back (refused, reset, timeout, TLS failure)
NO_RESPONSE = 0


@dataclass(frozen=True)
class SinkResponse:
    status: int
    """HTTP status; 0 = connection error or timeout."""
    message: str
    """The server's error text, or the exception text; empty on success."""
    retry_after: float | None = None
    """Seconds the server asked us to wait (Retry-After), if it did."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Sink(Protocol):
    async def write(self, body: bytes) -> SinkResponse:
        """POST one body of newline-separated points. Raises only on cancellation."""
        ...

    async def close(self) -> None: ...


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            # HTTP dates are always GMT, even when the zone is written as -0000
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def make_sink(cfg: InfluxConfig) -> Sink:
    """The sink for ``cfg.api``: v1 (/write, any 1.x, 2.x and 3.x) or v2 (/api/v2/write)."""
    if cfg.api == "v2":
        from collector.influx.sink_v2 import V2Sink

        return V2Sink(cfg)
    from collector.influx.sink_v1 import V1Sink

    return V1Sink(cfg)
