"""`assessor serve --config FILE`: InfluxDB connection (the collector's `influx:` keys),
registry path, listen address, and the KPI settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from assessor.domain.kpi.model import KpiPolicy
from assessor.domain.models import Factory
from assessor.domain.upload_limits import UploadLimits
from configkit import (
    ConfigFileError,
    Duration,
    InfluxConnection,
    LineIndex,
    LocalPath,
    interpolate_env,
    load_yaml,
    pydantic_errors,
    read_text,
)


class AssessorConfigError(ConfigFileError):
    def __init__(self, source: str, errors: list[str]):
        super().__init__(source, errors)
        # one line: the CLI prints it as it is
        self.args = (f"{source}: " + "; ".join(errors),)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: "30s", "500ms" or a number of seconds, as in the collector's file (configkit.units)
Seconds = Duration


class InfluxSettings(InfluxConnection):
    """The same keys as the collector's ``influx:`` block (configkit.influx); the assessor
    only reads with InfluxQL over ``/query`` (every server version answers it) and writes
    daily KPIs."""

    timeout: Seconds = 30.0
    #: where each factory's raw data lives: a database (1.x) or bucket (2.x/3.x) per
    #: factory, ``{factory}`` replaced by its id, unless the registry names one (as
    #: ``assessor edge provision`` does). ``database`` is the assessor's own (materialised
    #: KPIs), which no edge box can write. A name without ``{factory}`` reads every
    #: factory from one shared database: no isolation between factories (single-factory
    #: installs and data stored before per-factory databases; docs/deployment.md)
    raw_database: str = "factory_{factory}"
    #: ask for gzip-compressed query answers: worth it over a slow link; beside the
    #: database (the usual place) it costs both ends CPU for nothing, so off by default
    compress: bool = False
    # accepted so one file can serve both programs; the assessor does not use them
    batch_points: int = 5000
    retry_min: Seconds | None = None
    retry_max: Seconds | None = None
    flush_timeout: Seconds | None = None

    @field_validator("raw_database")
    @classmethod
    def _raw_database(cls, v: str) -> str:
        rest = v.replace("{factory}", "")
        if not v or "{" in rest or "}" in rest:
            raise ValueError(f"must be a database name, with at most the placeholder {{factory}}; got {v!r}")
        return v

    def raw_database_for(self, factory_id: str) -> str:
        return self.raw_database.replace("{factory}", factory_id)


class KpiSettings(_Strict):
    #: for machines without liveness records (docs/data-model.md, "Liveness"): a state
    #: sample holds at most this long; beyond it time is unknown
    hold_s: float = Field(60.0, gt=0)
    #: below this share of planned time with data, time-based KPIs are not shown (flagged)
    min_coverage: float = Field(0.8, ge=0, le=1)
    #: performance up to 1 + this is shown as 100 %; above it, it is flagged as an
    #: implausible ideal cycle time
    performance_tolerance: float = Field(0.05, ge=0)
    #: units beyond 1 + this times what the ideal cycle time allows in the run time are
    #: not believed: the counts and every ratio built on them are flagged
    #: (``counts_exceed_ideal_rate``), as a glitching counter or a wrong ideal time
    #: produces them (docs/kpi-method.md)
    count_rate_tolerance: float = Field(9.0, ge=0)
    #: stops shorter than this are small stops (a performance loss); 0 turns them off. A
    #: factory's registry entry may set its own (``small_stop``).
    small_stop: Seconds = Field(120.0, ge=0)
    #: a day is materialised once it ended this long ago (late data from a spool replay
    #: that arrives after that needs `assessor materialize` for those days)
    materialize_after_s: float = Field(6 * 3600.0, ge=0)
    #: days of data that count for "auto-capture coverage" and data health
    coverage_days: int = Field(7, ge=1)
    #: retention policy for the materialised daily KPIs; empty: the database default.
    #: On InfluxDB 1.x the assessor creates it with one shard per ten years: a portfolio
    #: query then opens one shard instead of one per week (the default shard duration).
    retention_policy: str = ""

    def small_stop_for(self, factory: Factory) -> float:
        """The small-stop limit of ``factory``: its own, else this setting."""
        return self.small_stop if factory.small_stop_s is None else factory.small_stop_s

    @property
    def policy(self) -> KpiPolicy:
        return KpiPolicy(
            min_coverage=self.min_coverage,
            performance_tolerance=self.performance_tolerance,
            count_rate_tolerance=self.count_rate_tolerance,
        )


class TargetSettings(_Strict):
    #: share of a support project's KPIs that must meet their targets for the project to
    #: pass (docs/targets.md); 1: every one
    pass_share: float = Field(1.0, gt=0, le=1)


class OperatorSettings(_Strict):
    #: how long after it was made an entry from the line (a stop's reason) may be changed
    edit_window: Seconds = Field(24 * 3600.0, gt=0)


class ServerSettings(_Strict):
    listen: str = "127.0.0.1:8080"
    #: addresses of reverse proxies whose X-Forwarded-Proto/For are believed. Behind a
    #: TLS proxy the app must know the request was https, or the session cookie goes out
    #: without Secure; a proxy on the same host needs nothing (the default).
    forwarded_allow_ips: str = "127.0.0.1"


class AssessorConfig(_Strict):
    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    registry: LocalPath = Path("./data/registry.sqlite")
    level_rules: LocalPath | None = None
    server: ServerSettings = Field(default_factory=ServerSettings)
    kpi: KpiSettings = Field(default_factory=KpiSettings)
    targets: TargetSettings = Field(default_factory=TargetSettings)
    operator_input: OperatorSettings = Field(default_factory=OperatorSettings)
    #: what reading one uploaded baseline file or registry text may cost
    uploads: UploadLimits = Field(default_factory=UploadLimits)


def load_assessor_config(path: Path, env: Mapping[str, str] | None = None) -> AssessorConfig:
    env = os.environ if env is None else env
    text = read_text(path, AssessorConfigError)
    raw = load_yaml(text, str(path), AssessorConfigError)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise AssessorConfigError(str(path), ["(top level): expected a mapping of sections"])
    errors: list[str] = []
    raw = interpolate_env(raw, env, errors)
    if errors:
        raise AssessorConfigError(str(path), errors)
    try:
        cfg = AssessorConfig.model_validate(raw)
    except ValidationError as exc:
        raise AssessorConfigError(str(path), pydantic_errors(exc, LineIndex(text))) from None
    # relative paths are relative to the config file, so a service finds its registry
    base = path.resolve().parent
    updates: dict[str, Any] = {}
    if not cfg.registry.is_absolute():
        updates["registry"] = base / cfg.registry
    if cfg.level_rules is not None and not cfg.level_rules.is_absolute():
        updates["level_rules"] = base / cfg.level_rules
    return cfg.model_copy(update=updates) if updates else cfg
