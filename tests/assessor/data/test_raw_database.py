"""Which database a factory's raw samples are read from."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from assessor.config import InfluxSettings
from assessor.data.influx_client import InfluxClient, factory_client
from assessor.domain.models import Factory


def test_the_pattern_names_each_factory_its_own_database_unless_the_registry_names_one() -> None:
    client = InfluxClient(InfluxSettings(database="factorylens"))
    assert factory_client(client, Factory("acme", "A")).cfg.database == "factory_acme"
    assert factory_client(client, Factory("acme", "A", raw_database="bucket-7")).cfg.database == "bucket-7"
    # the assessor's own database stays where the materialised KPIs go
    assert client.cfg.database == "factorylens"
    shared = InfluxClient(InfluxSettings(database="factory", raw_database="factory"))
    assert factory_client(shared, Factory("acme", "A")).cfg.database == "factory"


def test_a_factory_client_shares_the_connections_and_answers_nothing_for_a_missing_database() -> None:
    client = InfluxClient(InfluxSettings())
    raw = factory_client(client, Factory("acme", "A"))
    assert raw._sessions is client._sessions
    assert raw.missing_is_empty and not client.missing_is_empty


@pytest.mark.parametrize("bad", ["", "factory_{id}", "{factory}_{line}", "x}"])
def test_a_pattern_with_other_placeholders_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="raw_database"):
        InfluxSettings(raw_database=bad)
