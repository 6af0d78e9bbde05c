"""The InfluxDB connection both programs configure under ``influx:``: where the server is,
how to log in, how to trust its certificate. One model, so one ``influx:`` block serves
the collector and the assessor and both send the same credentials."""

from __future__ import annotations

import base64
import ssl
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from configkit.paths import LocalPath
from configkit.units import Duration
from datacontract import name_problem


class InfluxConnection(BaseModel):
    """URL, API flavour, database (or bucket), login, TLS and request timeout."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = "http://127.0.0.1:8086"
    #: v1: /write and /query (any 1.x, and 2.x/3.x through their v1 compatibility API);
    #: v2: /api/v2/write with a token
    api: Literal["v1", "v2"] = "v1"
    database: str = "factory"
    retention_policy: str = ""
    username: str = ""
    password: str = ""
    org: str = ""
    token: str = ""
    #: PEM bundle to verify an https server with; empty: the system store
    ca_bundle: LocalPath | None = None
    verify_tls: bool = True
    timeout: Duration = 10.0

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {v!r}")
        return v.rstrip("/")

    @field_validator("database")
    @classmethod
    def _database(cls, v: str) -> str:
        if (problem := name_problem(v, "database")) is not None:
            raise ValueError(problem)
        return v

    @field_validator("retention_policy")
    @classmethod
    def _retention_policy(cls, v: str) -> str:
        if v and (problem := name_problem(v, "retention_policy")) is not None:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _tls_needs_https(self) -> InfluxConnection:
        if self.ca_bundle is not None and not self.url.startswith("https://"):
            raise ValueError("ca_bundle is set but url is not https://")
        return self

    def auth_headers(self) -> dict[str, str]:
        """The Authorization header for this login, or none."""
        # A token is sent whenever one is configured, also with api v1: InfluxDB 2.x and 3.x
        # accept "Token" on their v1-compatible /query and /write, and a 2.x server hands
        # out only tokens. Basic auth (a username) takes precedence for v1, since 1.x before
        # 1.8 does not understand the Token scheme.
        if self.token and (self.api == "v2" or not self.username):
            return {"Authorization": f"Token {self.token}"}
        if self.api == "v1" and self.username:
            return {"Authorization": basic_auth(self.username, self.password)}
        return {}

    def ssl_context(self) -> ssl.SSLContext | bool:
        """aiohttp's ``ssl`` argument: False skips verification, True uses the system store."""
        if not self.url.startswith("https://"):
            return True
        if not self.verify_tls:
            return False
        if self.ca_bundle is not None:
            return ssl.create_default_context(cafile=str(self.ca_bundle))
        return True


def basic_auth(username: str, password: str) -> str:
    # built by hand: aiohttp.BasicAuth is deprecated in newer releases, and the header is
    # the same everywhere (UTF-8 credentials, as InfluxDB expects)
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"
