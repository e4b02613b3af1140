"""Hostile input between ordinary traffic: the worker never crashes, every bad message is on
the DLQ, every good one is counted.

The bad payloads are drawn by hypothesis: valid events mutated so that they certainly break
the contract (a required field dropped or of a wrong type, codes and timestamps out of range,
over-long strings, NaN, invalid UTF-8, truncation), plus deep nesting, random bytes, empty
values and 1 MiB values. Their only oracle is "it must land on the DLQ, whole".
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from processor.admin.produce import Message
from processor.settings import Settings
from tests.faults.harness import Feeder, check_dead_letters, report, settings_for, traffic
from tests.integration.outputs import TopicState, expected, wait_equal
from tests.integration.procs import start_worker
from tests.oracle import Oracle

pytestmark = [pytest.mark.integration, pytest.mark.faults]

MIB = 1024 * 1024
BASE = {"carrier_id": "c-00001", "call_id": "abc@sbc1", "code": 503,
        "ts": 1709251200000, "duration_ms": 0, "pdd_ms": 1200, "reason": "Service Unavailable"}
REQUIRED = ("carrier_id", "call_id", "code", "ts")
NOT_A_STRING = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.lists(st.integers(), max_size=3),
                         st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
NOT_AN_INT = st.one_of(st.booleans(), st.text(max_size=8), st.floats(allow_nan=False),
                       st.lists(st.integers(), max_size=3))


def dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


@st.composite
def hostile(draw: st.DrawFn) -> bytes:  # noqa: PLR0911, PLR0912 - a branch per damage
    doc = dict(BASE, call_id=draw(st.text("abcdef0123456789", min_size=4, max_size=12)))
    kind = draw(st.sampled_from(["drop", "type", "code", "ts", "long", "nan", "utf8",
                                 "truncate", "deep", "bytes", "empty", "mib", "not-object"]))
    if kind == "drop":
        del doc[draw(st.sampled_from(REQUIRED))]
    elif kind == "type":
        field = draw(st.sampled_from(REQUIRED))
        doc[field] = draw(NOT_AN_INT if field == "code" else NOT_A_STRING.filter(
            lambda v: field != "ts" or type(v) is not int))
    elif kind == "code":
        doc["code"] = draw(st.one_of(st.integers(max_value=99), st.integers(min_value=700,
                                                                            max_value=2**62)))
    elif kind == "ts":
        doc["ts"] = draw(st.one_of(st.integers(min_value=-2**62, max_value=946_684_799_999),
                                   st.integers(min_value=4_102_444_800_000, max_value=2**62),
                                   st.text(max_size=20).filter(lambda t: not t[:1].isdigit())))
    elif kind == "long":
        doc[draw(st.sampled_from(["carrier_id", "call_id"]))] = "x" * draw(
            st.integers(300, 200_000))
    elif kind == "nan":
        doc["code"] = draw(st.sampled_from([float("nan"), float("inf"), float("-inf")]))
    elif kind == "utf8":
        raw = dumps(doc)
        at = draw(st.integers(2, len(raw) - 2))
        return raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"])) + raw[at:]
    elif kind == "truncate":
        raw = dumps(doc)
        return raw[:draw(st.integers(0, len(raw) - 1))] or b" "
    elif kind == "deep":
        depth = draw(st.integers(1_000, 100_000))
        return b"[" * depth + b"]" * depth
    elif kind == "bytes":
        return draw(st.binary(min_size=1, max_size=300).filter(lambda b: b[:1] != b"{"))
    elif kind == "empty":
        return b""
    elif kind == "mib":
        return dumps(dict(doc, reason="r" * MIB))
    elif kind == "not-object":
        return json.dumps(draw(st.lists(st.integers(), max_size=3))).encode()
    return dumps(doc)


def hostile_payloads(n: int) -> list[bytes]:
    """``n`` distinct-ish draws (hypothesis, fixed seed) as a plain list to send."""
    out: list[bytes] = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(hostile())
    def collect(payload: bytes) -> None:
        out.append(payload)

    collect()
    return out


def test_hostile_input_never_stops_the_worker(isolated: Settings, tmp_path: Path) -> None:
    settings_ = settings_for(isolated)
    good = traffic(seed=61, events=6_000, carriers=20)
    bad = hostile_payloads(400)
    rng = random.Random(61)
    keys = [None, b"c-00001", b"\xff\xfe", b"k" * 10_000]
    mixed = list(good)
    for payload in bad:
        mixed.insert(rng.randrange(len(mixed) + 1),
                     Message(rng.choice(keys), payload, False, "c-00001"))
    oracle = Oracle()
    oracle.feed(mixed)
    reader = TopicState(settings_)
    Feeder(settings_, mixed, rate=None).join()
    worker = start_worker(settings_, tmp_path / "w.log")
    try:
        wait_equal(reader, expected(oracle), timeout=300)
        assert worker.popen.poll() is None, "the worker exited"
    finally:
        worker.stop()
        reader.close()
    assert "processing a batch of" not in worker.log()
    distinct, repeats = check_dead_letters(settings_, oracle)
    assert distinct == len(oracle.invalid)
    kinds = sum(1 for p in bad if len(p) > MIB)
    report("hostile input", bad=len(bad), of_which_1mib=kinds, dlq=distinct,
           dlq_repeats=repeats, good=len(good) - (len(oracle.invalid) - len(bad)))
