"""/metrics text: the cached exposition equals prometheus_client's rendering of the
collector, byte for byte, over generated rows, across row changes, hours and the cap."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.utils import floatToGoString

from processor.domain import fas, live
from processor.engine.view import CarrierRow, CarrierView, WindowRow
from processor.ops import exposition as exposition_module
from processor.ops.exposition import Exposition
from processor.ops.metrics import CarrierCollector, go_text, new_registry, render

HOUR = 3_600_000
NOW = 1_764_064_800_000  # 2025-11-25T10:00:00Z

figures = st.lists(st.integers(0, 10**7), min_size=live.WIDTH, max_size=live.WIDTH)
groups = st.lists(st.tuples(st.sampled_from(["4420", "+44", "+1", "unknown", 'x"\\']),
                            st.integers(0, 10**6), st.integers(0, 10**6)),
                  max_size=3, unique_by=lambda g: g[0]).map(tuple)
fas_values = st.one_of(st.just(()), st.lists(
    st.one_of(st.none(), st.floats(0, 10**6, allow_nan=False), st.integers(0, 10**6)),
    min_size=len(fas.GAUGES), max_size=len(fas.GAUGES)).map(tuple))
rows = st.lists(st.builds(
    lambda cid, cons, codes, hours, wins, counts, groups, f: (cid, cons, codes, hours, wins,
                                                              counts, groups, f),
    st.text(st.sampled_from('ab-_9"\\\nZé'), min_size=1, max_size=6),
    st.integers(0, 5000),
    st.dictionaries(st.sampled_from([200, 404, 486, 503, 180]), st.integers(0, 10**6),
                    max_size=4),
    st.dictionaries(st.integers(-30, 2).map(lambda h: NOW + h * HOUR), figures, max_size=3),
    st.dictionaries(st.sampled_from(["hour", "day", "month"]),
                    st.tuples(st.integers(-2, 0), figures), max_size=3),
    st.dictionaries(st.sampled_from(["applied", "duplicate", "late"]), st.integers(0, 99),
                    max_size=3),
    groups,
    fas_values,
), max_size=8, unique_by=lambda r: r[0])


def _row(spec: Any, version: int) -> CarrierRow:
    cid, cons, codes, hours, wins, counts, *more = spec
    live_groups = more[0] if more else ()
    fas_gauges = more[1] if len(more) > 1 else ()
    starts = {"hour": HOUR, "day": 24 * HOUR, "month": 24 * HOUR}
    windows = {k: WindowRow(NOW - NOW % starts[k] + back * starts[k], tuple(f))
               for k, (back, f) in wins.items()}
    return CarrierRow(cid, 0, cons, dict(codes), dict(counts),
                      {h: list(f) for h, f in hours.items()}, windows, version,
                      groups=live_groups, fas=fas_gauges)


@settings(max_examples=150, deadline=None)
@given(first=rows, second=rows, cap=st.integers(0, 6), hours=st.integers(0, 30),
       clock=st.sampled_from(["wall", "stream"]), warm=st.sampled_from([None, 0.0, 60.0]))
def test_the_exposition_is_prometheus_clients_text(first: Any, second: Any, cap: int, *,
                                                   hours: int, clock: str,
                                                   warm: float | None) -> None:
    state: dict[str, Any] = {"rows": [_row(r, i) for i, r in enumerate(first)],
                             "now": NOW + 20 * 60_000}

    def now_ms(row: CarrierRow) -> int | None:
        if clock == "wall":
            return int(state["now"])
        return max(row.hours) if row.hours else None

    collector = CarrierCollector(lambda: state["rows"], lambda: 3, now_ms, cap,
                                 lambda: {1: 5, 0: 2})
    exposition = Exposition(collector)
    oracle = new_registry(collector)
    assert exposition.render() == render(oracle)
    # Some rows change (new versions), some stay cached, time moves on by whole hours.
    kept = state["rows"][::2]
    ids = {r.carrier_id for r in kept}
    state["rows"] = kept + [_row(r, 100 + i) for i, r in enumerate(second) if r[0] not in ids]
    state["now"] += hours * HOUR
    if warm is not None:  # lines formatted ahead (all of them, or a budget's worth)
        exposition.warm(warm)
    assert exposition.render() == render(oracle)


def test_a_changed_row_is_rendered_again() -> None:
    """The cache keys on the row's version: an update must show at the next scrape."""
    view = CarrierView()
    from processor.domain.model import CarrierState

    state = CarrierState("c-1")
    view.update(0, state, {})
    exposition = Exposition(CarrierCollector(lambda: list(view.rows.values()), lambda: 0,
                                             lambda _r: NOW, 10))
    assert b'carrierwatch_carrier_consecutive_failures{carrier="c-1"} 0.0' in \
        exposition.render()
    state.streak = dataclasses.replace(state.streak, count=42)
    view.update(0, state, {})
    assert b'carrierwatch_carrier_consecutive_failures{carrier="c-1"} 42.0' in \
        exposition.render()


@given(st.one_of(st.integers(-10**17, 10**17), st.floats(allow_nan=True, allow_infinity=True),
                 st.sampled_from([999_999, 1_000_000, 999_999.99, 1e6, -10**15, 1e-7, 0.0])))
def test_number_format_is_prometheus_clients(value: float) -> None:
    assert go_text(value) == floatToGoString(value)


def test_lines_formatted_ahead_are_not_formatted_again(monkeypatch: Any) -> None:
    specs = [(f"c-{i}", i, {200: i, 404: 1}, {NOW: [i] * live.WIDTH},
              {"hour": (0, [i] * live.WIDTH)}, {"applied": i}) for i in range(40)]
    rows = [_row(spec, i + 1) for i, spec in enumerate(specs)]
    collector = CarrierCollector(lambda: rows, lambda: 0, lambda _r: NOW, 100)
    want = Exposition(collector).render()
    exposition = Exposition(collector)
    ticks = iter(range(1000))
    assert exposition.warm(0.5, clock=lambda: float(next(ticks))) == 16  # budget spent
    assert exposition.warm(1000.0) == 24  # the rest
    assert exposition.warm(1000.0) == 0  # nothing changed since
    formatted: list[str] = []
    real = exposition_module.carrier_lines
    monkeypatch.setattr(exposition_module, "carrier_lines",
                        lambda name, agg: formatted.append(name) or real(name, agg))
    assert exposition.render() == want
    assert formatted == []
    rows[3] = _row(specs[3], 500)  # a changed carrier is formatted again, ahead or not
    exposition.warm(1000.0)
    assert formatted == ["c-3"]


def test_an_idle_worker_skips_the_warm_pass_until_something_changed() -> None:
    rows = [_row((f"c-{i}", i, {200: i}, {}, {}, {}), i + 1) for i in range(3)]
    sorts: list[int] = []
    collector = CarrierCollector(lambda: sorts.append(1) or rows, lambda: 0,
                                 lambda _r: NOW, 100)
    exposition = Exposition(collector)
    assert exposition.warm_idle((10, 1), 1.0) == 3
    assert exposition.warm_idle((10, 1), 1.0) == 0  # all fresh: remembered for this mark
    passes = len(sorts)
    assert exposition.warm_idle((10, 1), 1.0) is None  # nothing changed: not even a sort
    assert len(sorts) == passes
    rows[1] = _row(("c-1", 9, {200: 9}, {}, {}, {}), 50)
    assert exposition.warm_idle((11, 1), 1.0) == 1  # events processed: a pass again
    assert exposition.warm_idle((11, 1), 1.0) == 0
    assert exposition.warm_idle((11, 2), 1.0) == 0  # a new hour: a pass again
