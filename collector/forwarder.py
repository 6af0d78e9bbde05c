"""Drain the spool into InfluxDB in order; commit the cursor only after delivery."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from collector.influx.delivery import Delivery
from collector.spool import Position, Spool

log = logging.getLogger(__name__)


class Forwarder:
    def __init__(self, spool: Spool, delivery: Delivery, data_available: asyncio.Event, *, batch_points: int):
        self._spool = spool
        self._delivery = delivery
        self._data_available = data_available
        self._batch_points = batch_points

    async def run(self) -> None:
        """Deliver forever; cancel to stop (an unfinished batch is replayed next time).

        An error (say the spool cannot be read) ends this call after rewinding, so
        running it again resumes at the committed cursor.
        """
        try:
            while True:
                records = self._spool.read(self._batch_points)
                if not records:
                    self._data_available.clear()
                    # Re-check after clearing: an append may have landed in between.
                    if self._spool.pending_points == 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._data_available.wait(), timeout=1.0)
                    continue
                points = [p for r in records for p in r.points]
                await self._delivery.deliver(points)
                await self._commit(records[-1].next)
        except BaseException:
            # cancelled, or an error its supervisor restarts it after: either way the
            # records read and not committed are read again
            self._spool.rewind()
            raise

    async def _commit(self, upto: Position) -> None:
        # The cursor write fsyncs twice: keep it off the event loop, and let it finish
        # even when cancelled, so the spool is never closed under it.
        commit = asyncio.ensure_future(asyncio.to_thread(self._spool.commit, upto))
        try:
            await asyncio.shield(commit)
        except asyncio.CancelledError:
            await commit
            raise

    async def drain(self, timeout: float) -> bool:
        """Wait until everything pending is delivered; False if time ran out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._spool.pending_points > 0:
            self._data_available.set()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(0.05, remaining))
        return True
