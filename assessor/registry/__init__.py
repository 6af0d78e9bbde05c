"""The assessor's registry: factories with their lines, machines, calendars and support
projects (imported from YAML), access tokens, questionnaire answers and manual baseline
logs, kept in one SQLite database."""

from assessor.registry.importer import (
    RegistryError,
    import_registry,
    load_registry,
    parse_registry,
)
from assessor.registry.store import RegistryStore, RegistryStoreError, UnknownFactoryError

__all__ = [
    "RegistryError",
    "RegistryStore",
    "RegistryStoreError",
    "UnknownFactoryError",
    "import_registry",
    "load_registry",
    "parse_registry",
]
