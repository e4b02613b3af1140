"""Prometheus metrics (contract §4) from the carrier view, read at scrape time. With
``exposition.py``, the only modules importing prometheus_client; nothing here runs per
event.

``CarrierCollector`` says what the metrics are, through prometheus_client's own types;
``exposition.py`` serves the same text faster.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from processor.domain import live
from processor.engine.view import WINDOWS, CarrierRow, current_window

OTHER = "_other"
_float_to_go = cast(Callable[[float], str], floatToGoString)


def go_text(value: float) -> str:
    """prometheus_client's number format, without its generic path for the common cases:
    below a million (where Go's format turns to exponents) an int is itself with ".0"
    and a finite float its repr."""
    kind = type(value)
    if kind is int:
        if -10**15 < value < 1_000_000:
            return f"{value}.0"
    elif kind is float and -math.inf < value < 1_000_000.0:
        return repr(value)
    return _float_to_go(value)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


# carrierwatch_carrier_window_<name>: help text, value from the window's live-ring counters
# (None = no sample: a ratio over nothing is absent rather than 0).
WINDOW_GAUGES: dict[str, tuple[str, Callable[[list[int]], float | None]]] = {
    "attempts": ("Final responses in the current window", lambda f: f[live.ATTEMPTS]),
    "answered": ("Answered (2xx) calls in the current window", lambda f: f[live.ANSWERED]),
    "short_calls": ("Answered calls shorter than 6 s in the current window",
                    lambda f: f[live.SHORT]),
    "asr": ("Answered / attempts in the current window",
            lambda f: _ratio(f[live.ANSWERED], f[live.ATTEMPTS])),
    "seer": ("RFC 6076 SEER in the current window",
             lambda f: _ratio(f[live.SEER_HITS], f[live.ATTEMPTS] - f[live.REDIRECTS])),
    "acd_seconds": ("Average duration of answered calls in the current window",
                    lambda f: None if not f[live.DURATION_N]
                    else f[live.DURATION_MS] / f[live.DURATION_N] / 1000),
}


@dataclass
class CarrierAgg:
    """One exported carrier, or the sum of all carriers past the cap."""

    consecutive: int
    codes: dict[int, int]
    reliable: int
    windows: dict[str, list[int]]  # window -> the live-ring counters


def add_row(agg: CarrierAgg | None, row: CarrierRow, now: int | None) -> CarrierAgg:
    """``row`` added into ``agg`` (a new one when None)."""
    if agg is None:
        agg = CarrierAgg(0, {}, 0, {w: [0] * live.WIDTH for w in WINDOWS})
    agg.consecutive += row.consecutive
    for code, n in row.codes.items():
        agg.codes[code] = agg.codes.get(code, 0) + n
    agg.reliable += 1 if row.codes.get(404) else 0
    if now is not None:
        for w in WINDOWS:
            for j, v in enumerate(current_window(row, w, now)):
                agg.windows[w][j] += v
    return agg


# The carrier families, in the order exposed: (name as exposed, type, help, labels).
FAMILIES: list[tuple[str, str, str, list[str]]] = [
    ("carrierwatch_carrier_consecutive_failures", "gauge",
     "Failed calls in a row since the last connected call", ["carrier"]),
    ("carrierwatch_carrier_responses_total", "counter", "Final SIP responses by code, all time",
     ["carrier", "code"]),
    ("carrierwatch_carrier_reliable", "gauge",
     "1 once the carrier returned a 404 (for _other: how many)", ["carrier"]),
    *((f"carrierwatch_carrier_window_{name}", "gauge", text, ["carrier", "window"])
      for name, (text, _) in WINDOW_GAUGES.items()),
]


class CarrierCollector(Collector):
    """Builds every metric family from the rows this worker owns, when scraped."""

    def __init__(self, rows: Callable[[], Iterable[CarrierRow]],
                 invalid: Callable[[], int], now_ms: Callable[[CarrierRow], int | None],
                 max_carriers: int, lag: Callable[[], dict[int, int]] | None = None) -> None:
        self._rows = rows
        self._invalid = invalid
        self._lag = lag
        self._now_ms = now_ms
        self._max = max_carriers

    def collect(self) -> Iterator[Metric]:
        rows = self.sorted_rows()
        exported: dict[str, CarrierAgg] = {}
        for i, row in enumerate(rows):
            name = row.carrier_id if i < self._max else OTHER
            exported[name] = add_row(exported.get(name), row, self._now_ms(row))
        yield from self._families(exported)
        yield from self.totals(rows)

    def sorted_rows(self) -> list[CarrierRow]:
        return sorted(self._rows(), key=lambda r: r.carrier_id)

    def _families(self, exported: dict[str, CarrierAgg]) -> Iterator[Metric]:
        cf, responses, reliable, *gauges = (
            (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(
                name, text, labels=labels) for name, kind, text, labels in FAMILIES)
        windows = dict(zip(WINDOW_GAUGES, gauges, strict=True))
        for name, agg in exported.items():
            cf.add_metric([name], agg.consecutive)
            reliable.add_metric([name], agg.reliable)
            for code in sorted(agg.codes):
                responses.add_metric([name, str(code)], agg.codes[code])
            for w, f in agg.windows.items():
                for gauge, (_, value) in WINDOW_GAUGES.items():
                    v = value(f)
                    if v is not None:
                        windows[gauge].add_metric([name, w], v)
        yield from (cf, responses, reliable, *windows.values())

    def totals(self, rows: Iterable[CarrierRow]) -> Iterator[Metric]:
        """The families after the carrier ones: input results and lag."""
        results = {"applied": 0, "duplicate": 0, "invalid": self._invalid(), "late": 0}
        for row in rows:
            for k in ("applied", "duplicate", "late"):
                results[k] += row.counts.get(k, 0)
        events = CounterMetricFamily("carrierwatch_events",
                                     "Input messages by what became of them",
                                     labels=["result"])
        for result, n in results.items():
            events.add_metric([result], n)
        lag = GaugeMetricFamily("carrierwatch_input_lag_messages",
                                "Input messages not yet processed, per owned partition",
                                labels=["partition"])
        for partition, n in sorted((self._lag() if self._lag else {}).items()):
            lag.add_metric([str(partition)], n)
        yield from (events, lag)


def new_registry(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format."""
    return generate_latest(registry)


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
