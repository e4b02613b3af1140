"""The live record is built from a cached sum of the 23 closed hours plus the current one:
it must equal the 24 hours summed afresh, whatever is written, late or not, and whenever
the hour moves on."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.domain import records
from processor.domain.model import CarrierState, Policy, WindowState
from processor.domain.summary import Stats
from processor.domain.windows import HOUR_MS, live_hours
from processor.engine.publish import Publisher
from processor.io.names import LIVE, window_key

T0 = 1_764_547_200_000  # 2025-12-01T00:00:00Z


class Windows:
    """The windows table as the publisher reads it."""

    def __init__(self) -> None:
        self.values: dict[bytes, WindowState] = {}

    def load(self, _partition: int, key: bytes) -> WindowState | None:
        return self.values.get(key)


# (hours ago the write lands in, code, minutes the clock moves on afterwards)
steps = st.lists(st.tuples(st.integers(0, 30), st.sampled_from([200, 404, 486, 503]),
                           st.sampled_from([0, 0, 5, 30, 61, 24 * 60])), max_size=60)


@settings(max_examples=200, deadline=None)
@given(steps, st.booleans())
def test_the_live_record_equals_the_24_hours_summed_afresh(
        ops: list[tuple[int, int, int]], forget: bool) -> None:
    sent: list[tuple[str, bytes, bytes | None]] = []
    windows = Windows()
    clock = {"now": T0}
    state = CarrierState("c1")
    publisher = Publisher(lambda topic, key, value: sent.append((topic, key, value)),
                          carriers=None,  # type: ignore[arg-type]
                          windows=windows,  # type: ignore[arg-type]
                          policy_for=lambda _cid: Policy(),
                          now_for=lambda _state: clock["now"], wall_ms=lambda: 0)
    for ago, code, later in ops:
        start = (clock["now"] - ago * HOUR_MS) // HOUR_MS * HOUR_MS
        key = window_key("c1", "hour", start).encode()
        old = windows.values.get(key)
        w = old.copy() if old is not None else WindowState()
        w.stats.add(code, code >= 300, 1000 if code == 200 else None, 500)
        windows.values[key] = w
        if start not in state.windows["hour"]:
            state.windows["hour"].append(start)
        publisher.mark("c1", 0, [("hour", start)], state=state, written={("hour", start): w})
        publisher.publish()
        if forget:
            publisher.forget()
        live = [v for topic, _, v in sent if topic == LIVE][-1]
        assert live is not None
        hours: list[Stats] = [windows.values[k].stats for s in live_hours(clock["now"])
                              if (k := window_key("c1", "hour", s).encode()) in windows.values]
        want: dict[str, Any] = records.live("c1", clock["now"], hours, 0)
        got = orjson.loads(live)
        assert {k: v for k, v in got.items() if k != "updated_at"} == \
            {k: v for k, v in want.items() if k != "updated_at"}
        clock["now"] += later * 60_000
