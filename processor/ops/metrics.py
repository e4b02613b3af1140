"""Prometheus metrics (contract §4) from the carrier view, read at scrape time. With
``exposition.py``, the only modules importing prometheus_client; nothing here runs per
event.

``CarrierCollector`` says what the metrics are, through prometheus_client's own types;
``exposition.py`` serves the same text faster.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from processor.domain import live
from processor.domain.streak_cause import CLASSES
from processor.engine.view import WINDOWS, CarrierRow, current_window

OTHER = "_other"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the text format both /metrics serve
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
    "rescued_elsewhere": ("Calls that failed here and were then answered on another carrier "
                          "(call outcomes), current window",
                          lambda f: f[live.RESCUED_ELSEWHERE]),
    "rescued_here": ("Calls that failed on another carrier and were then answered here, "
                     "current window", lambda f: f[live.RESCUED_HERE]),
}


@dataclass
class CarrierAgg:
    """One exported carrier, or the sum of all carriers past the cap."""

    consecutive: int
    codes: dict[int, int]
    reliable: int
    windows: dict[str, list[int]]  # window -> the live-ring counters
    groups: tuple[tuple[str, int, int], ...] = ()  # live: (group, attempts, answered)
    streak: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # failures by class
    fas: tuple[float | None, ...] = ()  # fas.GAUGES' values (none for OTHER)


def add_row(agg: CarrierAgg | None, row: CarrierRow, now: int | None) -> CarrierAgg:
    """``row`` added into ``agg`` (a new one when None)."""
    if agg is None:
        agg = CarrierAgg(0, {}, 0, {w: [0] * live.WIDTH for w in WINDOWS}, row.groups,
                         fas=row.fas)
    agg.consecutive += row.consecutive
    for i, n in enumerate(row.streak_classes):
        agg.streak[i] += n
    for code, n in row.codes.items():
        agg.codes[code] = agg.codes.get(code, 0) + n
    agg.reliable += 1 if row.codes.get(404) else 0
    if now is not None:
        for w in WINDOWS:
            for j, v in enumerate(current_window(row, w, now)):
                agg.windows[w][j] += v
    return agg


DEST_ATTEMPTS = "carrierwatch_carrier_destination_attempts"
DEST_ANSWERED = "carrierwatch_carrier_destination_answered"
CONSECUTIVE = "carrierwatch_carrier_consecutive_failures"
STREAK = "carrierwatch_carrier_streak_failures"
RESPONSES = "carrierwatch_carrier_responses_total"
RELIABLE = "carrierwatch_carrier_reliable"


# carrierwatch_carrier_fas_<name> per fas.GAUGES entry: help text
FAS_HELP = {
    "score": "False answer supervision score (0 to 1; 0.5 = a threshold reached), live window",
    "short_calls_6s": "Answered calls of 6 s or less, live window",
    "short_calls_15s": "Answered calls of 15 s or less, live window",
    "short_call_ratio": "Answered calls of 15 s or less / failed attempts, live window",
    "baseline_short_call_ratio": "The short-call ratio of the carrier's 7-day baseline",
    "unrung_answer_ratio": "Share of answers without an 18x before them, live window",
    "instant_answer_ratio": "Share of answers within 1 s of the INVITE, live window",
    "median_ring_seconds": "Median ring time (answer - PDD), live window",
    "acd_seconds": "ACD of the live window, as judged for FAS",
    "baseline_acd_seconds": "ACD of the carrier's 7-day baseline",
}
# fas.GAUGES order -> family, and the unit factor (ms to s)
FAS_FAMILIES = tuple(zip((f"carrierwatch_carrier_fas_{n}" for n in FAS_HELP),
                         (1, 1, 1, 1, 1, 1, 1, 0.001, 1, 1), strict=True))


def window_family(gauge: str) -> str:
    """The family of a ``WINDOW_GAUGES`` entry."""
    return f"carrierwatch_carrier_window_{gauge}"


@dataclass(frozen=True)
class Family:
    kind: str  # gauge | counter
    help: str
    labels: list[str]


# The carrier families by name as exposed, in the order exposed.
FAMILIES: dict[str, Family] = {
    CONSECUTIVE: Family("gauge", "Failed calls in a row since the last connected call",
                        ["carrier"]),
    STREAK: Family("gauge", "The current streak's failures by code class (wrong-number, "
                   "callee, route, other)", ["carrier", "class"]),
    RESPONSES: Family("counter", "Final SIP responses by code, all time", ["carrier", "code"]),
    RELIABLE: Family("gauge", "1 once the carrier returned a 404 (for _other: how many)",
                     ["carrier"]),
    **{window_family(gauge): Family("gauge", text, ["carrier", "window"])
       for gauge, (text, _) in WINDOW_GAUGES.items()},
    DEST_ATTEMPTS: Family("gauge", "Final responses in the live window per destination group "
                          "(the busiest groups; not for _other)", ["carrier", "group"]),
    DEST_ANSWERED: Family("gauge", "Answered calls in the live window per destination group "
                          "(the busiest groups; not for _other)", ["carrier", "group"]),
    **{family: Family("gauge", f"{text} (as last published; not for _other)", ["carrier"])
       for (family, _), text in zip(FAS_FAMILIES, FAS_HELP.values(), strict=True)},
}


def fas_samples(agg: CarrierAgg) -> Iterator[tuple[str, float]]:
    """The FAS gauges' (family, value) of a carrier, those with a value."""
    for (family, unit), v in zip(FAS_FAMILIES, agg.fas, strict=False):
        if v is not None:
            yield family, v * unit if unit != 1 else v


