"""The factory's smart-factory level, kept for a while per factory."""

from __future__ import annotations

from assessor.data.evidence_query import factory_evidence
from assessor.domain.level import Assessment, assess
from assessor.domain.models import Factory
from assessor.registry.operator_store import OperatorStore
from assessor.services.kpis import KpiQueries


class Assessments(KpiQueries):
    async def assessment(
        self, factory: Factory, *, max_age_s: float = 0.0, keys: list[str] | None = None
    ) -> Assessment:
        """The factory's level; ``keys``: the field keys of the factory's raw database when
        the caller has read them already."""
        now = self.clock()
        cached = self._assessments.get(factory.id)
        if cached is not None and now - cached[0] <= max_age_s:
            return cached[1]
        recent = await self.factory_kpis(factory, now - 7 * 86400.0, now)
        # a flagged KPI is None in the row; the flags are checked too, so that this stays
        # true whatever a row shows for a flagged KPI
        oee_factors = ("availability", "performance", "quality")
        flagged = {f["kpi"] for f in recent.get("flags", [])}
        computable = all(recent.get(k) is not None and k not in flagged for k in oee_factors)
        explained = OperatorStore(self.store).machines_with_reasons(factory.id, now - 30 * 86400.0, now)
        evidence = await factory_evidence(
            self.raw(factory),
            factory,
            30,
            computable,
            now=now,
            keys=keys,
            kpis_row=recent,
            explained_machines=explained,
        )
        result = assess(evidence, self.store.answers(factory.id), self.rules)
        self._assessments[factory.id] = (now, result)
        return result

    def forget_assessment(self, factory_id: str) -> None:
        self._assessments.pop(factory_id, None)
