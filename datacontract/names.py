"""What a name in the data may be: a tag value (factory, line and machine ids), a tag key,
a field key, a measurement name. docs/data-model.md, "Names", gives the reasons.

One rule for everyone who handles names: the collector's configuration check, its line
protocol encoder, its MQTT mapping of names taken from topics and payloads, and the
assessor's registry and InfluxQL builder. A name one of them accepts, all of them accept,
so a configuration that passes ``collector check`` runs, and what it stores can be
assessed.

Every ``*_problem`` function returns None for a good name, else one line saying why not,
starting with ``what`` (the caller's word for the name: "machine", "field name", "id").
"""

from __future__ import annotations

import re

from datacontract.contract import MACHINE_TAGS, ROLES

#: longest name, in characters. Three tags, a measurement and a field key of this length
#: stay far below InfluxDB's 64 KiB series key limit, even at 4 bytes per character.
MAX_NAME_CHARS = 256

#: field keys that would collide: InfluxDB's ``time``, and every tag key of the contract.
#: A field named like a tag turns ``WHERE "factory" = '...'`` into a comparison with the
#: field wherever both exist, and the tag's data disappears from every such query.
RESERVED_FIELD_NAMES = frozenset({"time", *MACHINE_TAGS})

#: a factory id is part of the assessor's page and API addresses: these would end or split it
URL_BREAKING = ("/", "?", "#", "%")

# the common case, decided without looking at each character
_PLAIN = re.compile(r"[0-9A-Za-z_][0-9A-Za-z_.:-]*")
# control characters (Unicode Cc) and the Unicode line and paragraph separators
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SHOWN_CHARS = 60


class BadName(ValueError):
    """A name the data contract does not allow; the message says why."""


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def name_problem(value: object, what: str = "name") -> str | None:
    """Why ``value`` cannot be a name in the data, or None. The rule for every name."""
    if type(value) is not str:
        if not isinstance(value, str):
            return f"{what} must be text, got {value!r}"
        value = str(value)
    size = len(value)
    if 0 < size <= MAX_NAME_CHARS and _PLAIN.fullmatch(value):
        return None
    if not size:
        return f"{what} must not be empty"
    if size > MAX_NAME_CHARS:
        return f"{what} is {size} characters long; at most {MAX_NAME_CHARS} are allowed: {_shown(value)}"
    if _CONTROL.search(value):
        return f"{what} must not contain line breaks or control characters: {_shown(value)}"
    if _SURROGATE.search(value):
        return f"{what} is not valid Unicode text (an unpaired surrogate): {_shown(value)}"
    if "\\" in value:
        return f"{what} must not contain a backslash: {_shown(value)}"
    if value != value.strip():
        return f"{what} must not start or end with blanks: {_shown(value)}"
    return None


def tag_value_problem(value: object, what: str = "tag value") -> str | None:
    """Why ``value`` cannot be a tag value (a line or machine id), or None."""
    return name_problem(value, what)


def factory_id_problem(value: object, what: str = "factory id") -> str | None:
    """Why ``value`` cannot be a factory id, or None: a tag value that also fits in a URL path."""
    problem = name_problem(value, what)
    if problem is None and isinstance(value, str) and (bad := [c for c in URL_BREAKING if c in value]):
        shown = " ".join(bad)
        return f"{what} must not contain {shown} (it is part of web addresses): {_shown(value)}"
    return problem


def tag_key_problem(value: object, what: str = "tag key") -> str | None:
    """Why ``value`` cannot be a tag key, or None."""
    problem = name_problem(value, what)
    if problem is None and value == "time":
        return f"{what} 'time' is reserved by InfluxDB"
    return problem


def field_key_problem(value: object, what: str = "field key") -> str | None:
    """Why ``value`` cannot be a field key, or None. Role names are fine here."""
    problem = name_problem(value, what)
    if problem is None and value in RESERVED_FIELD_NAMES:
        return (
            f"{what} {value!r} is reserved: InfluxDB's time, or a tag key of the data "
            f"({', '.join(MACHINE_TAGS)}), which every query filters on"
        )
    return problem


def plain_field_problem(value: object, what: str = "field name") -> str | None:
    """Why ``value`` cannot be the stored name of a value without a role, or None: a field
    key that is not a role's name either (the assessor would read it as that role)."""
    problem = field_key_problem(value, what)
    if problem is None and value in ROLES:
        return f"{what} {value!r} is a role name: give it 'role: {value}' or another name"
    return problem


def measurement_problem(value: object, what: str = "measurement") -> str | None:
    """Why ``value`` cannot be a measurement name, or None."""
    problem = name_problem(value, what)
    if problem is None and isinstance(value, str) and value.startswith("#"):
        return f"{what} {_shown(value)} starts with '#': InfluxDB reads such a line as a comment"
    return problem


def checked(problem: str | None, value: str) -> str:
    """``value`` when one of the functions above found no ``problem``, else ValueError
    (BadName): what a pydantic validator of a name returns."""
    check(problem)
    return value


def check(problem: str | None) -> None:
    """Raise BadName for a problem one of the functions above found."""
    if problem is not None:
        raise BadName(problem)
