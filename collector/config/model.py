"""The collector's YAML file as one model: the site, the protocol sections (each protocol
owns its models: collector.modbus.config, collector.mqtt.config), InfluxDB, spool,
metrics, logging, liveness and clock. Every check here reports the key path."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.influx.config import InfluxConfig
from collector.modbus.config import DeviceConfig, ModbusConfig, RegisterConfig
from collector.mqtt.config import MqttConfig
from configkit import Duration, LocalPath, Size
from datacontract import LIVENESS_MAX_RECORD_S, factory_id_problem, tag_value_problem
from datacontract.names import checked

__all__ = [
    "ClockConfig",
    "CollectorConfig",
    "DeviceConfig",
    "InfluxConfig",
    "LivenessConfig",
    "LogConfig",
    "MetricsConfig",
    "ModbusConfig",
    "RegisterConfig",
    "SiteConfig",
    "SpoolConfig",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteConfig(_Strict):
    factory: str
    line: str = "line-1"

    @field_validator("factory")
    @classmethod
    def _factory(cls, v: str) -> str:
        return checked(factory_id_problem(v, "factory"), v)

    @field_validator("line")
    @classmethod
    def _line(cls, v: str) -> str:
        return checked(tag_value_problem(v, "line"), v)


class SpoolConfig(_Strict):
    path: LocalPath = Path("./data/spool")
    max_bytes: Size = 2**30
    #: fsync every commit; only a benchmark should turn this off
    fsync: bool = True
    #: group commit: samples arriving within this window share one fsync
    commit_interval: Duration = 0.05
    #: where rejected points go; default: a "quarantine" folder beside the spool folder
    quarantine_path: LocalPath | None = None

    @property
    def quarantine_dir(self) -> Path:
        return self.quarantine_path or self.path.parent / "quarantine"

    @field_validator("max_bytes")
    @classmethod
    def _min_size(cls, v: int) -> int:
        if v < 1 << 20:
            raise ValueError(f"max_bytes must be at least 1MiB, got {v}")
        return v


class MetricsConfig(_Strict):
    #: host:port for the Prometheus endpoint; empty disables it
    listen: str = "127.0.0.1:9273"

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        if v and (":" not in v or not v.rsplit(":", 1)[1].isdigit()):
            raise ValueError(f"listen must be host:port, got {v!r}")
        return v


class LogConfig(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"


class LivenessConfig(_Strict):
    #: how often the growing alive records are written (docs/data-model.md, "Liveness");
    #: also how much of the last alive stretch a crash can leave unrecorded
    flush_interval: Duration = 10.0

    @field_validator("flush_interval")
    @classmethod
    def _flush_interval(cls, v: float) -> float:
        if not 0.1 <= v <= LIVENESS_MAX_RECORD_S:
            raise ValueError(f"flush_interval must be between 100ms and {LIVENESS_MAX_RECORD_S:g}s, got {v}s")
        return v


class ClockConfig(_Strict):
    """How samples are stamped (collector/clock.py, docs/configuration.md "clock")."""

    #: hold sampling until the kernel reports its clock synchronised (NTP, chrony)
    require_sync: bool = False
    #: a system clock further than this from the collector's clock has been stepped
    step_threshold: Duration = 2.0

    @field_validator("step_threshold")
    @classmethod
    def _step_threshold(cls, v: float) -> float:
        if not 0.1 <= v <= 3600:
            raise ValueError(f"step_threshold must be between 100ms and 1h, got {v}s")
        return v


class CollectorConfig(_Strict):
    site: SiteConfig
    influx: InfluxConfig = Field(default_factory=InfluxConfig)
    spool: SpoolConfig = Field(default_factory=SpoolConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    liveness: LivenessConfig = Field(default_factory=LivenessConfig)
    clock: ClockConfig = Field(default_factory=ClockConfig)
    modbus: ModbusConfig = Field(default_factory=ModbusConfig)
    mqtt: MqttConfig | None = None

    @model_validator(mode="after")
    def _unique_machines(self) -> CollectorConfig:
        seen: dict[tuple[str, str], int] = {}
        for i, dev in enumerate(self.modbus.devices):
            key = (dev.line or self.site.line, dev.machine)
            if key in seen:
                raise ValueError(
                    f"modbus.devices[{i}]: machine {dev.machine!r} on line {key[0]!r} "
                    f"repeats modbus.devices[{seen[key]}]"
                )
            seen[key] = i
        if not self.modbus.devices and self.mqtt is None:
            raise ValueError(
                "no sources: list at least one device under modbus.devices "
                "or a subscription under mqtt.subscriptions"
            )
        return self

    def line_of(self, dev: DeviceConfig) -> str:
        return dev.line or self.site.line
