"""configkit: the one duration/size parser, the YAML reader's key-path-and-line errors, and
the InfluxDB connection both programs configure."""

from __future__ import annotations

import math
import ssl
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from assessor.config import AssessorConfigError, InfluxSettings, load_assessor_config
from collector.config import ConfigError, parse_config
from collector.influx.config import InfluxConfig
from configkit import (
    ConfigFileError,
    Duration,
    InfluxConnection,
    LineIndex,
    Size,
    interpolate_env,
    load_yaml,
    parse_duration,
    parse_size,
    pydantic_errors,
)
from configkit.units import DURATION_UNITS, SIZE_UNITS

# --- durations and sizes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        # what only the collector's parser took, and what only the assessor's took
        ("1d", 86400.0),
        ("2min", 120.0),
        ("3sec", 3.0),
        (".5s", 0.5),
        ("500ms", 0.5),
        ("250us", 250e-6),
        ("10ns", 10e-9),
        ("2m", 120.0),
        ("1.5h", 5400.0),
        (" 7 s ", 7.0),
        (3, 3.0),
        (0.25, 0.25),
        ("30", 30.0),
    ],
)
def test_durations_accept_the_units_of_both_former_parsers(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value", [True, False, None, "", "soon", "-1s", -1, "1 week", "1y", math.inf, math.nan, "1e3s", [1]]
)
def test_durations_refuse_what_is_not_one(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@given(
    amount=st.decimals(min_value=0, max_value=10**6, places=3).map(str),
    unit=st.sampled_from(sorted(DURATION_UNITS)),
)
def test_a_duration_is_its_number_times_its_unit(amount: str, unit: str) -> None:
    assert parse_duration(f"{amount}{unit}") == pytest.approx(float(amount) * DURATION_UNITS[unit])


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("64MiB", 64 * 2**20),
        ("100MB", 100 * 10**6),
        ("1GiB", 2**30),
        ("2kb", 2000),
        ("512B", 512),
        (4096, 4096),
    ],
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("value", [True, "", "big", "-1MB", -1, "1PB", 1.5])
def test_sizes_refuse_what_is_not_one(value: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(value)


@given(amount=st.integers(min_value=0, max_value=10**6), unit=st.sampled_from(sorted(SIZE_UNITS)))
def test_a_size_is_its_number_times_its_unit_in_any_case(amount: int, unit: str) -> None:
    assert parse_size(f"{amount}{unit.upper()}") == parse_size(f"{amount}{unit}") == amount * SIZE_UNITS[unit]


def test_collector_and_assessor_read_one_duration_alike(tmp_path: Path) -> None:
    # the same `influx:` block in both files: the assessor once refused 1d, the collector 2min
    site = (
        "site: {factory: f1}\n"
        "modbus: {devices: [{machine: m1, host: h, registers: [{name: t, address: 0}]}]}\n"
    )
    influx = "influx: {timeout: 2min, retry_max: 1d}\n"
    collector = parse_config(site + influx, env={})
    (tmp_path / "a.yaml").write_text(influx, encoding="utf-8")
    assessor = load_assessor_config(tmp_path / "a.yaml", env={})
    assert collector.influx.timeout == assessor.influx.timeout == 120.0
    assert collector.influx.retry_max == assessor.influx.retry_max == 86400.0


# --- YAML reading --------------------------------------------------------------------------


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    every: Duration
    size: Size = 0


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[_Inner]


def test_validation_errors_name_the_key_path_and_the_line() -> None:
    text = "items:\n  - every: 1s\n  - every: soon\n    size: 1MiB\n    colour: red\n"
    with pytest.raises(ValidationError) as info:
        _Outer.model_validate(load_yaml(text, "t.yaml"))
    assert sorted(pydantic_errors(info.value, LineIndex(text))) == [
        "items[1].colour: unknown key (line 5)",
        "items[1].every: expected a duration such as '1s' or '500ms', got 'soon' (line 3)",
    ]


def test_a_syntax_error_names_line_and_column() -> None:
    with pytest.raises(ConfigFileError) as info:
        load_yaml("a: 1\nb: [1, 2\n", "t.yaml")
    assert info.value.source == "t.yaml"
    assert info.value.errors[0].startswith("line 3, column 1: not valid YAML"), info.value.errors


def test_environment_interpolation_names_the_key_of_an_unset_variable() -> None:
    errors: list[str] = []
    out = interpolate_env({"a": [{"b": "${SET}/${UNSET:-x}"}, "${MISSING}"]}, {"SET": "s"}, errors)
    assert out == {"a": [{"b": "s/x"}, ""]}
    assert errors == ["a[1]: environment variable MISSING is not set and has no default"]


def test_the_assessors_errors_name_the_line_too(tmp_path: Path) -> None:
    path = tmp_path / "assessor.yaml"
    path.write_text("server: {listen: '127.0.0.1:8080'}\ninflux:\n  timeout: soon\n", encoding="utf-8")
    with pytest.raises(AssessorConfigError) as info:
        load_assessor_config(path, env={})
    assert info.value.errors == [
        "influx.timeout: expected a duration such as '1s' or '500ms', got 'soon' (line 3)"
    ]


def test_the_collectors_error_is_a_configkit_error() -> None:
    with pytest.raises(ConfigFileError) as info:
        parse_config("site: [", "c.yaml", env={})
    assert isinstance(info.value, ConfigError)


# --- InfluxDB connection -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "scheme"),
    [
        ({}, None),
        ({"username": "u", "password": "p"}, "Basic"),
        ({"token": "t"}, "Token"),
        # 1.x before 1.8 knows no Token: with a username, v1 logs in with it
        ({"token": "t", "username": "u"}, "Basic"),
        ({"api": "v2", "org": "o", "token": "t", "username": "u"}, "Token"),
    ],
)
def test_both_programs_send_the_same_credentials(settings: dict[str, str], scheme: str | None) -> None:
    for model in (InfluxConfig, InfluxSettings):
        headers = model.model_validate(settings).auth_headers()
        assert headers.get("Authorization", " ").split(" ")[0] == (scheme or ""), (model, headers)


def test_tls_settings() -> None:
    assert InfluxConnection(url="http://h:8086").ssl_context() is True
    assert InfluxConnection(url="https://h:8086").ssl_context() is True
    assert InfluxConnection(url="https://h:8086", verify_tls=False).ssl_context() is False
    with pytest.raises(ValidationError, match="ca_bundle is set but url is not https"):
        InfluxConnection(url="http://h:8086", ca_bundle=Path("ca.pem"))
    with pytest.raises(ValidationError, match="NUL"):
        InfluxConnection(url="https://h:8086", ca_bundle=Path("ca\x00.pem"))


def test_a_ca_bundle_is_loaded(tmp_path: Path) -> None:
    # a self-signed CA is not needed to see the file is read: a missing one fails loudly
    with pytest.raises((FileNotFoundError, ssl.SSLError)):
        InfluxConnection(url="https://h:8086", ca_bundle=tmp_path / "missing.pem").ssl_context()
