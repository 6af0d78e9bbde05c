"""What the API and the web pages ask of the assessor. Each topic is its own module
(kpis, assessment, gains, portfolio, inputs, reports); ``AssessorService`` joins them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from assessor.data.daily_rows import day_start, window_bounds
from assessor.domain.models import Factory
from assessor.services.inputs import Inputs
from assessor.services.kpis import MAX_PRODUCT_WINDOW_DAYS
from assessor.services.portfolio import PortfolioQueries

__all__ = ["MAX_PRODUCT_WINDOW_DAYS", "AssessorService"]


class AssessorService(PortfolioQueries, Inputs):
    """Every topic of the assessor's services, with the background work that spans them."""

    async def backfill(self, factory: Factory, *, recent_days: int = 35) -> None:
        """Materialise the days the portfolio reads: the recent weeks and every support
        project's windows (``day_totals`` stores each complete day it computes)."""
        # whole settled days only: day_totals would compute the rest live, for nothing
        tz = ZoneInfo(factory.calendar.timezone)
        now = self.clock()
        settled_day = dt.datetime.fromtimestamp(now - self.cfg.kpi.materialize_after_s, tz).date()
        settled = day_start(factory, settled_day)
        first = day_start(factory, dt.datetime.fromtimestamp(now - recent_days * 86400.0, tz).date())
        if first < settled:
            await self.day_totals(factory, first, settled)
        for project in factory.support_projects:
            for w in (project.baseline, self.after_window(factory, project)):
                start, end = window_bounds(factory, w)
                if start < min(end, settled):
                    await self.day_totals(factory, start, min(end, settled))

    async def refresh_all(self) -> None:
        """One pass of the background refresher: materialise, then re-assess, every factory."""
        for factory in self.store.factories():
            await self.refresh_late_days(factory)
            await self.backfill(factory)
            self.forget_assessment(factory.id)
            await self.assessment(factory)
