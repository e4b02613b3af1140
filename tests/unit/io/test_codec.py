"""The codec turns bytes into an event or a reason, and never raises on any input."""

from __future__ import annotations

import base64
import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.domain.events import SipEvent
from processor.io.codec import MAX_PAYLOAD, Rejected, decode, dlq_record

NOW = 1_764_064_800_000  # 2025-11-25T10:00:00Z
BASE = {"carrier_id": "c-1", "call_id": "k", "code": 200, "ts": NOW}


def enc(**changes: object) -> bytes:
    doc = {**BASE, **changes}
    return orjson.dumps({k: v for k, v in doc.items() if v is not ...})


@pytest.mark.parametrize(("ts", "ms"), [
    (NOW, NOW),
    ("2025-11-25T10:00:00Z", NOW),
    ("2025-11-25T12:00:00+02:00", NOW),
    ("2025-11-25T05:00:00.250-05:00", NOW + 250),
    ("2025-11-25t10:00:00.999999z", NOW + 999),
])
def test_timestamps_are_normalised_to_utc_ms(ts: object, ms: int) -> None:
    got = decode(enc(ts=ts), NOW)
    assert isinstance(got, SipEvent)
    assert got.ts_ms == ms


@pytest.mark.parametrize(("raw", "error"), [
    (b"", "not-json"),
    (b"{", "not-json"),
    (b"\xff\xfe", "not-json"),
    (b'{"a": NaN}', "not-json"),
    (b"[]", "not-object"),
    (b'"text"', "not-object"),
    (enc(carrier_id=...), "missing-field"),
    (enc(call_id=""), "out-of-range"),
    (enc(code=99), "out-of-range"),
    (enc(code=700), "out-of-range"),
    (enc(code=200.0), "wrong-type"),
    (enc(code=True), "wrong-type"),
    (enc(ts="2025-11-25T10:00:00"), "bad-ts"),
    (enc(ts="2025-11-25"), "bad-ts"),
    (enc(ts="2025-13-45T10:00:00Z"), "bad-ts"),
    (enc(ts=1_764_064_800), "out-of-range"),  # seconds, not milliseconds
    (enc(ts=NOW + 2 * 3_600_000), "ts-future"),
    (enc(ts=None), "missing-field"),
    (enc(ts=[1]), "wrong-type"),
    (enc(v=2), "unsupported-version"),
    (enc(v="1"), "wrong-type"),
    (enc(carrier_id="-starts-with-dash"), "bad-format"),
    (enc(carrier_id="x" * 129), "too-long"),
    (enc(call_id="x" * 257), "too-long"),
    (enc(duration_ms=-1), "out-of-range"),
    (enc(pdd_ms="1"), "wrong-type"),
    (enc(destination="+49 30 1234"), "bad-format"),
    (enc(destination="+" + "1" * 33), "too-long"),
    (enc(destination="1" * 33), "bad-format"),
    (enc(customer_id="c" * 129), "too-long"),
    (enc(reason=5), "wrong-type"),
    (b'{"x": "' + b"a" * MAX_PAYLOAD + b'"}', "payload-too-large"),
    (b"[" * 5000 + b"]" * 5000, "not-json"),
    (None, "empty"),
])
def test_bad_input_is_rejected_with_a_machine_code(raw: bytes | None, error: str) -> None:
    got = decode(raw, NOW)
    assert isinstance(got, Rejected)
    assert got.error == error
    assert got.detail


def test_future_check_is_off_on_the_stream_clock() -> None:
    assert isinstance(decode(enc(ts=NOW + 5 * 3_600_000), None), SipEvent)


def test_optional_fields_null_or_absent_and_unknown_fields_ignored() -> None:
    got = decode(enc(reason=None, duration_ms=None, extra={"deep": [1, 2]}), NOW)
    assert got == SipEvent("c-1", "k", 200, NOW)


def test_identity_is_event_id_else_call_code_ts() -> None:
    with_id = decode(enc(event_id="e1"), NOW)
    without = decode(enc(), NOW)
    assert isinstance(with_id, SipEvent)
    assert isinstance(without, SipEvent)
    assert with_id.identity == "e:e1"
    assert without.identity == f"c:k|200|{NOW}"


def test_dlq_record_keeps_the_original_bytes_and_where_they_came_from() -> None:
    raw = b"\x00garbage"
    rec = orjson.loads(dlq_record(Rejected("not-json", "bad"), topic="sip.responses",
                                  partition=2, offset=17, timestamp_ms=5, key=b"\xffk",
                                  value=raw))
    assert base64.b64decode(rec["value_b64"]) == raw
    assert rec["source"] == {"topic": "sip.responses", "partition": 2, "offset": 17,
                             "timestamp_ms": 5}
    assert rec["key"] == "\ufffdk"


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    assert isinstance(decode(raw, NOW), SipEvent | Rejected)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=8,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["carrier_id", "call_id", "code", "ts", "v", "event_id",
                                        "duration_ms", "pdd_ms", "destination", "reason"]),
                       json_values))
def test_mistyped_objects_never_raise(doc: dict[str, object]) -> None:
    assert isinstance(decode(json.dumps(doc).encode(), NOW), SipEvent | Rejected)


def test_arrival_is_the_record_timestamp_or_the_replays_header() -> None:
    from processor.io.codec import ARRIVAL_HEADER, arrival_ms

    assert arrival_ms(1_000, None, None) == 1_000
    assert arrival_ms(1_000, [("other", b"5"), (ARRIVAL_HEADER, b"42")], None) == 42
    assert arrival_ms(1_000, {ARRIVAL_HEADER: b"42"}, None) == 42
    assert arrival_ms(1_000, [(ARRIVAL_HEADER, b"junk")], None) == 1_000


def test_arrival_never_lies_ahead_of_the_wall_clock_and_defaults_to_it() -> None:
    from processor.io.codec import arrival_ms

    assert arrival_ms(9_000, None, 5_000) == 5_000  # a producer clock running ahead
    assert arrival_ms(4_000, None, 5_000) == 4_000
    assert arrival_ms(None, None, 5_000) == 5_000
    assert arrival_ms(-1, None, 5_000) == 5_000


def test_answer_supervision_fields_are_read() -> None:
    """``answer_ms`` and ``ringing`` (issue 31): optional, checked like the others."""
    doc = {"carrier_id": "c1", "call_id": "x", "code": 200, "ts": 1_764_000_000_000,
           "answer_ms": 850, "ringing": False}
    event = decode(orjson.dumps(doc), wall_ms=None)
    assert isinstance(event, SipEvent)
    assert (event.answer_ms, event.ringing) == (850, False)
    bare = decode(orjson.dumps({**doc, "answer_ms": None, "ringing": None}), wall_ms=None)
    assert isinstance(bare, SipEvent)
    assert (bare.answer_ms, bare.ringing) == (None, None)
    for field, value, error in (("ringing", 1, "wrong-type"), ("ringing", "true", "wrong-type"),
                                ("answer_ms", -1, "out-of-range"),
                                ("answer_ms", 1.5, "wrong-type")):
        rejected = decode(orjson.dumps({**doc, field: value}), wall_ms=None)
        assert isinstance(rejected, Rejected), (field, value)
        assert rejected.error == error, (field, value, rejected)
