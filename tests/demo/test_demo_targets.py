"""The demo's projects carry targets: relative ones the plants meet and ones they do not."""

from __future__ import annotations

import datetime as dt

from demo.portfolio import registry_factories


def test_demo_projects_carry_targets() -> None:
    factories = registry_factories(dt.date(2026, 12, 1), 200, 4)
    kpis = [f.support_projects[-1].kpis for f in factories]
    assert all(kpis)
    targets = {k.target.text for ks in kpis for k in ks if k.kpi == "units_per_hour"}
    assert targets == {"+10%", "+25%"}
    assert any(k.result_source.value == "manual" for ks in kpis for k in ks)
