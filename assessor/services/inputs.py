"""What people put into the assessor: questionnaire answers, manual baseline logs and
registry entries. The API and the web pages both store them through here, so whatever
a change makes stale (a factory's cached level) is forgotten in one place."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from assessor.domain.baseline import parse_log
from assessor.domain.lead_time import OrderLogRow
from assessor.domain.level import validate_answers
from assessor.domain.models import BaselineDay, Factory
from assessor.domain.upload_limits import DEFAULT_LIMITS, UploadLimits
from assessor.registry.store import RegistryStore, UnknownFactoryError
from assessor.services.assessment import Assessments
from assessor.services.targets import forget as forget_targets
from assessor.services.upload_worker import import_baseline_bounded, parse_registry_bounded, store_log

#: the largest baseline log and registry text either door (API, web form) takes
MAX_UPLOAD_BYTES = 20 * 2**20
MAX_REGISTRY_BYTES = 5 * 2**20


class Inputs(Assessments):
    def save_answers(self, factory: Factory, answers: Mapping[str, object]) -> dict[str, int]:
        """Check and store questionnaire answers (QuestionnaireError lists every bad one);
        the factory's level is assessed again on its next read."""
        valid = validate_answers(dict(answers))
        self.store.save_answers(factory.id, valid, dt.datetime.now(dt.UTC))
        self.forget_assessment(factory.id)
        return valid

    async def store_baseline(
        self, factory: Factory, data: bytes, filename: str
    ) -> list[BaselineDay] | list[OrderLogRow]:
        """Parse a daily production log, or an order log, in a bounded worker process and
        store it; a refused file (BaselineError, BaselineLimitError) stores nothing. The
        rows stored: days, or orders (whose lead-time baseline is then stale)."""
        log = await import_baseline_bounded(self.store, factory, data, filename, self.cfg.uploads)
        # either kind can be a target's baseline side: the portfolio's verdict is stale
        forget_targets(self, factory.id)  # type: ignore[arg-type]
        return log.orders or log.days

    async def import_registry(self, text: str, source: str) -> list[Factory]:
        """Parse registry YAML in a bounded worker process and store every factory in it
        (RegistryError, RegistryLimitError: nothing stored); ``source`` names the text in
        error messages."""
        factories = await parse_registry_bounded(text, source, self.cfg.uploads)
        self.store.upsert_factories(factories)
        for f in factories:
            self.forget_assessment(f.id)
            # a project's chosen KPIs may have changed: the portfolio's verdict is stale
            forget_targets(self, f.id)  # type: ignore[arg-type]
        return factories


def import_baseline(
    store: RegistryStore, factory_id: str, data: bytes, filename: str, limits: UploadLimits = DEFAULT_LIMITS
) -> list[BaselineDay] | list[OrderLogRow]:
    """Parse a log file (a daily log or an order log) against the factory's registry entry
    and store it with ``RegistryStore.replace_baseline`` (``replace_orders``); a refused
    file (BaselineError) stores nothing. This parses in the calling process (command line,
    demo); the server uses ``Inputs.store_baseline``, which parses in a bounded worker."""
    factory = store.factory(factory_id)
    if factory is None:
        raise UnknownFactoryError(factory_id)
    log = parse_log(data, filename, factory=factory, limits=limits)
    store_log(store, factory_id, log, filename)
    return log.orders or log.days
