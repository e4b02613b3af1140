"""Rate cards: the longest matching prefix of the dialled number prices an answered call."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class Rate:
    prefix: str  # digits, matched against the destination without its leading "+"
    per_minute_micros: int  # price per minute in millionths of the currency unit
    currency: str
    increment_s: int = 1
    minimum_s: int = 0


class RateCard:
    """Longest-prefix lookup over one carrier's rates (all in one currency)."""

    def __init__(self, rates: Sequence[Rate]) -> None:
        self._by_prefix = {r.prefix: r for r in rates}
        self._lengths = sorted({len(p) for p in self._by_prefix}, reverse=True)
        self.currency = rates[0].currency if rates else None

    def match(self, destination: str | None) -> Rate | None:
        if not destination or not self._by_prefix:
            return None
        return self.match_digits(destination.removeprefix("+"))

    def match_digits(self, digits: str) -> Rate | None:
        """``match`` of a number without its leading "+"."""
        by_prefix = self._by_prefix
        for n in self._lengths:
            rate = by_prefix.get(digits[:n])
            if rate is not None and len(digits) >= n:
                return rate
        return None


def billed_seconds(duration_ms: int, rate: Rate) -> int:
    """Whole increments started, at least the minimum: 61.2 s at 60/60 billing is 120 s."""
    seconds = math.ceil(duration_ms / 1000 / rate.increment_s) * rate.increment_s
    return max(rate.minimum_s, seconds)


def cost_micros(duration_ms: int, rate: Rate) -> int:
    """Price of one call in millionths of the currency, rounded half up."""
    return (billed_seconds(duration_ms, rate) * rate.per_minute_micros + 30) // 60
