"""Window summary maths: what one window (or the live sum) says about a carrier."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from processor.domain.codes import seer_effective
from processor.domain.rates import MICROS

SHORT_CALL_MS = 6_000


@dataclass(slots=True)
class Stats:
    """Additive counters of a window; every derived figure comes from these."""

    attempts: int = 0
    answered: int = 0
    failed: int = 0
    codes: dict[int, int] = field(default_factory=dict)
    seer_hits: int = 0
    redirects: int = 0  # 3xx, excluded from the SEER denominator
    duration_ms: int = 0
    duration_n: int = 0
    short_calls: int = 0
    pdd_ms: int = 0
    pdd_n: int = 0
    cost_micros: int = 0  # millionths of ``currency``, summed exactly
    costed: int = 0  # answered calls a rate applied to
    currency: str | None = None

    def copy(self) -> Stats:
        return Stats(self.attempts, self.answered, self.failed, dict(self.codes), self.seer_hits,
                     self.redirects, self.duration_ms, self.duration_n, self.short_calls,
                     self.pdd_ms, self.pdd_n, self.cost_micros, self.costed, self.currency)

    def add_cost(self, micros: int, currency: str) -> None:
        self.cost_micros += micros
        self.costed += 1
        self.currency = currency

    def add(self, code: int, failed: bool, duration_ms: int | None, pdd_ms: int | None) -> None:
        """Count one final response (the caller filters provisional ones)."""
        self.attempts += 1
        self.codes[code] = self.codes.get(code, 0) + 1
        if failed:
            self.failed += 1
        if seer_effective(code):
            self.seer_hits += 1
        if 300 <= code < 400:
            self.redirects += 1
        if 200 <= code < 300:
            self.answered += 1
            if duration_ms is not None:
                self.duration_ms += duration_ms
                self.duration_n += 1
                if duration_ms < SHORT_CALL_MS:
                    self.short_calls += 1
        if pdd_ms is not None:
            self.pdd_ms += pdd_ms
            self.pdd_n += 1

    def merge(self, other: Stats) -> None:
        # Field by field, not a loop over names: the live record merges 23 hours.
        self.attempts += other.attempts
        self.answered += other.answered
        self.failed += other.failed
        self.seer_hits += other.seer_hits
        self.redirects += other.redirects
        self.duration_ms += other.duration_ms
        self.duration_n += other.duration_n
        self.short_calls += other.short_calls
        self.pdd_ms += other.pdd_ms
        self.pdd_n += other.pdd_n
        self.cost_micros += other.cost_micros
        self.costed += other.costed
        self.currency = self.currency or other.currency
        for code, n in other.codes.items():
            self.codes[code] = self.codes.get(code, 0) + n

    def to_json(self) -> dict[str, Any]:
        return {"a": self.attempts, "ans": self.answered, "f": self.failed,
                "c": {str(k): v for k, v in self.codes.items()}, "sh": self.seer_hits,
                "r3": self.redirects, "d": self.duration_ms, "dn": self.duration_n,
                "sc": self.short_calls, "p": self.pdd_ms, "pn": self.pdd_n,
                "$": self.cost_micros, "$n": self.costed, "cur": self.currency}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Stats:
        return cls(d["a"], d["ans"], d["f"], {int(k): v for k, v in d["c"].items()}, d["sh"],
                   d["r3"], d["d"], d["dn"], d["sc"], d["p"], d["pn"], d.get("$", 0),
                   d.get("$n", 0), d.get("cur"))


def total(stats: Iterable[Stats]) -> Stats:
    out = Stats()
    for s in stats:
        out.merge(s)
    return out


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def figures(s: Stats) -> dict[str, Any]:
    """The contract's summary fields derived from the counters (§3)."""
    return {
        "attempts": s.attempts,
        "answered": s.answered,
        "failed": s.failed,
        "codes": {str(k): s.codes[k] for k in sorted(s.codes)},
        "asr": _ratio(s.answered, s.attempts),
        "seer": _ratio(s.seer_hits, s.attempts - s.redirects),
        "duration_ms": s.duration_ms,
        "acd_s": s.duration_ms / s.duration_n / 1000 if s.duration_n else None,
        "short_calls": s.short_calls,
        "pdd_ms_avg": _ratio(s.pdd_ms, s.pdd_n),
        "cost": s.cost_micros / MICROS if s.costed else None,
        "currency": s.currency if s.costed else None,
    }
