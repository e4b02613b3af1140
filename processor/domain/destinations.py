"""Quality per destination group: where a carrier's calls go, and how each group does.

A final response's group is the longest prefix of the carrier's rate card that matches its
destination; else the E.164 country calling code it starts with, as ``+<cc>`` (from
phonenumbers' table of country codes, which are prefix-free, looked up once per leading
three digits); else ``unknown`` (no destination, or none that starts with a country code).
A full number parse would cost tens of µs per event; this is a dict lookup or two.

Each hour, day and month window keeps one row of counters per group (``Row``): every
group, so the sums over groups equal the window's own figures exactly, and a group that
grows later is still told apart. The number of groups is bounded by the rate card's
prefixes plus the ~215 country codes. What is shown (the topic, the API) is the busiest
``top`` groups and one ``other`` group holding the rest, with how many it folds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from operator import add as add_
from typing import Any

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from processor.domain.codes import seer_effective
from processor.domain.rates import MICROS, Rate, RateCard
from processor.domain.summary import SHORT_CALL_MS

UNKNOWN = "unknown"
OTHER = "other"
DEFAULT_TOP = 20

# The counters of one group, as a flat list (a window holds dozens of them).
ATTEMPTS, ANSWERED, SEER_HITS, REDIRECTS, DURATION_MS, DURATION_N, SHORT, PDD_MS, PDD_N, \
    COST_MICROS, COSTED = range(11)
WIDTH = 11
Row = list[int]

_COUNTRY_CODES = frozenset(str(cc) for cc in COUNTRY_CODE_TO_REGION_CODE)


@lru_cache(maxsize=2_048)
def _country(head: str) -> str:
    """``+<cc>`` of the number starting with ``head`` (its first three digits)."""
    for n in (1, 2, 3):
        if head[:n] in _COUNTRY_CODES:
            return "+" + head[:n]
    return UNKNOWN


def locate(card: RateCard, destination: str | None) -> tuple[Rate | None, str]:
    """The rate of the card that matches ``destination`` (if any) and its group, in one go
    (the hot path's ``group_of(destination, card.match(destination))``)."""
    if not destination:
        return None, UNKNOWN
    digits = destination[1:] if destination[0] == "+" else destination
    if not digits:
        return None, UNKNOWN
    rate = card.match_digits(digits)
    if rate is not None:
        return rate, rate.prefix
    return None, _country(digits[:3])


def group_of(destination: str | None, rate: Rate | None) -> str:
    """The group of a destination, given the carrier's rate that matched it (if any)."""
    if rate is not None:
        return rate.prefix
    if not destination:
        return UNKNOWN
    digits = destination[1:] if destination[0] == "+" else destination
    return _country(digits[:3]) if digits else UNKNOWN


def add(row: Row, code: int, duration_ms: int | None, pdd_ms: int | None,
        cost_micros: int | None) -> None:
    """Count one final response in its group's row (the definitions of ``summary.Stats``)."""
    row[ATTEMPTS] += 1
    if seer_effective(code):
        row[SEER_HITS] += 1
    if 300 <= code < 400:
        row[REDIRECTS] += 1
    if 200 <= code < 300:
        row[ANSWERED] += 1
        if duration_ms is not None:
            row[DURATION_MS] += duration_ms
            row[DURATION_N] += 1
            if duration_ms < SHORT_CALL_MS:
                row[SHORT] += 1
    if pdd_ms is not None:
        row[PDD_MS] += pdd_ms
        row[PDD_N] += 1
    if cost_micros is not None:
        row[COST_MICROS] += cost_micros
        row[COSTED] += 1


def new_row() -> Row:
    return [0] * WIDTH


def merge(into: dict[str, Row], other: Mapping[str, Row]) -> None:
    for group, row in other.items():
        mine = into.get(group)
        # A new list per group: map(add) in C is several times a loop over the 11 fields.
        into[group] = list(row) if mine is None else list(map(add_, mine, row))


def total(groups: Iterable[Mapping[str, Row]]) -> dict[str, Row]:
    out: dict[str, Row] = {}
    for g in groups:
        merge(out, g)
    return out


def busiest(groups: Mapping[str, Row], top: int) -> tuple[list[tuple[str, Row]], int]:
    """The ``top`` groups by attempts (ties by name), then ``other`` summing the rest if
    any; and how many groups ``other`` folds."""
    ranked = sorted(groups.items(), key=lambda kv: (-kv[1][ATTEMPTS], kv[0]))
    shown, rest = ranked[:top], ranked[top:]
    if not rest:
        return shown, 0
    other = new_row()
    for _, row in rest:
        for i, n in enumerate(row):
            other[i] += n
    return [*shown, (OTHER, other)], len(rest)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def figures(group: str, row: Row, currency: str | None) -> dict[str, Any]:
    """One group's figures, defined as the carrier summary's are."""
    return {
        "group": group,
        "attempts": row[ATTEMPTS],
        "answered": row[ANSWERED],
        "asr": _ratio(row[ANSWERED], row[ATTEMPTS]),
        "seer": _ratio(row[SEER_HITS], row[ATTEMPTS] - row[REDIRECTS]),
        "acd_s": row[DURATION_MS] / row[DURATION_N] / 1000 if row[DURATION_N] else None,
        "pdd_ms": _ratio(row[PDD_MS], row[PDD_N]),
        "short_calls": row[SHORT],
        "cost": row[COST_MICROS] / MICROS if row[COSTED] else None,
        "currency": currency if row[COSTED] else None,
    }
