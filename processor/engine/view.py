"""What this worker knows about its carriers right now, for metrics and the HTTP API.

The carrier step refreshes a carrier's row whenever it writes the carrier's state, and rebuilds
the rows of a partition from the tables after a start; reading it costs no table access,
so a scrape with 10,000 carriers stays cheap. Nothing here runs per event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from processor.domain import fas, live, outcomes
from processor.domain.model import CarrierState, WindowState
from processor.domain.windows import KINDS, window_start

_VERSIONS = count(1)


@dataclass(slots=True)
class WindowRow:
    start: int
    figures: tuple[int, ...]  # in the order of live.ATTEMPTS ... live.RESCUED_HERE


@dataclass(slots=True)
class CarrierRow:
    carrier_id: str
    partition: int
    consecutive: int
    codes: dict[int, int]
    counts: dict[str, int]
    hours: live.Ring
    windows: dict[str, WindowRow] = field(default_factory=dict)
    version: int = 0  # unique per update, across rows: what the /metrics cache keys on
    firing: dict[str, bool] = field(default_factory=dict)  # alert kind -> firing
    # The live window's busiest destination groups: (group, attempts, answered), as of
    # the last flush that changed the carrier (engine/publish.py)
    groups: tuple[tuple[str, int, int], ...] = ()
    # The current streak's failures by class (domain/streak_cause.CLASSES), shared with
    # the state as ``codes`` is
    streak_classes: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    # Answer supervision as last published (domain/fas.GAUGES); empty before
    fas: tuple[float | None, ...] = ()


class CarrierView:
    """Rows per carrier, plus invalid-input counts per partition."""

    def __init__(self) -> None:
        self.rows: dict[str, CarrierRow] = {}
        self.invalid: dict[int, int] = {}

    def update(self, partition: int, state: CarrierState,
               windows: Mapping[tuple[str, int], WindowState]) -> None:
        row = self.rows.get(state.carrier_id)
        if row is None:
            row = self.rows[state.carrier_id] = CarrierRow(
                state.carrier_id, partition, 0, {}, {}, {})
        row.partition = partition
        row.version = next(_VERSIONS)
        row.consecutive = state.streak.count
        # Shared, not copied: the fold changes them only with an update of the row.
        row.codes = state.codes
        row.counts = state.counts
        row.hours = state.hours
        row.firing = state.firing
        row.streak_classes = state.cause.classes
        for (kind, start), w in windows.items():
            current = row.windows.get(kind)
            if current is None or start >= current.start:
                s, fo = w.stats, w.fo or (0,) * outcomes.WIDTH
                row.windows[kind] = WindowRow(start, (
                    s.attempts, s.answered, s.short_calls, s.duration_ms, s.duration_n,
                    s.seer_hits, s.redirects, fo[outcomes.RESCUED_ELSEWHERE],
                    fo[outcomes.RESCUED_HERE]))

    def set_groups(self, carrier_id: str, groups: tuple[tuple[str, int, int], ...]) -> None:
        row = self.rows.get(carrier_id)
        if row is not None and row.groups != groups:
            row.groups = groups
            row.version = next(_VERSIONS)

    def set_fas(self, carrier_id: str, rec: dict[str, Any]) -> None:
        """A carrier's ``carrier.anomalies`` record was published."""
        row = self.rows.get(carrier_id)
        values = fas.gauge_values(rec)
        if row is not None and row.fas != values:
            row.fas = values
            row.version = next(_VERSIONS)

    def owned(self, partitions: Iterable[int]) -> Iterator[CarrierRow]:
        wanted = set(partitions)
        return (r for r in self.rows.values() if r.partition in wanted)

    def drop_partition(self, partition: int) -> None:
        for cid in [c for c, r in self.rows.items() if r.partition == partition]:
            del self.rows[cid]


def current_window(row: CarrierRow, kind: str, now_ms: int) -> tuple[int, ...]:
    """The live-ring counters (see ``live``) of the window containing ``now_ms``."""
    if kind == "live":
        return tuple(live.totals(row.hours, now_ms))
    w = row.windows.get(kind)
    if w is None or w.start != window_start(kind, now_ms):
        return (0,) * live.WIDTH
    return w.figures


WINDOWS = ("live", *KINDS)
