"""The live traffic generator (``generate.Live``) has the shape the benchmark promises:
Zipf-like carriers, stamps near the produce time, a few late events and re-sends, many
provisional responses, destinations under the dialling prefixes."""

from __future__ import annotations

from collections import Counter

import orjson

from processor.dev.generate import Live, dialling_prefixes, generate_live, live_registry

T0 = 1_763_510_400_000


def test_live_traffic_has_the_promised_shape() -> None:
    t = Live(events=20_000, start_ms=T0)
    msgs = list(generate_live(t))
    docs = [orjson.loads(m.value) for m in msgs if not m.duplicate]
    busiest = Counter(m.carrier_id for m in msgs).most_common(1)[0][1] / len(msgs)
    assert 0.08 < busiest < 0.12
    assert 0.005 < sum(m.duplicate for m in msgs) / len(msgs) < 0.015
    assert 0.17 < sum(d["code"] < 200 for d in docs) / len(docs) < 0.23
    lag = [(m.arrival_ms or 0) - d["ts"] for m, d in zip(
        (m for m in msgs if not m.duplicate), docs, strict=True)]
    late = sum(x >= 3_600_000 for x in lag) / len(lag)
    assert 0.005 < late < 0.015
    assert all(0 <= x <= t.jitter_ms or x >= 3_600_000 for x in lag)
    prefixes = tuple(dialling_prefixes(t.prefixes, t.seed))
    assert all(d["destination"][1:].startswith(prefixes) for d in docs)


def test_every_second_carrier_has_a_rate_card() -> None:
    t = Live(carriers=100)
    assert len(live_registry(t)) == 50
