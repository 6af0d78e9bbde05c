"""Response models of the API: what /docs and /openapi.json say every route answers.

The routes build their bodies as before (``respond``) and declare these models as
``response_model``: the bodies stay exactly what clients already read, and the models
describe them. tests/assessor/web/test_api_docs.py checks real answers against the
models, so a key added to a body without its model fails there.

Where the domain already has a dataclass for the answer (a factory, an assessment, a
gains report, a questionnaire item), that dataclass is the model: its JSON form is the
body (dates as ISO text, enums as their values). KPI rows take their KPI fields from
``Kpis`` and ``Losses``, so a KPI added there is described here too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import typing
from typing import Any, Literal

from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model

from assessor.domain.gains import GainsReport
from assessor.domain.kpi.losses import Losses
from assessor.domain.kpi.model import Kpis
from assessor.domain.level import Assessment
from assessor.domain.level.questionnaire import Item
from assessor.domain.models import Factory

__all__ = [
    "Assessment",
    "BaselineStored",
    "EnteredResult",
    "Factory",
    "FactorySummary",
    "GainsReport",
    "Health",
    "KpiReport",
    "PortfolioAnswer",
    "ProductKpiReport",
    "ProjectTargets",
    "QuestionnaireAnswers",
    "QuestionnaireForm",
    "RegistryImported",
    "jsonable",
    "respond",
]


class _Out(BaseModel):
    # a key the model does not name is a mistake in the model (the bodies are not
    # produced through it): the API docs test validates real answers with this
    model_config = ConfigDict(extra="forbid")


def jsonable(obj: Any) -> Any:
    """JSON form of the domain's dataclasses: dates as ISO text, enums as their values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [jsonable(v) for v in obj]
    if isinstance(obj, dt.date | dt.datetime | dt.time):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return obj.value
    return obj


_ANY = TypeAdapter(Any)


def respond(body: Any) -> Response:
    """The body, byte for byte as FastAPI sends a ``dict[str, Any]`` return value (pydantic's
    JSON encoder). A route that returns a response is not re-serialised through its
    ``response_model``, which would reorder keys and turn whole numbers into floats."""
    return Response(_ANY.dump_json(body), media_type="application/json")


class Health(_Out):
    status: Literal["ok"]


class FactorySummary(_Out):
    id: str
    name: str
    region: str
    employees: int | None


# -- KPIs -------------------------------------------------------------------------------


class Flag(_Out):
    kpi: str
    reason: str
    value: float | None


def _kpi_fields() -> dict[str, Any]:
    """The fields of ``Kpis`` as model fields (all present in every row), flags as
    objects, and the six big losses."""
    hints = typing.get_type_hints(Kpis)
    fields: dict[str, Any] = {f.name: (hints[f.name], ...) for f in dataclasses.fields(Kpis)}
    fields["flags"] = (list[Flag], ...)
    fields["losses"] = (Losses, ...)
    return fields


KpiFields = create_model("KpiFields", __base__=_Out, **_kpi_fields())


class KpiRow(KpiFields):  # type: ignore[misc, valid-type]
    """A row of machine, line or factory KPIs; ``line`` and ``machine`` are there for the
    groups that have them, ``day`` with ``granularity=day``."""

    factory: str
    line: str | None = None
    machine: str | None = None
    day: dt.date | None = None
    #: rejects entered at the line (scrap), included in ``reject_count``
    line_scrap: int
    #: where ``total_count`` comes from: the machines' counters, count corrections
    #: entered at the line, or both (some machine-days corrected)
    count_source: Literal["measured", "line", "measured+line"]


class ProductKpiRow(KpiFields):  # type: ignore[misc, valid-type]
    """KPIs per product (or machine and product); ``product`` is null for units made
    before any product was seen."""

    factory: str
    line: str | None = None
    machine: str | None = None
    product: str | None
    product_known: bool
    day: dt.date | None = None
    ideal_time_s: float
    standard_time_s: float


class UnknownProduct(_Out):
    line: str
    machine: str
    product: str | None
    units: int


