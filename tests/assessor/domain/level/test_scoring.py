"""Level gates, score, build level and tier, next steps, and the rules file."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from assessor.domain.level import (
    DEFAULT_RULES_PATH,
    ITEMS,
    BuildLevel,
    Evidence,
    LevelRules,
    MachineEvidence,
    RulesError,
    assess,
    load_rules,
    parse_rules,
    parse_rules_text,
)
from assessor.domain.level.evidence import METRICS, Kind, action
from assessor.domain.level.scoring import SCORE_GATE
from assessor.domain.models import Program

RULES = load_rules()


def full_evidence(**changes: object) -> Evidence:
    """Evidence that passes every default gate up to Level 5."""
    base = Evidence(
        auto_capture_coverage=1.0,
        state_granularity_s=1.0,
        has_state_signal=True,
        has_counters=True,
        has_reject_counts=True,
        has_downtime_reasons=True,
        has_order_or_lot=True,
        has_energy=True,
        quality_linked_to_process=True,
        setpoint_changes_recorded=True,
        kpis_computable=True,
        data_days=400,
        closed_loop_control=True,
    )
    return dataclasses.replace(base, **changes)


def answers(value: int) -> dict[str, int]:
    return {item.id: value for item in ITEMS}


def gate(result, level: int, gate_id: str):
    return next(g for g in result.gates if g.level == level and g.id == gate_id)


def with_level(rules: LevelRules, number: int, **changes: object) -> LevelRules:
    levels = tuple(dataclasses.replace(r, **changes) if r.level == number else r for r in rules.levels)
    return dataclasses.replace(rules, levels=levels)


# --- the shipped rules -------------------------------------------------------------------


def test_shipped_rules_load_and_say_they_are_not_official() -> None:
    assert [r.level for r in RULES.levels] == [1, 2, 3, 4, 5]
    assert RULES.advanced_from is BuildLevel.INTERMEDIATE1
    assert "NOT OFFICIAL" in DEFAULT_RULES_PATH.read_text(encoding="utf-8")
    doc = Path(__file__).resolve().parents[4] / "docs" / "assessment-method.md"
    assert "not official" in doc.read_text(encoding="utf-8").lower()


def test_full_evidence_and_top_answers_reach_level_5() -> None:
    result = assess(full_evidence(), answers(5), RULES)
    assert result.level == 5
    assert result.level_name == "autonomy" and result.level_name_ko == "자율운영"
    assert result.build_level is BuildLevel.ADVANCED
    assert result.tier is Program.ADVANCED
    assert result.score == 1000.0
    assert result.next_steps == ()
    assert all(g.passed for g in result.gates)


def test_no_evidence_no_answers_is_level_1_with_steps_to_level_2() -> None:
    result = assess(Evidence(), None, RULES)
    assert result.level == 1
    assert result.build_level is BuildLevel.BASIC and result.tier is Program.BASIC
    assert result.score == 0.0
    assert result.questionnaire_missing
    assert result.next_steps[0].gate is None  # the questionnaire comes first
    assert {s.gate for s in result.next_steps[1:]} == {g.metric for g in RULES.level(2).gates} | {SCORE_GATE}
    assert all(s.level == 2 for s in result.next_steps)


# --- every gate boundary -----------------------------------------------------------------


def _gate_cases() -> list[tuple[int, str, object, object]]:
    """(level, metric, value at the threshold, value just past it) for every shipped gate."""
    cases = []
    for rule in RULES.levels:
        for g in rule.gates:
            kind = METRICS[g.metric].kind
            if kind is Kind.FLAG:
                cases.append((rule.level, g.metric, True, False))
            elif kind is Kind.AT_LEAST:
                step = 1 if METRICS[g.metric].integer else 0.001
                cases.append((rule.level, g.metric, g.threshold, g.threshold - step))
            else:
                cases.append((rule.level, g.metric, g.threshold, g.threshold + 0.001))
    return cases


@pytest.mark.parametrize(("level", "metric", "at", "past"), _gate_cases())
def test_each_gate_boundary(level: int, metric: str, at: object, past: object) -> None:
    passing = assess(full_evidence(**{metric: at}), answers(5), RULES)
    assert gate(passing, level, metric).passed
    assert passing.level >= level
    failing = assess(full_evidence(**{metric: past}), answers(5), RULES)
    result = gate(failing, level, metric)
    assert not result.passed
    assert result.evidence == past and result.threshold == at
    assert failing.level == level - 1
    assert any(s.gate == metric for s in failing.next_steps)


def test_missing_state_signal_fails_the_granularity_gate() -> None:
    result = assess(full_evidence(state_granularity_s=None), answers(5), RULES)
    assert not gate(result, 3, "state_granularity_s").passed
    assert result.level == 2
    assert "none" in gate(result, 3, "state_granularity_s").message_en


@pytest.mark.parametrize("level", [2, 3, 4, 5])
def test_min_score_boundary(level: int) -> None:
    evidence, given_answers = full_evidence(), answers(4)
    score = assess(evidence, given_answers, RULES).score
    at = with_level(RULES, level, min_score=score)
    for higher in range(level + 1, 6):
        at = with_level(at, higher, min_score=score)
    assert assess(evidence, given_answers, at).level == 5
    above = with_level(at, level, min_score=score + 0.1)
    for higher in range(level + 1, 6):
        above = with_level(above, higher, min_score=score + 0.1)
    result = assess(evidence, given_answers, above)
    assert result.level == level - 1
    assert not gate(result, level, SCORE_GATE).passed
    assert any(s.gate == SCORE_GATE and "Raise the score" in s.en for s in result.next_steps)


def test_a_failed_lower_gate_caps_the_level_even_if_higher_gates_pass() -> None:
    result = assess(full_evidence(has_counters=False), answers(5), RULES)
    assert result.level == 1
    assert all(g.passed for g in result.gates if g.level >= 3)


# --- build level and tier ------------------------------------------------------------------


def test_build_level_mapping_and_default_tier_boundary() -> None:
    by_level = {
        2: full_evidence(has_downtime_reasons=False),
        3: full_evidence(has_energy=False),
        4: full_evidence(closed_loop_control=False),
    }
    got = {n: assess(e, answers(5), RULES) for n, e in by_level.items()}
    assert {n: r.level for n, r in got.items()} == {2: 2, 3: 3, 4: 4}
    assert got[2].build_level is BuildLevel.BASIC and got[2].tier is Program.BASIC
    assert got[3].build_level is BuildLevel.INTERMEDIATE1 and got[3].tier is Program.ADVANCED
    assert got[4].build_level is BuildLevel.INTERMEDIATE2 and got[4].tier is Program.ADVANCED
    assert BuildLevel.INTERMEDIATE1.ko == "중간1"


def test_tier_boundary_is_a_setting() -> None:
    level3 = full_evidence(has_energy=False)
    level4 = full_evidence(closed_loop_control=False)
    stricter = dataclasses.replace(RULES, advanced_from=BuildLevel.INTERMEDIATE2)
    assert assess(level3, answers(5), stricter).tier is Program.BASIC
    assert assess(level4, answers(5), stricter).tier is Program.ADVANCED

    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    data["tier"]["advanced_from"] = "advanced"
    from_file = parse_rules(data)
    assert assess(level4, answers(5), from_file).tier is Program.BASIC
    assert assess(full_evidence(), answers(5), from_file).tier is Program.ADVANCED


# --- next steps --------------------------------------------------------------------------


def _machines() -> list[MachineEvidence]:
    full = dict(
        has_data=True,
        has_state_signal=True,
        state_interval_s=5.0,
        has_counters=True,
        has_reject_counts=True,
        has_order_or_lot=True,
        has_energy=True,
        has_process_values=True,
        setpoint_changes=2,
    )
    return [
        MachineEvidence("press-01", has_downtime_reasons=False, **full),
        MachineEvidence("press-02", has_downtime_reasons=False, **full),
        MachineEvidence("weld-01", has_downtime_reasons=True, **full),
    ]


def test_next_steps_name_the_machines_for_the_next_level() -> None:
    evidence = Evidence.from_machines(_machines(), kpis_computable=True, data_days=400)
    result = assess(evidence, answers(5), RULES)
    assert result.level == 2
    steps = [s for s in result.next_steps if s.gate == "has_downtime_reasons"]
    assert len(steps) == 1
    assert steps[0].en == "Register downtime reasons on press-01, press-02 (role downtime_reason)"
    assert "press-01, press-02" in steps[0].ko and "비가동 사유" in steps[0].ko
    assert steps[0].level == 3
    failed = {g.id for g in result.gates if g.level == 3 and not g.passed}
    assert {s.gate for s in result.next_steps} == failed


def test_every_gate_metric_has_a_bilingual_step() -> None:
    for metric in METRICS:
        for evidence in (Evidence(), Evidence(machines=tuple(_machines()))):
            threshold = True if METRICS[metric].kind is Kind.FLAG else 1
            en, ko = action(metric, threshold, evidence)
            assert en and any("가" <= ch <= "힣" for ch in ko), metric


def test_coverage_and_granularity_steps_name_machines() -> None:
    machines = [*_machines(), MachineEvidence("press-03")]
    slow = [
        dataclasses.replace(m, state_interval_s=120.0) if m.machine_id == "weld-01" else m for m in machines
    ]
    evidence = Evidence.from_machines(slow, kpis_computable=True, data_days=400)
    assert evidence.auto_capture_coverage == pytest.approx(0.75)
    result = assess(evidence, answers(5), RULES)
    assert result.level == 1
    coverage = next(s for s in result.next_steps if s.gate == "auto_capture_coverage")
    assert "press-03" in coverage.en and "press-03" in coverage.ko
    en, _ = action("state_granularity_s", 1.0, evidence)
    assert "weld-01" in en and "press-01" in en


def test_level_5_has_no_next_steps_and_partial_questionnaire_is_flagged() -> None:
    partial = answers(5)
    partial.pop("network")
    result = assess(full_evidence(), partial, RULES)
    assert not result.questionnaire_missing
    assert result.unanswered_items == ("network",)
    assert [s.gate for s in result.next_steps] == [None]
    assert "network" in result.next_steps[0].en


# --- score --------------------------------------------------------------------------------


def test_score_parts_follow_the_field_weights_and_measured_share() -> None:
    result = assess(full_evidence(), None, RULES)
    parts = {p.field.value: p for p in result.score_parts}
    assert {k: p.max_points for k, p in parts.items()} == {
        "strategy": 100,
        "process": 400,
        "system": 400,
        "performance": 100,
    }
    # without the questionnaire only the measured share of each field is earned
    for key, share in RULES.measured_share.items():
        assert parts[key.value].questionnaire_points == 0
        assert parts[key.value].measured_points == pytest.approx(parts[key.value].max_points * share)
    assert result.score == pytest.approx(sum(p.points for p in result.score_parts), abs=0.05)


def test_questionnaire_errors_propagate_from_assess() -> None:
    from assessor.domain.level import QuestionnaireError

    with pytest.raises(QuestionnaireError, match=r"answers\.strategy_targets"):
        assess(full_evidence(), {"strategy_targets": 7}, RULES)


def test_from_machines_aggregation() -> None:
    machines = _machines()
    machines[0] = dataclasses.replace(machines[0], has_energy=False, state_interval_s=1.0)
    machines[1] = dataclasses.replace(machines[1], has_energy=False, has_counters=False, state_interval_s=9.0)
    e = Evidence.from_machines([*machines, MachineEvidence("spare")], kpis_computable=False, data_days=3)
    assert e.auto_capture_coverage == pytest.approx(0.75)
    assert e.state_granularity_s == 5.0  # median of 1, 9, 5
    assert not e.has_counters  # monitoring signals must be on every connected machine
    assert e.has_energy  # energy metered anywhere counts
    assert not e.has_downtime_reasons
    assert e.quality_linked_to_process and e.setpoint_changes_recorded
    assert Evidence.from_machines([], kpis_computable=False, data_days=0) == Evidence()


def test_evidence_rejects_impossible_values() -> None:
    with pytest.raises(ValueError, match="auto_capture_coverage"):
        Evidence(auto_capture_coverage=1.2)
    with pytest.raises(ValueError, match="state_granularity_s"):
        Evidence(state_granularity_s=0)
    with pytest.raises(ValueError, match="data_days"):
        Evidence(data_days=-1)


# --- property tests --------------------------------------------------------------------------

random_evidence_st = st.builds(
    Evidence,
    auto_capture_coverage=st.floats(0, 1),
    state_granularity_s=st.none() | st.floats(0.01, 10_000),
    has_state_signal=st.booleans(),
    has_counters=st.booleans(),
    has_reject_counts=st.booleans(),
    has_downtime_reasons=st.booleans(),
    has_order_or_lot=st.booleans(),
    has_energy=st.booleans(),
    quality_linked_to_process=st.booleans(),
    setpoint_changes_recorded=st.booleans(),
    kpis_computable=st.booleans(),
    data_days=st.integers(0, 1000),
    closed_loop_control=st.booleans(),
)


@st.composite
def degraded_evidence(draw: st.DrawFn) -> Evidence:
    """Full evidence with a few items made worse, so that the upper levels get exercised too."""
    changes: dict[str, object] = {}
    for name in draw(st.lists(st.sampled_from(sorted(METRICS)), max_size=3, unique=True)):
        kind = METRICS[name].kind
        if kind is Kind.FLAG:
            changes[name] = False
        elif name == "auto_capture_coverage":
            changes[name] = draw(st.floats(0.7, 1))
        elif name == "data_days":
            changes[name] = draw(st.integers(0, 400))
        else:
            changes[name] = draw(st.none() | st.floats(0.5, 120))
    return full_evidence(**changes)


evidence_st = st.one_of(random_evidence_st, degraded_evidence())
answers_st = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from([i.id for i in ITEMS]), st.integers(0, 5)),
    st.fixed_dictionaries({i.id: st.integers(2, 5) for i in ITEMS}),
)


@st.composite
def improved(draw: st.DrawFn, e: Evidence) -> Evidence:
    """``e`` with any subset of its evidence made better (never worse)."""
    changes: dict[str, object] = {}
    for name, metric in METRICS.items():
        if not draw(st.booleans()):
            continue
        value = getattr(e, name)
        if metric.kind is Kind.FLAG:
            changes[name] = True
        elif name == "auto_capture_coverage":
            changes[name] = draw(st.floats(value, 1))
        elif name == "data_days":
            changes[name] = draw(st.integers(value, value + 500))
        else:  # state_granularity_s: faster sampling, or a signal where there was none
            changes[name] = draw(st.floats(0.01, value if value is not None else 10_000))
    return dataclasses.replace(e, **changes)


@settings(max_examples=200, deadline=None)
@given(evidence_st, answers_st)
def test_score_is_within_0_and_1000(evidence: Evidence, given_answers: dict[str, int] | None) -> None:
    result = assess(evidence, given_answers, RULES)
    assert 0 <= result.score <= 1000
    assert 1 <= result.level <= 5
    assert all(0 <= p.points <= p.max_points + 1e-9 for p in result.score_parts)
    assert math.isfinite(result.score)


@settings(max_examples=300, deadline=None)
@given(st.data(), evidence_st, answers_st)
def test_better_evidence_never_lowers_the_level(
    data: st.DataObject, evidence: Evidence, given_answers: dict[str, int] | None
) -> None:
    better = data.draw(improved(evidence))
    before = assess(evidence, given_answers, RULES)
    after = assess(better, given_answers, RULES)
    assert after.level >= before.level
    assert after.score >= before.score


# --- rules file errors name the key path -------------------------------------------------------


def _shipped() -> dict:
    return yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))


def _errors(data: object) -> list[str]:
    with pytest.raises(RulesError) as exc:
        parse_rules(data)
    return exc.value.errors


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (
            lambda d: d["levels"][3]["gates"].update(state_granularity_s="fast"),
            "levels.3.gates.state_granularity_s:",
        ),
        (
            lambda d: d["levels"][3]["gates"].update(has_energy=False),
            "levels.3.gates.has_energy: a flag gate",
        ),
        (
            lambda d: d["levels"][2]["gates"].update(auto_capture_coverage=1.5),
            "levels.2.gates.auto_capture_coverage",
        ),
        (
            lambda d: d["levels"][2]["gates"].update(data_days=2.5),
            "levels.2.gates.data_days: expected a whole",
        ),
        (
            lambda d: d["levels"][2]["gates"].update(vibes=True),
            "levels.2.gates.vibes: unknown evidence metric",
        ),
        (lambda d: d["levels"][4].update(min_score=400), "levels.4.min_score: 400 is below level 3"),
        (
            lambda d: d["levels"][4].update(build_level="basic"),
            "levels.4.build_level: basic is below level 3",
        ),
        (lambda d: d["levels"][4].update(build_level="expert"), "levels.4.build_level: unknown build level"),
        (lambda d: d["levels"][5].pop("min_score"), "levels.5.min_score: required key is missing"),
        (lambda d: d["levels"][5].update(colour="red"), "levels.5.colour: unknown key"),
        (lambda d: d["levels"].pop(4), "levels.4: required key is missing"),
        (lambda d: d["tier"].update(advanced_from="gold"), "tier.advanced_from: unknown build level"),
        (lambda d: d.pop("tier"), "tier: required key is missing"),
        (lambda d: d["scoring"]["measured_share"].update(system=1.5), "scoring.measured_share.system: 1.5"),
        (lambda d: d["scoring"]["measured_share"].pop("process"), "scoring.measured_share.process: required"),
        (
            lambda d: d["scoring"]["measured_share"].update(strategy=0.2),
            "scoring.measured_share.strategy: must be 0",
        ),
        (lambda d: d.update(version=2), "version: unsupported version 2"),
    ],
)
def test_rules_errors_name_the_key_path(edit, fragment: str) -> None:
    data = _shipped()
    edit(data)
    errors = _errors(data)
    assert any(fragment in e for e in errors), errors


def test_rules_errors_carry_line_numbers_and_file_errors(tmp_path: Path) -> None:
    text = DEFAULT_RULES_PATH.read_text(encoding="utf-8").replace("has_energy: true", "has_energy: maybe")
    with pytest.raises(RulesError) as exc:
        parse_rules_text(text, "rules.yaml")
    (line,) = exc.value.errors
    assert line.startswith("levels.4.gates.has_energy: a flag gate must be true")
    assert "(line " in line
    assert str(exc.value).startswith("rules.yaml: 1 error(s)")

    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("levels: [unclosed\n", encoding="utf-8")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules(bad)
    with pytest.raises(RulesError, match="empty"):
        parse_rules(None)
