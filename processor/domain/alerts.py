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
class DestinationAsrRule:
    """ASR of one destination group over the live window, with hysteresis: fires below
    ``fire_below`` once the group has ``min_attempts`` final responses there, resolves at
    ``resolve_above`` or when the group has none left in the window."""

    fire_below: float = 0.20
    resolve_above: float = 0.30
    min_attempts: int = 50


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # consecutive-failures | no-404 | short-calls | destination-asr | fas-suspect
    state: str  # firing | resolved
    value: float
    threshold: float
    at_ms: int
    group: str | None = None  # destination-asr: the destination group
    explanation: str | None = None  # why, in words (fas-suspect; consecutive-failures: added
    # by the record from the streak's cause)


DESTINATION_ASR = "destination-asr"


def destination_key(group: str) -> str:
    """The firing flag of a group's destination-asr alert, among a carrier's flags."""
    return f"{DESTINATION_ASR}|{group}"


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


def destination_asr(firing: bool, group: str, attempts: int, answered: int, *,
                    rule: DestinationAsrRule, at_ms: int) -> tuple[bool, Alert | None]:
    """A group's live ASR against ``rule``."""
    asr = answered / attempts if attempts else 0.0
    if not firing and attempts >= rule.min_attempts and asr < rule.fire_below:
        return True, Alert(DESTINATION_ASR, "firing", round(asr, 6), rule.fire_below, at_ms,
                           group)
    if firing and (attempts == 0 or asr >= rule.resolve_above):
        return False, Alert(DESTINATION_ASR, "resolved", round(asr, 6), rule.resolve_above,
                            at_ms, group)
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