class Changeover(_Out):
    line: str
    machine: str
    from_product: str
    to_product: str
    count: int
    setup_s: float


class _KpiHead(_Out):
    factory: str
    start: float
    end: float
    granularity: Literal["total", "day"]


class KpiReport(_KpiHead):
    group: Literal["machine", "line", "factory"]
    rows: list[KpiRow]


class ProductKpiReport(_KpiHead):
    group: Literal["product", "machine,product"]
    rows: list[ProductKpiRow]
    unknown_products: list[UnknownProduct]
    changeovers: list[Changeover]


# -- level, inputs ----------------------------------------------------------------------


class QuestionnaireForm(_Out):
    items: list[Item]
    #: item id -> 0..5; null before the factory answered
    answers: dict[str, int] | None


class QuestionnaireAnswers(_Out):
    answers: dict[str, int]


class BaselineStored(_Out):
    stored_rows: int
    source: Literal["manual"]
    file: str


class RegistryImported(_Out):
    imported: list[str]


# -- portfolio --------------------------------------------------------------------------


class GainExclusion(_Out):
    side: Literal["before", "after"]
    reason: str
    coverage: float | None


class PortfolioGain(_Out):
    kpi: str
    before: float | None
    after: float | None
    improvement: float | None
    reference: float
    meets_reference: bool | None
    source_before: str
    source_after: str
    excluded_reason: str | None
    excluded: list[GainExclusion]


class DataHealth(_Out):
    machines: int
    reporting: int
    coverage: float | None
    #: machine -> epoch seconds it was last heard of; null: not in the coverage window
    last_sample: dict[str, float | None]
    silent_machines: list[str]
    last_seen: float | None


class PortfolioTargets(_Out):
    """"목표 달성 3/4": the project's KPIs that met their targets, of all it chose."""

    project: str
    met: int
    total: int
    open: int
    status: Literal["pass", "fail", "open", "none"]


class PortfolioRow(_Out):
    factory: str
    name: str
    region: str
    tier: str
    level: int
    build_level: str
    score: float
    oee_7d: float | None
    coverage_7d: float | None
    flags_7d: list[Flag]
    project: str | None
    gains: list[PortfolioGain]
    #: the latest project's own targets; null when it chose no KPIs
    targets: PortfolioTargets | None
    data_health: DataHealth


class PortfolioAnswer(_Out):
    factories: list[PortfolioRow]


# -- a support project's targets (docs/targets.md) ---------------------------------------


class TargetSide(_Out):
    """A baseline or result: its value, where it came from (registry, manual, measured,
    mixed, entered; "" for none), the days or orders it rests on, its 95 % interval."""

    value: float | None
    source: str
    count: int
    low: float | None
    high: float | None


class EnteredResult(_Out):
    """A result entered by hand with its evidence file (fetched by ``id``)."""

    id: int
    kpi: str
    value: float
    note: str
    file_name: str
    file_sha256: str
    file_size: int
    entered_by: str
    token_id: str
    entered_at: str


class LeadTimeDay(_Out):
    day: dt.date
    median_h: float
    orders: int


class KpiTarget(_Out):
    kpi: str
    name_ko: str
    name_en: str
    unit_ko: str
    unit_en: str
    direction: Literal["higher", "lower"]
    percent: bool
    method_ko: str
    method_en: str
    target_text: str
    result_source: Literal["data", "manual"]
    baseline: TargetSide
    target: float | None
    result: TargetSide
    achievement: float | None
    status: Literal["pass", "fail", "no_data"]
    reason: str
    entered: EnteredResult | None
    daily: list[LeadTimeDay]


class TargetVerdict(_Out):
    met: int
    total: int
    open: int
    pass_share: float
    status: Literal["pass", "fail", "open", "none"]


class TargetWindow(_Out):
    start: dt.date
    end: dt.date


class ProjectTargets(_Out):
    factory_id: str
    project_id: str
    program: str
    baseline_window: TargetWindow
    result_window: TargetWindow
    kpis: list[KpiTarget]
    verdict: TargetVerdict
