"""Exponential backoff with jitter, so a line of PLCs coming back does not reconnect in step."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    minimum: float
    maximum: float
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        """Delay before the next attempt: "equal jitter" between half and all of the cap."""
        cap = min(self.maximum, self.minimum * (2 ** min(self.failures, 30)))
        self.failures += 1
        return cap / 2 + self.rng.random() * cap / 2

    def reset(self) -> None:
        self.failures = 0
