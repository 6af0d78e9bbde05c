"""Tests of the assessor's registry: YAML import, SQLite store, tokens, baseline logs."""

from __future__ import annotations

#: the registry example of the issue, verbatim
ISSUE_YAML = """\
factories:
  - id: demo-factory
    name: 데모정밀
    region: 충남
    employees: 23
    timezone: Asia/Seoul            # extension, default Asia/Seoul
    calendar:                       # extension; absent = always planned
      shifts: [{days: [mon, tue, wed, thu, fri], start: "08:00", end: "17:00", name: day}]
      breaks: [{start: "12:00", end: "13:00", name: lunch}]
      holidays: [2023-05-05]
    lines:
      - id: line-1
        machines:
          - {id: press-01, ideal_cycle_time: 1s}
    support_projects:
      - {id: sp-2023, program: basic, start: 2023-03-01, end: 2023-08-31,
         baseline: {start: 2022-09-01, end: 2023-02-28}}
         # optional: after: {start: ..., end: ...}
"""

#: two factories, the first with two lines named the way daily logs name them
TWO_FACTORIES_YAML = """\
factories:
  - id: demo-factory
    name: 데모정밀
    region: 충남
    lines:
      - id: line-1
        name: 1라인
        machines:
          - {id: press-01, ideal_cycle_time: 1s}
          - {id: press-02, ideal_cycle_time: 1500ms, name: 2호기 프레스}
      - id: line-2
        name: 2라인
        machines:
          - {id: press-01, ideal_cycle_time: 2.5}
    support_projects:
      - id: sp-2023
        program: advanced
        start: 2023-03-01
        end: 2023-08-31
        baseline: {start: 2022-09-01, end: 2023-02-28}
        after: {start: 2023-09-01, end: 2024-02-29}
  - id: 천안-가공
    name: 천안가공
    region: 충남 천안
    employees: 8
"""
