"""What the API and the pages ask of the assessor, in topics that build on each other:
``ServiceCore`` (settings, the stores, caches) <- ``KpiQueries`` (assessor.services.kpis)
<- ``Assessments`` and ``GainQueries`` <- ``PortfolioQueries`` and ``Inputs``; the
``AssessorService`` of assessor.services is all of them. Routes (assessor.api, assessor.web)
call these; these call data access (assessor.data, assessor.registry) and pure code
(assessor.domain).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from assessor.config import AssessorConfig
from assessor.data.daily_rows import ensure_retention_policy
from assessor.data.influx_client import InfluxClient, factory_client
from assessor.domain.kpi.model import KpiPolicy
from assessor.domain.level import Assessment, LevelRules
from assessor.domain.models import Factory
from assessor.registry.store import RegistryStore


class ServiceCore:
    """The settings, the registry, InfluxDB and the clock every topic uses."""

    def __init__(
        self,
        cfg: AssessorConfig,
        store: RegistryStore,
        influx: InfluxClient,
        rules: LevelRules,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg, self.store, self.influx, self.rules, self.clock = cfg, store, influx, rules, clock
        self._assessments: dict[str, tuple[float, Assessment]] = {}
        self._rp = cfg.kpi.retention_policy
        self._rp_ready = False
        self._health: dict[str, tuple[float, dict[str, float | None]]] = {}

    async def _ensure_rp(self) -> None:
        if not self._rp_ready:
            await ensure_retention_policy(self.influx, self._rp)
            self._rp_ready = True

    def raw(self, factory: Factory) -> InfluxClient:
        return factory_client(self.influx, factory)

    @property
    def kpi_policy(self) -> KpiPolicy:
        """When a KPI is shown (config ``kpi.min_coverage``, ``kpi.performance_tolerance``)."""
        return self.cfg.kpi.policy
