"""Questionnaire items and answer validation."""

from __future__ import annotations

import re

import pytest

from assessor.domain.level.questionnaire import (
    FIELD_POINTS,
    ITEMS,
    ITEMS_BY_ID,
    Field,
    QuestionnaireError,
    field_ratios,
    unanswered,
    validate_answers,
)

HANGUL = re.compile(r"[가-힣]")


def test_field_points_follow_the_ks_x_9001_3_model() -> None:
    assert dict(FIELD_POINTS) == {
        Field.STRATEGY: 100,
        Field.PROCESS: 400,
        Field.SYSTEM: 400,
        Field.PERFORMANCE: 100,
    }
    assert sum(FIELD_POINTS.values()) == 1000


def test_items_are_unique_bilingual_and_cover_every_field() -> None:
    assert 8 <= len(ITEMS) <= 14
    assert len(ITEMS_BY_ID) == len(ITEMS)
    assert {item.field for item in ITEMS} == set(Field)
    for item in ITEMS:
        assert item.text_en and HANGUL.search(item.text_ko), item.id
        assert item.weight > 0
    assert ITEMS_BY_ID["production_planning"].text_ko == "생산계획 수립 방식"


def test_valid_answers_pass_through() -> None:
    answers = {item.id: i % 6 for i, item in enumerate(ITEMS)}
    assert validate_answers(answers) == answers


@pytest.mark.parametrize(
    ("answers", "fragment"),
    [
        ({"no_such_item": 3}, "answers.no_such_item: unknown item id"),
        ({"production_planning": 6}, "answers.production_planning: 6 is outside 0..5"),
        ({"maintenance": -1}, "answers.maintenance: -1 is outside 0..5"),
        ({"network": True}, "answers.network: expected a whole number"),
        ({"network": "3"}, "answers.network: expected a whole number"),
        ({"network": 2.5}, "answers.network: expected a whole number"),
    ],
)
def test_bad_answers_name_the_item(answers: dict[str, object], fragment: str) -> None:
    with pytest.raises(QuestionnaireError) as exc:
        validate_answers(answers)
    assert any(fragment in line for line in exc.value.errors), exc.value.errors
    assert fragment in str(exc.value)


def test_every_bad_item_is_reported_at_once() -> None:
    with pytest.raises(QuestionnaireError) as exc:
        validate_answers({"bogus": 1, "materials": 9, "network": 3})
    assert len(exc.value.errors) == 2
    assert any("answers.bogus" in e for e in exc.value.errors)
    assert any("answers.materials" in e for e in exc.value.errors)


def test_field_ratios_and_unanswered_items_count_as_zero() -> None:
    assert field_ratios({item.id: 5 for item in ITEMS}) == {f: 1.0 for f in Field}
    assert field_ratios({}) == {f: 0.0 for f in Field}
    strategy = [item.id for item in ITEMS if item.field is Field.STRATEGY]
    ratios = field_ratios({strategy[0]: 5})
    assert ratios[Field.STRATEGY] == pytest.approx(1 / len(strategy))
    assert ratios[Field.PROCESS] == 0.0
    assert set(unanswered({strategy[0]: 5})) == {item.id for item in ITEMS} - {strategy[0]}
