"""SIP code classification (contract §2): connected, failure, neutral or provisional."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

ALL_FAILURES: frozenset[int] = frozenset(range(300, 700))
ROUTE_FAILURES: frozenset[int] = frozenset({408, *range(500, 600)})
NAMED_SETS: dict[str, frozenset[int]] = {"all": ALL_FAILURES, "route": ROUTE_FAILURES}

SEER_EFFECTIVE: frozenset[int] = frozenset({480, 486, 600, 603})


class Outcome(Enum):
    PROVISIONAL = "provisional"
    CONNECTED = "connected"
    FAILURE = "failure"
    NEUTRAL = "neutral"


def failure_set(spec: str | Iterable[int]) -> frozenset[int]:
    """A named set (``all``/``route``) or an explicit list of final non-2xx codes."""
    if isinstance(spec, str):
        try:
            return NAMED_SETS[spec]
        except KeyError:
            raise ValueError(f"unknown failure set {spec!r}; use 'all', 'route' or codes") from None
    codes = frozenset(int(c) for c in spec)
    bad = sorted(c for c in codes if not 300 <= c <= 699)
    if bad:
        raise ValueError(f"failure codes must be final non-2xx codes (300-699), got {bad}")
    return codes


def classify(code: int, failures: frozenset[int]) -> Outcome:
    if code < 200:
        return Outcome.PROVISIONAL
    if code < 300:
        return Outcome.CONNECTED
    if code in failures:
        return Outcome.FAILURE
    return Outcome.NEUTRAL


def is_final(code: int) -> bool:
    return code >= 200


def seer_effective(code: int) -> bool:
    """RFC 6076 SEER numerator: 2xx and the user-side outcomes 480/486/600/603."""
    return 200 <= code < 300 or code in SEER_EFFECTIVE
