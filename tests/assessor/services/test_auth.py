"""Tokens: the plaintext is shown once and never stored; revoked, unknown and malformed
tokens are refused; a factory sees only itself."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from assessor.registry import RegistryStore, parse_registry
from assessor.services.auth import (
    Principal,
    Role,
    TokenError,
    authenticate,
    create_token,
    hash_secret,
    split_token,
)
from tests.support.registry_samples import TWO_FACTORIES_YAML


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "registry.db"


@pytest.fixture
def store(path: Path):
    with RegistryStore(path) as s:
        s.upsert_factories(parse_registry(TWO_FACTORIES_YAML))
        yield s


def database_bytes(path: Path) -> bytes:
    # the WAL holds recent commits until a checkpoint: look at every file of the database
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_token_format_and_plaintext_never_stored(store: RegistryStore, path: Path):
    token = create_token(store, "operator", label="충남TP 담당자")
    assert token.startswith("fl_")
    token_id, secret = split_token(token)
    assert len(secret) >= 43  # 32 random bytes, base64
    (record,) = store.tokens()
    assert record.id == token_id
    assert record.token_hash == hash_secret(secret) != secret
    assert secret not in repr(record)
    assert secret.encode() not in database_bytes(path)
    assert record.label == "충남TP 담당자"
    assert record.created_at.tzinfo is not None


def test_authenticate(store: RegistryStore):
    op = create_token(store, Role.OPERATOR)
    fac = create_token(store, "factory", "천안-가공")
    assert authenticate(store, op) == Principal(Role.OPERATOR, None, split_token(op)[0])
    principal = authenticate(store, f"  {fac}\n")
    assert (principal.role, principal.factory_id) == (Role.FACTORY, "천안-가공")


def test_wrong_unknown_and_malformed_tokens_are_refused(store: RegistryStore):
    token = create_token(store, "operator")
    token_id, secret = split_token(token)
    other_secret = ("A" if secret[0] != "A" else "B") + secret[1:]
    for presented in [
        f"fl_{token_id}_{other_secret}",  # wrong secret
        f"fl_{'0' * 16}_{secret}",  # unknown id
        f"fl_{token_id}_{secret[:-1]}",  # truncated
        token.replace("fl_", "xx_", 1),
        f"fl_{token_id}",
        "",
        secret,
        "Bearer " + token,
        f"fl_{token_id}_{secret}\n\x00",
    ]:
        assert authenticate(store, presented) is None, presented


def test_revoked_token_is_refused(store: RegistryStore):
    token = create_token(store, "factory", "demo-factory")
    keep = create_token(store, "factory", "demo-factory")
    assert store.revoke_token(split_token(token)[0]) is True
    assert authenticate(store, token) is None
    assert authenticate(store, keep) is not None
    revoked = store.token(split_token(token)[0])
    assert revoked is not None and not revoked.active


def test_token_of_a_deleted_factory_stops_working(store: RegistryStore):
    token = create_token(store, "factory", "천안-가공")
    store.delete_factory("천안-가공")
    assert authenticate(store, token) is None


def test_factory_principal_sees_only_its_own_factory(store: RegistryStore):
    factory = authenticate(store, create_token(store, "factory", "demo-factory"))
    operator = authenticate(store, create_token(store, "operator"))
    assert factory.can_see("demo-factory")
    assert not factory.can_see("천안-가공")
    assert not factory.can_see("")
    assert operator.can_see("demo-factory") and operator.can_see("천안-가공")
    assert not Principal(Role.FACTORY, None).can_see("demo-factory")


@pytest.mark.parametrize(
    ("role", "factory_id", "message"),
    [
        ("factory", "ghost", "unknown factory 'ghost'"),
        ("factory", None, "needs the id of its factory"),
        ("operator", "demo-factory", "takes no factory id"),
        ("admin", None, "unknown role 'admin'"),
    ],
)
def test_creation_is_refused(store: RegistryStore, role: str, factory_id: str | None, message: str):
    with pytest.raises(TokenError, match=message):
        create_token(store, role, factory_id)
    assert store.tokens() == []


def test_each_token_is_new(store: RegistryStore):
    now = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    tokens = {create_token(store, "operator", now=now) for _ in range(20)}
    assert len(tokens) == 20
    assert len({t.token_hash for t in store.tokens()}) == 20
