"""Score out of 1,000 and gated level 1-5, with the reasons and the next steps.

Score: each KS X 9001-3 field earns ``points x ((1 - share) x questionnaire + share x
measured)``, both parts in 0..1, where ``share`` comes from the rules file. Level: the
highest level whose gates and minimum score pass, together with those of every lower
level; gates are what the collector can prove, the score is the rest of the picture.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from assessor.domain.level.evidence import (
    METRICS,
    Evidence,
    Value,
    action,
    format_threshold,
    format_value,
    passes,
)
from assessor.domain.level.questionnaire import (
    FIELD_NAMES,
    FIELD_POINTS,
    Field,
    field_ratios,
    unanswered,
    validate_answers,
)
from assessor.domain.level.rules import MAX_SCORE, BuildLevel, LevelRule, LevelRules
from assessor.domain.models import Program

SCORE_GATE = "min_score"

#: state sampling slower than this earns nothing for granularity; 1 s or faster earns all
_SLOWEST_USEFUL_S = 3600.0
#: days of history after which the measured history indicator is full
_FULL_HISTORY_DAYS = 180


def _flag(attr: str) -> Callable[[Evidence], float]:
    return lambda e: 1.0 if getattr(e, attr) else 0.0


def _granularity(e: Evidence) -> float:
    g = e.state_granularity_s
    if g is None:
        return 0.0
    # log scale: going from 60 s to 6 s matters about as much as 600 s to 60 s
    return min(1.0, max(0.0, 1.0 - math.log(max(g, 1.0)) / math.log(_SLOWEST_USEFUL_S)))


#: measured indicators per field, each in 0..1 and never lower for better evidence (the
#: level must not drop when evidence improves); equal weights inside a field
MEASURED_INDICATORS: Mapping[Field, tuple[tuple[str, Callable[[Evidence], float]], ...]] = MappingProxyType(
    {
        Field.STRATEGY: (),
        Field.PROCESS: (
            ("has_order_or_lot", _flag("has_order_or_lot")),
            ("has_downtime_reasons", _flag("has_downtime_reasons")),
            ("has_reject_counts", _flag("has_reject_counts")),
            ("quality_linked_to_process", _flag("quality_linked_to_process")),
        ),
        Field.SYSTEM: (
            ("auto_capture_coverage", lambda e: e.auto_capture_coverage),
            ("has_state_signal", _flag("has_state_signal")),
            ("has_counters", _flag("has_counters")),
            ("state_granularity_s", _granularity),
            ("setpoint_changes_recorded", _flag("setpoint_changes_recorded")),
            ("closed_loop_control", _flag("closed_loop_control")),
        ),
        Field.PERFORMANCE: (
            ("kpis_computable", _flag("kpis_computable")),
            ("has_energy", _flag("has_energy")),
            ("data_days", lambda e: min(1.0, e.data_days / _FULL_HISTORY_DAYS)),
        ),
    }
)


@dataclass(frozen=True)
class FieldScore:
    field: Field
    max_points: int
    #: weighted mean answer / 5, unanswered items as 0
    questionnaire_ratio: float
    #: mean of the field's measured indicators
    measured_ratio: float
    questionnaire_points: float
    measured_points: float

    @property
    def points(self) -> float:
        return self.questionnaire_points + self.measured_points

    @property
    def name_en(self) -> str:
        return FIELD_NAMES[self.field][0]

    @property
    def name_ko(self) -> str:
        return FIELD_NAMES[self.field][1]


@dataclass(frozen=True)
class GateResult:
    level: int
    #: the evidence metric, or "min_score"
    id: str
    passed: bool
    evidence: Value
    threshold: float | bool
    message_en: str
    message_ko: str
    #: what the evidence value leaves out and why (a flagged KPI), in each language; ''
    note_en: str = ""
    note_ko: str = ""


@dataclass(frozen=True)
class Step:
    en: str
    ko: str
    level: int
    #: the gate the step would pass; None for the questionnaire
    gate: str | None = None


@dataclass(frozen=True)
class Assessment:
    level: int
    level_name: str
    level_name_ko: str
    build_level: BuildLevel
    tier: Program
    score: float
    score_parts: tuple[FieldScore, ...]
    #: gates of every level, passed or not, lowest level first
    gates: tuple[GateResult, ...]
    #: what to do to reach ``level + 1``; empty at level 5
    next_steps: tuple[Step, ...]
    questionnaire_missing: bool
    unanswered_items: tuple[str, ...] = ()

    def part(self, field: Field) -> FieldScore:
        return next(p for p in self.score_parts if p.field is field)


def score_parts(evidence: Evidence, answers: Mapping[str, int], rules: LevelRules) -> tuple[FieldScore, ...]:
    q = field_ratios(answers)
    parts = []
    for fld in Field:
        indicators = MEASURED_INDICATORS[fld]
        measured = sum(f(evidence) for _, f in indicators) / len(indicators) if indicators else 0.0
        share = rules.measured_share[fld]
        points = FIELD_POINTS[fld]
        parts.append(
            FieldScore(
                field=fld,
                max_points=points,
                questionnaire_ratio=q[fld],
                measured_ratio=measured,
                questionnaire_points=points * (1.0 - share) * q[fld],
                measured_points=points * share * measured,
            )
        )
    return tuple(parts)


def _gate_results(rule: LevelRule, evidence: Evidence, score: float) -> list[GateResult]:
    head_en = f"Level {rule.level} ({rule.name_en})"
    head_ko = f"Level {rule.level} ({rule.name_ko})"
    out = []
    for gate in rule.gates:
        m = METRICS[gate.metric]
        value = evidence.value(gate.metric)
        ok = passes(m, value, gate.threshold)
        note_en, note_ko = evidence.note(gate.metric, "en"), evidence.note(gate.metric, "ko")
        out.append(
            GateResult(
                level=rule.level,
                id=gate.metric,
                passed=ok,
                evidence=value,
                threshold=gate.threshold,
                message_en=f"{head_en}: {m.label_en}: {format_value(m, value, 'en')}"
                f"{f' ({note_en})' if note_en else ''} "
                f"(needs {format_threshold(m, gate.threshold, 'en')}) - {'passed' if ok else 'failed'}",
                message_ko=f"{head_ko}: {m.label_ko}: {format_value(m, value, 'ko')}"
                f"{f' ({note_ko})' if note_ko else ''} "
                f"(기준 {format_threshold(m, gate.threshold, 'ko')}) - {'충족' if ok else '미충족'}",
                note_en=note_en,
                note_ko=note_ko,
            )
        )
    # level 1 with a zero minimum would only add a line that always passes
    if rule.min_score > 0:
        ok = score >= rule.min_score
        out.append(
            GateResult(
                level=rule.level,
                id=SCORE_GATE,
                passed=ok,
                evidence=score,
                threshold=rule.min_score,
                message_en=f"{head_en}: score: {score:,.1f} (needs >= {rule.min_score:,g}) - "
                f"{'passed' if ok else 'failed'}",
                message_ko=f"{head_ko}: 점수: {score:,.1f}점 (기준 {rule.min_score:,g}점 이상) - "
                f"{'충족' if ok else '미충족'}",
            )
        )
    return out


def _score_step(level: LevelRule, score: float, parts: tuple[FieldScore, ...]) -> Step:
    gaps = sorted(parts, key=lambda p: p.max_points - p.points, reverse=True)[:2]
    en = " and ".join(f"{p.name_en} ({p.points:,.0f} of {p.max_points})" for p in gaps)
    ko = ", ".join(f"{p.name_ko}({p.points:,.0f}/{p.max_points}점)" for p in gaps)
    return Step(
        en=f"Raise the score from {score:,.1f} to {level.min_score:,g} (Level {level.level} minimum): "
        f"the largest gaps are {en}; answer the questionnaire again once improvements are in place",
        ko=f"점수를 {score:,.1f}점에서 {level.min_score:,g}점 이상으로 올리세요 "
        f"(Level {level.level} 최소 점수): "
        f"부족이 가장 큰 분야는 {ko}입니다. 개선 후 설문에 다시 답하세요",
        level=level.level,
        gate=SCORE_GATE,
    )


def assess(evidence: Evidence, answers: Mapping[str, int] | None, rules: LevelRules) -> Assessment:
    """Score and level of one factory; raises QuestionnaireError naming any bad answer."""
    valid = validate_answers(answers) if answers else {}
    missing = not valid
    parts = score_parts(evidence, valid, rules)
    # rounded before the gates so the shown score and the gate decision always agree
    score = min(float(MAX_SCORE), max(0.0, round(sum(p.points for p in parts), 1)))

    gates: list[GateResult] = []
    level = rules.levels[0].level
    still_passing = True
    for rule in rules.levels:
        results = _gate_results(rule, evidence, score)
        gates.extend(results)
        still_passing = still_passing and all(r.passed for r in results)
        if still_passing:
            level = rule.level
    reached = rules.level(level)

    steps: list[Step] = []
    target = next((r for r in rules.levels if r.level == level + 1), None)
    if missing:
        steps.append(
            Step(
                en="Answer the questionnaire: without it the score has only the measured part",
                ko="설문에 답하세요: 설문이 없으면 점수에는 측정 부분만 반영됩니다",
                level=target.level if target else level,
            )
        )
    elif todo := unanswered(valid):
        steps.append(
            Step(
                en=f"Answer the remaining questionnaire items: {', '.join(todo)}",
                ko=f"남은 설문 항목에 답하세요: {', '.join(todo)}",
                level=target.level if target else level,
            )
        )
    if target is not None:
        for result in gates:
            if result.level != target.level or result.passed:
                continue
            if result.id == SCORE_GATE:
                steps.append(_score_step(target, score, parts))
            else:
                en, ko = action(result.id, result.threshold, evidence)
                steps.append(Step(en=en, ko=ko, level=target.level, gate=result.id))

    return Assessment(
        level=level,
        level_name=reached.name_en,
        level_name_ko=reached.name_ko,
        build_level=reached.build_level,
        tier=rules.tier(reached.build_level),
        score=score,
        score_parts=parts,
        gates=tuple(gates),
        next_steps=tuple(steps),
        questionnaire_missing=answers is None or not answers,
        unanswered_items=unanswered(valid),
    )
