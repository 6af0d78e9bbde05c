"""Level evidence under liveness and KPI flags: a flagged KPI is left out with its reason,
a machine whose state is stored on change still counts as sampled."""

from __future__ import annotations

from assessor.data.evidence_query import state_interval
from assessor.domain.level import Evidence, MachineEvidence, assess, load_rules
from assessor.domain.level.evidence import action

RULES = load_rules()


def machines() -> list[MachineEvidence]:
    return [
        MachineEvidence(
            m,
            has_data=True,
            has_state_signal=True,
            state_interval_s=5.0,
            has_counters=True,
            has_reject_counts=True,
            has_downtime_reasons=True,
            has_order_or_lot=True,
            has_energy=True,
            has_process_values=True,
            setpoint_changes=3,
        )
        for m in ("press-01", "press-02")
    ]


def flagged(kpi: str, reason: str, coverage: float = 0.95) -> dict[str, object]:
    # the measured value (4.32 = 432 %) sits in the flag and must never reach the evidence
    flags = [{"kpi": kpi, "reason": reason, "value": 4.32}]
    return {"performance": None, "coverage": coverage, "flags": flags}


def test_a_flagged_performance_leaves_the_kpis_gate_failed_with_the_reason() -> None:
    e = Evidence.from_machines(
        machines(),
        kpis_computable=True,  # what a caller would compute if it only looked at None
        data_days=200,
        kpis_row=flagged("performance", "implausible_ideal_time"),
    )
    assert e.kpis_computable is False
    assert e.kpi_flags == (("performance", "implausible_ideal_time"),)
    a = assess(e, None, RULES)
    g = next(g for g in a.gates if g.id == "kpis_computable")
    assert not g.passed
    assert g.note_ko == "성능가동률: 이상치(표준 사이클타임 확인)"
    assert g.note_en == "Performance: implausible ideal cycle time: check the registry"
    assert "이상치(표준 사이클타임 확인)" in g.message_ko and "implausible ideal cycle time" in g.message_en
    text = " ".join([g.message_en, g.message_ko, g.note_en, g.note_ko])
    assert "432" not in text and "4.32" not in text
    en, ko = action("kpis_computable", True, e)
    assert "ideal cycle time" in en and "표준 사이클타임" in ko and "432" not in en + ko


def test_a_coverage_flag_names_the_coverage() -> None:
    e = Evidence.from_machines(
        machines(), kpis_computable=False, data_days=200, kpis_row=flagged("availability", "coverage", 0.62)
    )
    assert e.note("kpis_computable", "ko") == "가동률: 데이터 부족(수집률 62.0%)"
    assert e.note("kpis_computable", "en") == "Availability: coverage 62.0%"
    assert e.note("has_energy", "en") == ""
    en, ko = action("kpis_computable", True, e)
    assert "62.0%" in en and "62.0%" in ko


def test_flags_on_other_kpis_do_not_touch_the_gate() -> None:
    # defect rate is not one of the three KPIs behind kpis_computable
    e = Evidence.from_machines(
        machines(), kpis_computable=True, data_days=200, kpis_row=flagged("units_per_hour", "coverage")
    )
    assert e.kpis_computable is True and e.kpi_flags == ()


def test_state_stored_on_change_is_sampled_at_the_poll_interval() -> None:
    # state changed every 40 min, counters polled every 5 s, the machine has liveness
    assert state_interval(2400.0, 5.0, alive=True, has_state=True) == 5.0
    # no state change in the last day: the polled values still say how fresh it is
    assert state_interval(None, 5.0, alive=True, has_state=True) == 5.0
    # without liveness a state's own interval is all there is (old rule)
    assert state_interval(2400.0, 5.0, alive=False, has_state=True) == 2400.0
    # no state signal at all: none, whatever the counters do
    assert state_interval(None, 5.0, alive=True, has_state=False) is None
