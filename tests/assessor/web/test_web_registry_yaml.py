"""The registry editor starts from the stored factory: its YAML must import back unchanged."""

from __future__ import annotations

from pathlib import Path

from assessor.registry.importer import load_registry, parse_registry
from assessor.web.registry_yaml import NEW_FACTORY_YAML, factory_yaml
from tests.support.assessor_env import REGISTRY_YAML

EXTRA = """\
factories:
  - id: "0123"
    name: 숫자공장
    small_stop: 90s
    timezone: Europe/Berlin
    products:
      - {id: B-200, name: 하우징, ideal_cycle_time: 45s, machines: {m2: 40s, m1: 750ms}}
      - {id: "0042", ideal_cycle_time: 37.333333333333336}
      - {id: A-100, ideal_cycle_time: 1.5s}
    calendar:
      shifts: [{days: [sat, sun], start: "22:00", end: "06:00:30"}]
      breaks: [{start: "02:00", end: "02:30", days: [sun], name: 야간휴식}]
      holidays: [2024-12-25, 2024-01-01]
    lines:
      - id: l1
        name: 1라인
        machines:
          - {id: m1, name: 프레스, ideal_cycle_time: 500ms}
          - {id: m2, ideal_cycle_time: 2.5s, line_output: true}
    support_projects:
      - {id: p1, program: advanced, start: 2024-03-01, end: 2024-08-31,
         baseline: {start: 2023-09-01, end: 2024-02-28},
         after: {start: 2024-09-01, end: 2025-02-28}}
"""


def test_every_factory_round_trips() -> None:
    for f in parse_registry(REGISTRY_YAML) + parse_registry(EXTRA):
        assert parse_registry(factory_yaml(f)) == [f]


def test_ids_that_look_like_numbers_stay_text() -> None:
    f = parse_registry(EXTRA)[0]
    assert "'0123'" in factory_yaml(f)


def test_the_new_factory_template_imports() -> None:
    assert parse_registry(NEW_FACTORY_YAML)[0].id == "new-factory"


def test_products_and_line_output_survive_the_editor() -> None:
    (f,) = parse_registry(EXTRA)
    (again,) = parse_registry(factory_yaml(f))
    assert [p.id for p in again.products] == ["B-200", "0042", "A-100"]
    assert list(again.products[0].machine_times.items()) == [("m2", 40.0), ("m1", 0.75)]
    assert again.products[1].ideal_cycle_time_s == 37.333333333333336
    assert [m.line_output for m in again.machines] == [False, True]


def test_the_demo_registry_round_trips() -> None:
    for f in load_registry(Path(__file__).parents[3] / "configs" / "registry-demo.yaml"):
        assert f.products
        assert parse_registry(factory_yaml(f)) == [f]
