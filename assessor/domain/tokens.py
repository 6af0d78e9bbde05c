"""API tokens of the assessor: operators see every factory, a factory sees only itself.
The records and the token format are here; issuing and checking a token against the
registry store is assessor.services.auth.

A token reads ``fl_<id>_<secret>``. The id finds the record; only a hash of the secret
is stored, so a copy of the database does not let anyone in. The plaintext is returned
once, by ``create_token``; nobody can show it again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

TOKEN_PREFIX = "fl_"
_TOKEN = re.compile(r"^fl_([0-9a-f]{16})_([A-Za-z0-9_-]{32,128})$")


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
