"""API tokens of the assessor: operators see every factory, a factory sees only itself.

A token reads ``fl_<id>_<secret>``. The id finds the record; only a hash of the secret
is stored, so a copy of the database does not let anyone in. The plaintext is returned
once, by ``create_token``; nobody can show it again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assessor.registry.store import RegistryStore

TOKEN_PREFIX = "fl_"
_TOKEN = re.compile(r"^fl_([0-9a-f]{16})_([A-Za-z0-9_-]{32,128})$")
# compared against when the id is unknown, so a miss costs the same as a wrong secret
_NO_HASH = "0" * 64


class Role(StrEnum):
    OPERATOR = "operator"  # Technopark staff: every factory
    FACTORY = "factory"  # one company: its own factory only
    LINE = "line"  # staff at a line: the operator input of one factory, nothing else


class TokenError(ValueError):
    """A token cannot be created as asked (unknown role, unknown factory, ...)."""


@dataclass(frozen=True)
class TokenRecord:
    id: str
    role: Role
    #: the factory a factory token is bound to; None for operators
    factory_id: str | None
    #: sha256 of the secret part, hex
    token_hash: str
    created_at: dt.datetime
    label: str = ""
    revoked_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Principal:
    """Who is calling, as far as access decisions go."""

    role: Role
    factory_id: str | None = None
    token_id: str = ""

    def can_see(self, factory_id: str) -> bool:
        if self.role is Role.OPERATOR:
            return True
        # a line token reads no figures: only the operator input routes take it
        return self.role is Role.FACTORY and self.factory_id is not None and self.factory_id == factory_id

    def can_enter(self, factory_id: str) -> bool:
        """May record downtime reasons, scrap and count corrections for the factory."""
        return self.role is Role.OPERATOR or (self.factory_id is not None and self.factory_id == factory_id)


def hash_secret(secret: str) -> str:
    """Hash of a token's secret as stored. A plain sha256 suffices: the secret carries 256
    random bits, so there is nothing for a slow password hash to protect (docs/registry.md)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def split_token(presented: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token, else None."""
    m = _TOKEN.match(presented.strip())
    return (m.group(1), m.group(2)) if m else None


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
