"""What /metrics serves: ``CarrierCollector``'s text, byte for byte, but each carrier's
lines are formatted once per change of its row (or of the hour, which moves its windows)
and kept, so a scrape of 10,000 carriers mostly joins cached strings. prometheus_client
formats its ~400,000 samples one by one through generic code, which takes seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from processor.domain.streak_cause import CLASSES
from processor.domain.windows import HOUR_MS
from processor.engine.view import CarrierRow
from processor.ops.metrics import (
    CONSECUTIVE,
    DEST_ANSWERED,
    DEST_ATTEMPTS,
    FAMILIES,
    OTHER,
    RELIABLE,
    RESPONSES,
    STREAK,
    WINDOW_GAUGES,
    CarrierAgg,
    CarrierCollector,
    add_row,
    fas_samples,
    go_text,
    window_family,
)


def _label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')


def carrier_lines(name: str, agg: CarrierAgg) -> tuple[str, ...]:
    """One exported carrier's lines of each family, in the order of FAMILIES (a tuple,
    not a dict: 10,000 of them are cached)."""
    c = f'{{carrier="{_label(name)}"'
    lines = {
        CONSECUTIVE: f"{CONSECUTIVE}{c}}} {go_text(agg.consecutive)}\n",
        STREAK: "".join(f'{STREAK}{c},class="{kind}"}} {go_text(n)}\n'
                        for kind, n in zip(CLASSES, agg.streak, strict=True)),
        RESPONSES: "".join(f'{RESPONSES}{c},code="{code}"}} {go_text(agg.codes[code])}\n'
                           for code in sorted(agg.codes)),
        RELIABLE: f"{RELIABLE}{c}}} {go_text(agg.reliable)}\n"}
    windows = [(f'{c},window="{w}"}} ', f) for w, f in agg.windows.items()]
    for family, value in _WINDOW_FAMILIES:
        lines[family] = "".join([f"{family}{labels}{go_text(v)}\n" for labels, f in windows
                                 if (v := value(f)) is not None])
    groups = [(f'{c},group="{_label(g)}"}} ', attempts, answered)
              for g, attempts, answered in agg.groups]
    lines[DEST_ATTEMPTS] = "".join(f"{DEST_ATTEMPTS}{labels}{go_text(n)}\n"
                                   for labels, n, _ in groups)
    lines[DEST_ANSWERED] = "".join(f"{DEST_ANSWERED}{labels}{go_text(n)}\n"
                                   for labels, _, n in groups)
    for family, v in fas_samples(agg):
        lines[family] = f"{family}{c}}} {go_text(v)}\n"
    return tuple(lines.get(family, "") for family in FAMILIES)


_WINDOW_FAMILIES = [(window_family(gauge), value) for gauge, (_, value) in WINDOW_GAUGES.items()]


class Exposition:
    """What /metrics serves: CarrierCollector's text, with each carrier's lines cached."""

    def __init__(self, collector: CarrierCollector) -> None:
        self._c = collector
        self._cache: dict[str, tuple[tuple[int, int | None], tuple[str, ...]]] = {}
        self._fresh_at: object = None  # the mark of the last warm pass that found no work

    def _lines(self, row: CarrierRow) -> tuple[tuple[tuple[int, int | None],
                                                    tuple[str, ...]], bool]:
        """A carrier's cache entry, formatted again if its row or the hour (windows move)
        changed since; and whether it was."""
        now = self._c.now_ms(row)
        key = (row.version, None if now is None else now // HOUR_MS)
        hit = self._cache.get(row.carrier_id)
        if hit is not None and hit[0] == key:
            return hit, False
        return (key, carrier_lines(row.carrier_id, add_row(None, row, now))), True

    def warm(self, budget_s: float, clock: Callable[[], float] = time.perf_counter) -> int:
        """Format the lines of carriers changed since they were last formatted, for about
        ``budget_s``; returns how many. Run while the worker is idle, so that a scrape
        after a burst of changes mostly joins cached text instead of formatting them all."""
        deadline = clock() + budget_s
        done = 0
        for row in self._c.sorted_rows()[: self._c.max_carriers]:
            entry, formatted = self._lines(row)
            if formatted:
                self._cache[row.carrier_id] = entry
                done += 1
                if done % 16 == 0 and clock() >= deadline:
                    break
        return done

    def warm_idle(self, mark: object, budget_s: float) -> int | None:
        """``warm``, unless the worker has changed nothing since a pass found every line
        fresh: ``mark`` (events processed, hour) moves whenever rows or the hour can have.
        Rows are many, so an idle worker should not sort and key them all 4 times a
        second for nothing. Returns None when skipped."""
        if mark == self._fresh_at:
            return None
        done = self.warm(budget_s)
        if done == 0:
            self._fresh_at = mark
        return done

    def render(self) -> bytes:
        c = self._c
        rows = c.sorted_rows()
        chunks: list[tuple[str, ...]] = []
        other: CarrierAgg | None = None
        fresh = {}
        for i, row in enumerate(rows):
            if i >= c.max_carriers:
                other = add_row(other, row, c.now_ms(row))
                continue
            hit, _ = self._lines(row)
            fresh[row.carrier_id] = hit
            chunks.append(hit[1])
        self._cache = fresh  # carriers gone (revoked partitions) leave the cache
        if other is not None:
            other.groups, other.fas = (), ()  # past the cap: no series per group, no FAS
            chunks.append(carrier_lines(OTHER, other))
        out = []
        for f, (name, family) in enumerate(FAMILIES.items()):
            out.append(f"# HELP {name} {family.help}\n# TYPE {name} {family.kind}\n")
            out.extend(chunk[f] for chunk in chunks)
        rest = CollectorRegistry(auto_describe=False)
        rest.register(_Totals(c, rows))
        return "".join(out).encode() + generate_latest(rest)


class _Totals(Collector):
    """The small families after the carrier ones, rendered by prometheus_client."""

    def __init__(self, collector: CarrierCollector, rows: list[CarrierRow]) -> None:
        self._c = collector
        self._rows = rows

    def collect(self) -> Iterator[Metric]:
        return self._c.totals(self._rows)
