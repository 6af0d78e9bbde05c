"""The collector's ``influx:`` section: the shared connection (configkit.influx) plus how
the collector delivers (batch size, retry pacing, flush on shutdown)."""

from __future__ import annotations

from pydantic import Field, model_validator

from configkit import Duration, InfluxConnection


class InfluxConfig(InfluxConnection):
    #: points per write request (the reference server is fastest at about 5,000)
    batch_points: int = Field(5000, ge=1, le=100_000)
    retry_min: Duration = 0.5
    retry_max: Duration = 30.0
    #: on shutdown, how long to keep delivering; what is left stays spooled for next start
    flush_timeout: Duration = 10.0

    @model_validator(mode="after")
    def _v2_needs_org(self) -> InfluxConfig:
        if self.api == "v2" and not self.org:
            raise ValueError("api v2 needs 'org' (InfluxDB 1.8 accepts any value, such as '-')")
        return self
