"""The collector reads rows at scrape time: values, the carrier cap and window roll-over."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from processor.engine.view import CarrierRow, WindowRow
from processor.ops.metrics import CarrierCollector, new_registry, render

HOUR = 3_600_000
NOW = 1_764_064_800_000 + 30 * 60_000  # 2025-11-25T10:30:00Z


def row(cid: str, consecutive: int, codes: dict[int, int], hour_start: int) -> CarrierRow:
    figures = (10, 4, 1, 40_000, 4, 6, 2)
    return CarrierRow(cid, 0, consecutive, codes, {"applied": 10, "duplicate": 1, "late": 2},
                      {hour_start: list(figures)}, {"hour": WindowRow(hour_start, figures)})


def registry(rows: list[CarrierRow], cap: int) -> CollectorRegistry:
    return new_registry(CarrierCollector(lambda: rows, lambda: 7, lambda _r: NOW, cap,
                                         lambda: {0: 12}))


def test_values_come_from_the_rows() -> None:
    current = NOW - NOW % HOUR
    reg = registry([row("a", 1500, {200: 3, 503: 9}, current)], cap=10)
    v = reg.get_sample_value
    assert v("carrierwatch_carrier_consecutive_failures", {"carrier": "a"}) == 1500
    assert v("carrierwatch_carrier_responses_total", {"carrier": "a", "code": "503"}) == 9
    assert v("carrierwatch_carrier_reliable", {"carrier": "a"}) == 0
    assert v("carrierwatch_carrier_window_attempts", {"carrier": "a", "window": "hour"}) == 10
    assert v("carrierwatch_carrier_window_asr", {"carrier": "a", "window": "live"}) == 0.4
    assert v("carrierwatch_carrier_window_acd_seconds", {"carrier": "a", "window": "hour"}) == 10
    assert v("carrierwatch_carrier_window_seer", {"carrier": "a", "window": "hour"}) == 0.75
    assert v("carrierwatch_events_total", {"result": "invalid"}) == 7
    assert v("carrierwatch_events_total", {"result": "late"}) == 2
    assert v("carrierwatch_input_lag_messages", {"partition": "0"}) == 12


def test_a_window_that_has_rolled_over_reads_zero() -> None:
    old = NOW - NOW % HOUR - 2 * HOUR
    reg = registry([row("a", 0, {404: 1}, old)], cap=10)
    assert reg.get_sample_value("carrierwatch_carrier_window_attempts",
                                {"carrier": "a", "window": "hour"}) == 0
    assert reg.get_sample_value("carrierwatch_carrier_window_asr",
                                {"carrier": "a", "window": "hour"}) is None
    assert reg.get_sample_value("carrierwatch_carrier_reliable", {"carrier": "a"}) == 1


def test_carriers_past_the_cap_are_summed_under_other() -> None:
    current = NOW - NOW % HOUR
    rows = [row(f"c{i}", i, {200: 1, 404: i % 2}, current) for i in range(5)]
    reg = registry(rows, cap=2)
    v = reg.get_sample_value
    assert v("carrierwatch_carrier_consecutive_failures", {"carrier": "c0"}) == 0
    assert v("carrierwatch_carrier_consecutive_failures", {"carrier": "c2"}) is None
    assert v("carrierwatch_carrier_consecutive_failures", {"carrier": "_other"}) == 2 + 3 + 4
    assert v("carrierwatch_carrier_responses_total", {"carrier": "_other", "code": "200"}) == 3
    assert v("carrierwatch_carrier_reliable", {"carrier": "_other"}) == 1
    assert v("carrierwatch_carrier_window_attempts", {"carrier": "_other", "window": "hour"}) \
        == 30
    assert b'carrier="_other"' in render(reg)


def test_the_hep_collectors_text_parses_back_to_its_counts() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from processor.ops.metrics import HepCounts, hep_text

    text = hep_text(HepCounts(packets=12, sip=10, events=4, refused={"not-hep": 2},
                              unmapped={"10.0.0.9:5060": 3}, open_calls=1, shed=0,
                              timed_out=5)).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("carrierwatch_hep_packets_total", ())] == 12
    assert samples[("carrierwatch_hep_refused_total", (("kind", "not-hep"),))] == 2
    assert samples[("carrierwatch_hep_unmapped_total", (("address", "10.0.0.9:5060"),))] == 3
    assert samples[("carrierwatch_hep_open_calls", ())] == 1
    assert samples[("carrierwatch_hep_timed_out_total", ())] == 5
    assert "# TYPE carrierwatch_hep_events_total counter" in text
