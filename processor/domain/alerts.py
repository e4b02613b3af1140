"""Alert transitions: one record when a condition starts and one when it ends, never per event.

Each alert kind keeps a firing flag in the carrier's state, so a transition is emitted once
even across restarts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ShortCallRule:
    """Short-call share of the live window, with hysteresis so it does not flap."""

    fire_share: float = 0.30
    resolve_share: float = 0.20
    min_answered: int = 20


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # consecutive-failures | no-404 | short-calls
    state: str  # firing | resolved
    value: float
    threshold: float
    at_ms: int


def consecutive(firing: bool, count: int, threshold: int, at_ms: int) -> tuple[bool, Alert | None]:
    """Fires when the counter reaches the threshold; resolves when it falls below (a 2xx)."""
    if not firing and count >= threshold:
        return True, Alert("consecutive-failures", "firing", count, threshold, at_ms)
    if firing and count < threshold:
        return False, Alert("consecutive-failures", "resolved", count, threshold, at_ms)
    return firing, None


def no_404(firing: bool, verdict: str, total_404: int, min_sample: int,
           at_ms: int) -> tuple[bool, Alert | None]:
    """Fires when the verdict becomes no-404; resolves once a 404 is seen."""
    if not firing and verdict == "no-404":
        return True, Alert("no-404", "firing", total_404, min_sample, at_ms)
    if firing and verdict != "no-404":
        return False, Alert("no-404", "resolved", total_404, min_sample, at_ms)
    return firing, None


def short_calls(firing: bool, short: int, answered: int, rule: ShortCallRule,
                at_ms: int) -> tuple[bool, Alert | None]:
    """Fires at ``fire_share`` of answered calls being short; resolves below ``resolve_share``."""
    share = short / answered if answered else 0.0
    if not firing and answered >= rule.min_answered and share >= rule.fire_share:
        return True, Alert("short-calls", "firing", round(share, 6), rule.fire_share, at_ms)
    if firing and share < rule.resolve_share:
        return False, Alert("short-calls", "resolved", round(share, 6), rule.resolve_share,
                            at_ms)
    return firing, None
