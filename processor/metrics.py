"""Prometheus metrics (contract §4) from a collector that reads the carrier view at scrape
time. The only module that imports prometheus_client; nothing here runs per event."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from processor.domain import live
from processor.view import WINDOWS, CarrierRow, current_window

OTHER = "_other"


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
class _Agg:
    """One exported carrier, or the sum of all carriers past the cap."""

    consecutive: int
    codes: dict[int, int]
    reliable: int
    windows: dict[str, list[int]]  # window -> the live-ring counters


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
        rows = sorted(self._rows(), key=lambda r: r.carrier_id)
        exported: dict[str, _Agg] = {}
        results = {"applied": 0, "duplicate": 0, "invalid": self._invalid(), "late": 0}
        for i, row in enumerate(rows):
            for k in ("applied", "duplicate", "late"):
                results[k] += row.counts.get(k, 0)
            name = row.carrier_id if i < self._max else OTHER
            agg = exported.get(name)
            if agg is None:
                agg = exported[name] = _Agg(0, {}, 0, {w: [0] * live.WIDTH for w in WINDOWS})
            agg.consecutive += row.consecutive
            for code, n in row.codes.items():
                agg.codes[code] = agg.codes.get(code, 0) + n
            agg.reliable += 1 if row.codes.get(404) else 0
            now = self._now_ms(row)
            if now is not None:
                for w in WINDOWS:
                    for j, v in enumerate(current_window(row, w, now)):
                        agg.windows[w][j] += v
        yield from self._families(exported, results)

    def _families(self, exported: dict[str, _Agg], results: dict[str, int]) -> Iterator[Metric]:
        cf = GaugeMetricFamily("carrierwatch_carrier_consecutive_failures",
                               "Failed calls in a row since the last connected call",
                               labels=["carrier"])
        responses = CounterMetricFamily("carrierwatch_carrier_responses",
                                        "Final SIP responses by code, all time",
                                        labels=["carrier", "code"])
        reliable = GaugeMetricFamily("carrierwatch_carrier_reliable",
                                     "1 once the carrier returned a 404 (for _other: how many)",
                                     labels=["carrier"])
        windows = {name: GaugeMetricFamily(f"carrierwatch_carrier_window_{name}", text,
                                           labels=["carrier", "window"])
                   for name, (text, _) in WINDOW_GAUGES.items()}
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
        yield from (cf, responses, reliable, *windows.values(), events, lag)


def new_registry(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format."""
    return generate_latest(registry)


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
