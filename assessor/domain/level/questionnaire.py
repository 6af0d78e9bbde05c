"""Self-assessment questionnaire: the part of the KS X 9001-3 model that data cannot show.

Eleven items, each rated 0-5 and belonging to one of the model's four fields. The field
points (100 / 400 / 400 / 100 of 1,000) are the published weights of the evaluation
model; the items are a condensed version of its areas, not the official 95 items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

MIN_ANSWER = 0
MAX_ANSWER = 5


class Field(StrEnum):
    STRATEGY = "strategy"
    PROCESS = "process"
    SYSTEM = "system"
    PERFORMANCE = "performance"


#: points of each field out of 1,000 (KS X 9001-3 evaluation model, MOTIE 2015)
FIELD_POINTS: Mapping[Field, int] = MappingProxyType(
    {Field.STRATEGY: 100, Field.PROCESS: 400, Field.SYSTEM: 400, Field.PERFORMANCE: 100}
)

FIELD_NAMES: Mapping[Field, tuple[str, str]] = MappingProxyType(
    {
        Field.STRATEGY: ("leadership and strategy", "리더십과 전략"),
        Field.PROCESS: ("process", "프로세스"),
        Field.SYSTEM: ("system and automation", "시스템과 자동화"),
        Field.PERFORMANCE: ("performance", "성과"),
    }
)


@dataclass(frozen=True)
class Item:
    id: str
    field: Field
    text_en: str
    text_ko: str
    #: relative weight inside its field
    weight: float = 1.0


ITEMS: tuple[Item, ...] = (
    Item(
        "strategy_targets",
        Field.STRATEGY,
        "How management sets smart-factory goals and targets",
        "스마트공장 추진 전략과 목표 수립",
    ),
    Item(
        "strategy_people",
        Field.STRATEGY,
        "Dedicated staff and training for running the systems",
        "시스템 운영 전담 인력과 교육",
    ),
    Item("production_planning", Field.PROCESS, "How production is planned", "생산계획 수립 방식"),
    Item(
        "work_orders",
        Field.PROCESS,
        "How work orders are issued and results reported",
        "작업지시와 생산실적 관리 방식",
    ),
    Item("quality_control", Field.PROCESS, "How quality is inspected and analysed", "품질 검사와 분석 방식"),
    Item("maintenance", Field.PROCESS, "How equipment is maintained", "설비 보전 방식"),
    Item("materials", Field.PROCESS, "How materials and inventory are tracked", "자재와 재고 관리 방식"),
    Item(
        "information_systems",
        Field.SYSTEM,
        "Which information systems are used (ERP, MES, PLM, EMS) and how they connect",
        "정보시스템(ERP·MES·PLM·EMS) 활용과 연계",
    ),
    Item(
        "equipment_control",
        Field.SYSTEM,
        "How far equipment is automated and controlled",
        "설비 자동화와 제어 수준",
    ),
    Item(
        "network",
        Field.SYSTEM,
        "How machines are networked with the systems",
        "설비와 시스템의 네트워크 연결",
    ),
    Item(
        "kpi_management",
        Field.PERFORMANCE,
        "How productivity, quality, cost and delivery are measured and acted on",
        "생산성·품질·원가·납기 성과 관리 방식",
    ),
)

ITEMS_BY_ID: Mapping[str, Item] = MappingProxyType({item.id: item for item in ITEMS})

#: what each answer means, shared by all items so answers stay comparable across them
ANSWER_SCALE: tuple[tuple[int, str, str], ...] = (
    (0, "not done", "하지 않음"),
    (1, "by hand, case by case", "수작업, 그때그때"),
    (2, "partly digitised (spreadsheets, some systems)", "일부 전산화(엑셀, 일부 시스템)"),
    (3, "digitised and done systematically", "전산화되어 체계적으로 운영"),
    (4, "integrated and analysed in real time", "시스템 간 연계, 실시간 분석"),
    (5, "optimised or automated from the data", "데이터 기반 최적화·자동화"),
)


class QuestionnaireError(ValueError):
    """Answers that cannot be scored; ``errors`` holds one line per problem, each naming the item."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__(f"{len(errors)} questionnaire error(s)\n" + "\n".join(errors))


def validate_answers(answers: Mapping[str, object]) -> dict[str, int]:
    """Return the answers as ints; raise QuestionnaireError naming every bad item."""
    errors: list[str] = []
    valid: dict[str, int] = {}
    for item_id, value in answers.items():
        where = f"answers.{item_id}"
        if item_id not in ITEMS_BY_ID:
            errors.append(f"{where}: unknown item id (known: {', '.join(ITEMS_BY_ID)})")
            continue
        # bool is an int subclass; True as "1" would be a silent data-entry error
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{where}: expected a whole number {MIN_ANSWER}..{MAX_ANSWER}, got {value!r}")
            continue
        if not MIN_ANSWER <= value <= MAX_ANSWER:
            errors.append(f"{where}: {value} is outside {MIN_ANSWER}..{MAX_ANSWER}")
            continue
        valid[item_id] = value
    if errors:
        raise QuestionnaireError(errors)
    return valid


def unanswered(answers: Mapping[str, int]) -> tuple[str, ...]:
    return tuple(item.id for item in ITEMS if item.id not in answers)


def field_ratios(answers: Mapping[str, int]) -> dict[Field, float]:
    """Weighted mean answer per field as a fraction of the top answer (0..1).

    An unanswered item counts as 0: a field nobody vouched for earns no points, so a
    partial questionnaire can never score higher than a complete one.
    """
    ratios: dict[Field, float] = {}
    for fld in Field:
        items = [item for item in ITEMS if item.field is fld]
        total = sum(item.weight for item in items)
        got = sum(item.weight * answers.get(item.id, 0) / MAX_ANSWER for item in items)
        ratios[fld] = got / total if total else 0.0
    return ratios
