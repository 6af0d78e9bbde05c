"""Delivery policy: get every point of a batch either written or quarantined.

- 2xx: written.
- No answer (0), 408, 429, 5xx: the server is away or busy; retry the same body.
- 401, 403: credentials may be fixed without a restart; retry, logged as an error.
- 404: database (or bucket) missing; retry, logged as an error (the v1 sink creates it).
- 413: body too large; deliver each half. A single point still too large is quarantined.
- 400, 422: the server refused some points. InfluxDB 1.x has then already written the good
  ones ("partial write ... dropped=N"), so bisect until the refused points are alone and
  quarantine only those, with the server's reason. Writing a good point twice is harmless:
  the same series and timestamp overwrite each other.
- Anything else (a redirect, some other 4xx): retried and logged as an error; more likely
  a misconfigured URL than bad data, and retrying loses nothing.

Retries back off exponentially with full jitter between retry_min and retry_max; a
Retry-After from the server is waited out as a minimum (up to RETRY_AFTER_CAP, or retry_max
if larger). Retries go on forever: the caller cancels the task to stop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from collector.influx.sink import Sink, SinkResponse

log = logging.getLogger(__name__)

#: the longest Retry-After honoured unless retry_max is longer (guards against odd dates)
RETRY_AFTER_CAP = 300.0

REJECTED = frozenset({400, 422})
TOO_LARGE = 413
_AUTH = frozenset({401, 403})
_SERVER_BUSY = frozenset({0, 408, 429})
_DROPPED = re.compile(r"dropped=(\d+)\s*$")


class QuarantineStore(Protocol):
    async def put(self, points: Sequence[bytes], status: int, reason: str) -> object: ...


def _ignore(*_: object) -> None:
    return None


def reason_of(response: SinkResponse) -> str:
    if response.status == 0:
        return f"no response: {response.message}"
    if response.message:
        return f"HTTP {response.status}: {response.message}"
    return f"HTTP {response.status}"


def all_dropped(response: SinkResponse, count: int) -> bool:
    """InfluxDB 1.x says ``partial write: ... dropped=N``; N equal to the batch size means
    no point of it was written, so there is nothing to bisect."""
    match = _DROPPED.search(response.message)
    return match is not None and int(match.group(1)) == count


class Delivery:
    """Callbacks: ``on_written(points)`` per accepted request, ``on_quarantined(points,
    reason)``, ``on_retry(status, reason)`` before each backoff sleep (status 0: no answer).
    ``sleep`` and ``rng`` are for tests."""

    def __init__(
        self,
        sink: Sink,
        quarantine: QuarantineStore,
        *,
        retry_min: float,
        retry_max: float,
        on_written: Callable[[int], None] = _ignore,
        on_quarantined: Callable[[int, str], None] = _ignore,
        on_retry: Callable[[int, str], None] = _ignore,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if retry_min <= 0:
            raise ValueError(f"retry_min must be positive, got {retry_min}")
        if retry_max < retry_min:
            raise ValueError(f"retry_max ({retry_max}) is below retry_min ({retry_min})")
        self._sink = sink
        self._quarantine = quarantine
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._retry_after_cap = max(retry_max, RETRY_AFTER_CAP)
        self._on_written = on_written
        self._on_quarantined = on_quarantined
        self._on_retry = on_retry
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def deliver(self, points: Sequence[bytes]) -> None:
        """Return once every point is written or quarantined; retry transient failures
        until then. Cancellation propagates at once, also from a backoff sleep."""
        if points:
            await self._deliver(list(points))

    async def _deliver(self, points: list[bytes]) -> None:
        attempt = 0
        while True:
            response = await self._sink.write(b"\n".join(points))
            status = response.status
            if 200 <= status < 300:
                self._on_written(len(points))
                return
            if status == TOO_LARGE or status in REJECTED:
                if len(points) == 1 or (status in REJECTED and all_dropped(response, len(points))):
                    await self._put_aside(points, response)
                    return
                # halves, one after the other: order is kept and the work stays bounded
                # (each level of the bisection sends the batch once)
                middle = len(points) // 2
                await self._deliver(points[:middle])
                await self._deliver(points[middle:])
                return
            attempt += 1
            delay = self.backoff(attempt, response.retry_after)
            reason = reason_of(response)
            self._log_retry(status, len(points), reason, delay, attempt)
            self._on_retry(status, reason)
            await self._sleep(delay)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1, 2, ...)."""
        ceiling = min(self._retry_max, self._retry_min * 2.0 ** min(attempt - 1, 60))
        delay = self._rng.uniform(self._retry_min, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._retry_after_cap))
        return delay

    async def _put_aside(self, points: list[bytes], response: SinkResponse) -> None:
        reason = reason_of(response)
        attempt = 0
        while True:
            try:
                await self._quarantine.put(points, response.status, reason)
                break
            except OSError as exc:
                # a full or read-only disk may recover; the points are not safe until stored
                attempt += 1
                delay = self.backoff(attempt)
                log.error(
                    "cannot store %d refused point(s) in quarantine (%s); trying again in %.2fs",
                    len(points),
                    exc,
                    delay,
                )
                await self._sleep(delay)
        log.error("quarantined %d point(s) InfluxDB refused: %s", len(points), reason)
        self._on_quarantined(len(points), reason)

    @staticmethod
    def _log_retry(status: int, count: int, reason: str, delay: float, attempt: int) -> None:
        if status in _AUTH:
            log.error(
                "InfluxDB refused the credentials (%s); check influx username/password or "
                "token; retrying %d point(s) in %.2fs (attempt %d)",
                reason,
                count,
                delay,
                attempt,
            )
        elif status == 404:
            log.error(
                "InfluxDB database or bucket missing (%s); retrying %d point(s) in %.2fs (attempt %d)",
                reason,
                count,
                delay,
                attempt,
            )
        elif status in _SERVER_BUSY or 500 <= status < 600:
            log.warning(
                "InfluxDB write failed (%s); retrying %d point(s) in %.2fs (attempt %d)",
                reason,
                count,
                delay,
                attempt,
            )
        else:
            log.error(
                "unexpected InfluxDB answer (%s); retrying %d point(s) in %.2fs (attempt %d)",
                reason,
                count,
                delay,
                attempt,
            )
