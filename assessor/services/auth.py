"""Issuing API tokens and finding the principal behind one, against the registry store.
The API and the web pages both authenticate through here; the token format and the
records are in assessor.domain.tokens."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import TYPE_CHECKING

from assessor.domain.tokens import (
    TOKEN_PREFIX,
    Principal,
    Role,
    TokenError,
    TokenRecord,
    hash_secret,
    split_token,
)

if TYPE_CHECKING:
    from assessor.registry.store import RegistryStore

__all__ = [
    "TOKEN_PREFIX",
    "Principal",
    "Role",
    "TokenError",
    "TokenRecord",
    "authenticate",
    "create_token",
    "hash_secret",
    "split_token",
]

# compared against when the id is unknown, so a miss costs the same as a wrong secret
_NO_HASH = "0" * 64


def create_token(
    store: RegistryStore,
    role: Role | str,
    factory_id: str | None = None,
    label: str = "",
    *,
    now: dt.datetime | None = None,
) -> str:
    """Create and store a token; return its plaintext, which is not kept anywhere."""
    try:
        role = Role(role)
    except ValueError:
        raise TokenError(f"unknown role {role!r}; expected operator, factory, line") from None
    if role is not Role.OPERATOR:
        if not factory_id:
            raise TokenError(f"a {role.value} token needs the id of its factory")
        if store.factory(factory_id) is None:
            raise TokenError(f"unknown factory {factory_id!r}; import it into the registry first")
    elif factory_id is not None:
        raise TokenError("an operator token sees every factory and takes no factory id")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    store.add_token(
        TokenRecord(
            id=token_id,
            role=role,
            factory_id=factory_id,
            token_hash=hash_secret(secret),
            created_at=now or dt.datetime.now(dt.UTC),
            label=label,
        )
    )
    return f"{TOKEN_PREFIX}{token_id}_{secret}"


def authenticate(store: RegistryStore, presented: str) -> Principal | None:
    """The principal behind a presented token; None for a malformed, unknown or revoked one."""
    parts = split_token(presented)
    if parts is None:
        return None
    token_id, secret = parts
    record = store.token(token_id)
    ok = hmac.compare_digest(record.token_hash if record else _NO_HASH, hash_secret(secret))
    if not ok or record is None or not record.active:
        return None
    return Principal(role=record.role, factory_id=record.factory_id, token_id=record.id)
