"""Level cut-offs and gates: read from configs/assessment-levels.yaml, validated by key path.

The official score cut-offs per level are not published, so none are built in: the
file ships documented defaults and every threshold can be changed there.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from assessor.domain.level.evidence import METRICS, Kind
from assessor.domain.level.questionnaire import FIELD_POINTS, Field
from assessor.domain.models import Program

DEFAULT_RULES_PATH = Path(__file__).resolve().parents[3] / "configs" / "assessment-levels.yaml"

LEVELS = (1, 2, 3, 4, 5)
MAX_SCORE = sum(FIELD_POINTS.values())


class BuildLevel(StrEnum):
    """Korean build level (구축시스템 스마트화 수준), lowest first."""

    BASIC = "basic"
    INTERMEDIATE1 = "intermediate1"
    INTERMEDIATE2 = "intermediate2"
    ADVANCED = "advanced"

    @property
    def rank(self) -> int:
        return list(BuildLevel).index(self)

    @property
    def ko(self) -> str:
        return _BUILD_LEVEL_KO[self]


_BUILD_LEVEL_KO = {
    BuildLevel.BASIC: "기초",
    BuildLevel.INTERMEDIATE1: "중간1",
    BuildLevel.INTERMEDIATE2: "중간2",
    BuildLevel.ADVANCED: "고도화",
}


@dataclass(frozen=True)
class Gate:
    """``metric`` is an Evidence attribute; its direction comes from evidence.METRICS."""

    metric: str
    threshold: float | bool


@dataclass(frozen=True)
class LevelRule:
    level: int
    name_en: str
    name_ko: str
    build_level: BuildLevel
    min_score: float
    gates: tuple[Gate, ...] = ()


@dataclass(frozen=True)
class LevelRules:
    levels: tuple[LevelRule, ...]
    #: lowest build level funded as advanced (고도화); since 2022 intermediate 1 ("고도화1")
    advanced_from: BuildLevel
    #: share of each field's points that comes from measured evidence (0..1)
    measured_share: Mapping[Field, float]
    source: str = "<rules>"

    def level(self, number: int) -> LevelRule:
        for rule in self.levels:
            if rule.level == number:
                return rule
        raise KeyError(number)

    def tier(self, build_level: BuildLevel) -> Program:
        return Program.ADVANCED if build_level.rank >= self.advanced_from.rank else Program.BASIC


class RulesError(Exception):
    """A rules file that cannot be used; ``errors`` holds one line per problem, by key path."""

    def __init__(self, source: str, errors: list[str]):
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: {len(errors)} error(s)\n" + "\n".join(errors))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Checker:
    """Collects every problem instead of stopping at the first, so one edit fixes them all."""

    def __init__(self, lines: Mapping[tuple[str, ...], int]):
        self.errors: list[str] = []
        self._lines = lines

    def error(self, path: tuple[str, ...], message: str) -> None:
        where = ".".join(path) or "(top level)"
        line = None
        for n in range(len(path), -1, -1):
            line = self._lines.get(path[:n])
            if line is not None:
                break
        suffix = f" (line {line})" if line is not None else ""
        self.errors.append(f"{where}: {message}{suffix}")

    def mapping(self, node: Any, path: tuple[str, ...], allowed: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(node, dict):
            self.error(path, f"expected a mapping, got {type(node).__name__}")
            return {}
        out = {str(k): v for k, v in node.items()}
        if allowed is not None:
            for key in out:
                if key not in allowed:
                    self.error((*path, key), f"unknown key (expected one of: {', '.join(sorted(allowed))})")
        return out

    def section(
        self, node: dict[str, Any], key: str, path: tuple[str, ...], allowed: set[str] | None = None
    ) -> dict[str, Any]:
        """A required sub-mapping; reports a missing key once, not also as a wrong type."""
        if key not in node:
            self.error((*path, key), "required key is missing")
            return {}
        return self.mapping(node[key], (*path, key), allowed)

    def required(self, node: dict[str, Any], key: str, path: tuple[str, ...]) -> Any:
        if key not in node:
            self.error((*path, key), "required key is missing")
        return node.get(key)

    def text(self, node: dict[str, Any], key: str, path: tuple[str, ...]) -> str:
        value = self.required(node, key, path)
        if key in node and (not isinstance(value, str) or not value.strip()):
            self.error((*path, key), f"expected non-empty text, got {value!r}")
            return ""
        return value if isinstance(value, str) else ""

    def number(self, value: Any, path: tuple[str, ...], low: float, high: float) -> float | None:
        if not _is_number(value):
            self.error(path, f"expected a number, got {value!r}")
            return None
        if not low <= value <= high:
            self.error(path, f"{value} is outside {low:g}..{high:g}")
            return None
        return float(value)

    def build_level(self, value: Any, path: tuple[str, ...]) -> BuildLevel | None:
        try:
            return BuildLevel(value)
        except ValueError:
            known = ", ".join(b.value for b in BuildLevel)
            self.error(path, f"unknown build level {value!r} (expected one of: {known})")
            return None


def _gate(check: _Checker, metric: str, value: Any, path: tuple[str, ...]) -> Gate | None:
    m = METRICS.get(metric)
    if m is None:
        check.error(path, f"unknown evidence metric (expected one of: {', '.join(METRICS)})")
        return None
    if m.kind is Kind.FLAG:
        # a gate requiring a capability to be absent would reward less digitisation
        if value is not True:
            check.error(path, f"a flag gate must be true, got {value!r}")
            return None
        return Gate(metric, True)
    if m.integer and (not isinstance(value, int) or isinstance(value, bool)):
        check.error(path, f"expected a whole number, got {value!r}")
        return None
    low = m.low if m.low is not None else float("-inf")
    high = m.high if m.high is not None else float("inf")
    number = check.number(value, path, low, high)
    if number is None:
        return None
    if m.kind is Kind.AT_MOST and number <= 0:
        check.error(path, f"expected a positive number of {m.unit or 'units'}, got {value!r}")
        return None
    return Gate(metric, int(number) if m.integer else number)


def _level(check: _Checker, number: int, node: Any, path: tuple[str, ...]) -> LevelRule | None:
    body = check.mapping(node, path, {"name_en", "name_ko", "build_level", "min_score", "gates"})
    if not body:
        return None
    name_en = check.text(body, "name_en", path)
    name_ko = check.text(body, "name_ko", path)
    build = check.build_level(check.required(body, "build_level", path), (*path, "build_level"))
    min_score = None
    if "min_score" in body:
        min_score = check.number(body["min_score"], (*path, "min_score"), 0, MAX_SCORE)
    else:
        check.error((*path, "min_score"), "required key is missing")
    gates: list[Gate] = []
    raw_gates = body.get("gates") or {}
    for metric, value in check.mapping(raw_gates, (*path, "gates")).items():
        gate = _gate(check, metric, value, (*path, "gates", metric))
        if gate is not None:
            gates.append(gate)
    if build is None or min_score is None:
        return None
    return LevelRule(number, name_en, name_ko, build, min_score, tuple(gates))


def parse_rules(
    data: Any, source: str = "<rules>", lines: Mapping[tuple[str, ...], int] | None = None
) -> LevelRules:
    """Validate parsed YAML; raise RulesError listing every problem by key path."""
    check = _Checker(lines or {})
    if data is None:
        raise RulesError(source, ["(top level): the file is empty"])
    top = check.mapping(data, (), {"version", "tier", "scoring", "levels"})
    if not top:
        raise RulesError(source, check.errors or ["(top level): no sections (expected version, tier, ...)"])

    version = check.required(top, "version", ())
    if "version" in top and version != 1:
        check.error(("version",), f"unsupported version {version!r} (this assessor reads version 1)")

    tier = check.section(top, "tier", (), {"advanced_from"})
    advanced_from = None
    if tier:
        advanced_from = check.build_level(
            check.required(tier, "advanced_from", ("tier",)), ("tier", "advanced_from")
        )

    scoring = check.section(top, "scoring", (), {"measured_share"})
    shares: dict[Field, float] = {}
    if scoring:
        path = ("scoring", "measured_share")
        raw = check.section(scoring, "measured_share", ("scoring",), set(Field))
        for fld in Field:
            if fld.value not in raw:
                if isinstance(scoring.get("measured_share"), dict):
                    check.error((*path, fld.value), "required key is missing")
                continue
            share = check.number(raw[fld.value], (*path, fld.value), 0.0, 1.0)
            # no evidence measures strategy: a share there would only cap the field's points
            if share is not None and fld is Field.STRATEGY and share != 0:
                check.error((*path, fld.value), "must be 0: no measured evidence covers strategy")
            elif share is not None:
                shares[fld] = share

    levels: list[LevelRule] = []
    raw_levels = check.section(top, "levels", (), {str(n) for n in LEVELS})
    for number in LEVELS:
        path = ("levels", str(number))
        if str(number) not in raw_levels:
            if isinstance(top.get("levels"), dict):
                check.error(path, "required key is missing (levels 1 to 5 must all be defined)")
            continue
        rule = _level(check, number, raw_levels[str(number)], path)
        if rule is not None:
            levels.append(rule)

    # a higher level that needs less than a lower one would make the gated level jump around
    for lower, higher in itertools.pairwise(levels):
        path = ("levels", str(higher.level))
        if higher.min_score < lower.min_score:
            check.error(
                (*path, "min_score"),
                f"{higher.min_score:g} is below level {lower.level}'s {lower.min_score:g}",
            )
        if higher.build_level.rank < lower.build_level.rank:
            check.error(
                (*path, "build_level"),
                f"{higher.build_level.value} is below level {lower.level}'s {lower.build_level.value}",
            )

    if check.errors or advanced_from is None:
        raise RulesError(source, check.errors or ["tier.advanced_from: required key is missing"])
    return LevelRules(tuple(levels), advanced_from, MappingProxyType(shares), source)


def _line_index(text: str) -> dict[tuple[str, ...], int]:
    """Map key paths to 1-based line numbers, so errors can point into the file."""
    index: dict[tuple[str, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return index

    def walk(node: Any, path: tuple[str, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, (*path, str(key.value)))

    if root is not None:
        walk(root, ())
    return index


def parse_rules_text(text: str, source: str = "<rules>") -> LevelRules:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise RulesError(source, [f"{where}not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    return parse_rules(data, source, _line_index(text))


def load_rules(path: str | Path | None = None) -> LevelRules:
    """Read the rules file (default: configs/assessment-levels.yaml of this checkout)."""
    path = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(str(path), [f"cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise RulesError(str(path), [f"not UTF-8 text: {exc.reason} at byte {exc.start}"]) from None
    return parse_rules_text(text, str(path))