class CarrierCollector(Collector):
    """Builds every metric family from the rows this worker owns, when scraped."""

    def __init__(self, rows: Callable[[], Iterable[CarrierRow]],
                 invalid: Callable[[], int], now_ms: Callable[[CarrierRow], int | None],
                 max_carriers: int, lag: Callable[[], dict[int, int]] | None = None) -> None:
        self._rows = rows
        self._invalid = invalid
        self._lag = lag
        self.now_ms = now_ms  # a row's reference clock (its windows move with the hour)
        self.max_carriers = max_carriers  # exported by name; the rest are summed as OTHER

    def collect(self) -> Iterator[Metric]:
        rows = self.sorted_rows()
        exported: dict[str, CarrierAgg] = {}
        for i, row in enumerate(rows):
            name = row.carrier_id if i < self.max_carriers else OTHER
            exported[name] = add_row(exported.get(name), row, self.now_ms(row))
        if OTHER in exported:
            # the carriers past the cap: no series per group, no FAS (a score is not summed)
            exported[OTHER].groups, exported[OTHER].fas = (), ()
        yield from self._families(exported)
        yield from self.totals(rows)

    def sorted_rows(self) -> list[CarrierRow]:
        return sorted(self._rows(), key=lambda r: r.carrier_id)

    def _families(self, exported: dict[str, CarrierAgg]) -> Iterator[Metric]:
        made = {name: (CounterMetricFamily if f.kind == "counter" else GaugeMetricFamily)(
            name, f.help, labels=f.labels) for name, f in FAMILIES.items()}
        cf, responses, reliable = made[CONSECUTIVE], made[RESPONSES], made[RELIABLE]
        windows = {gauge: made[window_family(gauge)] for gauge in WINDOW_GAUGES}
        for name, agg in exported.items():
            for group, attempts, answered in agg.groups:
                made[DEST_ATTEMPTS].add_metric([name, group], attempts)
                made[DEST_ANSWERED].add_metric([name, group], answered)
            cf.add_metric([name], agg.consecutive)
            for kind, n in zip(CLASSES, agg.streak, strict=True):
                made[STREAK].add_metric([name, kind], n)
            for family, sample in fas_samples(agg):
                made[family].add_metric([name], sample)
            reliable.add_metric([name], agg.reliable)
            for code in sorted(agg.codes):
                responses.add_metric([name, str(code)], agg.codes[code])
            for w, f in agg.windows.items():
                for gauge, (_, value) in WINDOW_GAUGES.items():
                    v = value(f)
                    if v is not None:
                        windows[gauge].add_metric([name, w], v)
        yield from made.values()

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


@dataclass(frozen=True)
class HepCounts:
    """What the HEP collector (``carrierwatch ingest hep``) counts."""

    packets: int
    sip: int
    events: int
    refused: Mapping[str, int]  # by kind
    unmapped: Mapping[str, int]  # by far-end address
    open_calls: int
    shed: int
    timed_out: int


def _by_label(name: str, help_text: str, label: str, counts: Mapping[str, int]) -> Metric:
    family = CounterMetricFamily(name, help_text, labels=[label])
    for value, n in sorted(counts.items()):
        family.add_metric([value], n)
    return family


def hep_families(c: HepCounts) -> Iterator[Metric]:
    yield CounterMetricFamily("carrierwatch_hep_packets_total", "HEP packets received",
                              value=c.packets)
    yield CounterMetricFamily("carrierwatch_hep_sip_messages_total", "SIP messages parsed",
                              value=c.sip)
    yield _by_label("carrierwatch_hep_refused_total", "packets refused, by kind", "kind",
                    c.refused)
    yield CounterMetricFamily("carrierwatch_hep_events_total", "events produced",
                              value=c.events)
    yield _by_label("carrierwatch_hep_unmapped_total",
                    "replies from an address no carrier lists", "address", c.unmapped)
    yield GaugeMetricFamily("carrierwatch_hep_open_calls", "calls in progress",
                            value=c.open_calls)
    yield CounterMetricFamily("carrierwatch_hep_shed_calls_total",
                              "open calls dropped at the bound", value=c.shed)
    yield CounterMetricFamily("carrierwatch_hep_timed_out_total",
                              "INVITEs without a final response", value=c.timed_out)


class _Families(Collector):
    def __init__(self, families: Callable[[], Iterator[Metric]]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return self._families()


def hep_text(c: HepCounts) -> bytes:
    """The HEP collector's ``/metrics``, rendered by prometheus_client."""
    return render(new_registry(_Families(lambda: hep_families(c))))


def new_registry(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format."""
    return generate_latest(registry)

