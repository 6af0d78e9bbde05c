"""Errors of the layers below that the routes turn into answers: the measurement store
is unavailable (503), a registry text is refused (400, 413). Routes import them from
here, so they depend on the services and not on where data access keeps them."""

from __future__ import annotations

from assessor.data.influx_client import InfluxError
from assessor.registry.importer import RegistryError, RegistryLimitError

__all__ = ["InfluxError", "RegistryError", "RegistryLimitError"]
