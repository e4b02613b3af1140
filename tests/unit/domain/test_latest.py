"""Latest calls as a ring of chunks: against a plain list kept newest first, the obvious model."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.domain import latest
from processor.domain.events import SipEvent, Sourced

T0 = 1_709_164_800_000
SOURCES = ("in:0", "in:1", "route:0")


class Table:
    """The ``latest`` table as a dict of bytes, written the way the pipeline writes it."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def head(self) -> latest.Head | None:
        raw = self.data.get(b"c1")
        return latest.decode_head(raw) if raw else None

    def calls(self) -> list[dict[str, Any]]:
        return latest.stored_calls("c1", self.head(), self.data.get)

    def push(self, events: list[Sourced], size: int, chunk: int = latest.CHUNK) -> None:
        head = self.head()
        stored = self.calls() if latest.needs_calls(head, size, chunk) else []
        slot = latest.open_slot(head, size, chunk)
        open_calls = (orjson.loads(self.data.get(latest.call_key("c1", slot, chunk), b"[]"))
                      if slot is not None else [])
        update = latest.push(head, events, size, stored, chunk=chunk, open_calls=open_calls)
        if update is None:
            return
        for old, old_chunk in update.dropped:
            self.data.pop(latest.call_key("c1", old, old_chunk), None)
        for slot, value in update.calls.items():
            self.data[latest.call_key("c1", slot, chunk)] = orjson.dumps(value)
        self.data[b"c1"] = orjson.dumps(update.head.to_json())


class Model:
    """What latest calls mean: each final response applied once, newest first, the last N."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.applied: dict[str, int] = {}

    def push(self, events: list[Sourced], size: int) -> None:
        for s in events:
            if s.offset > self.applied.get(s.source, -1):
                self.applied[s.source] = s.offset
                if s.event.code >= 200:
                    self.calls.insert(0, latest.call_record(s))
        self.calls = self.calls[:size]


def sourced(source: str, offset: int, code: int) -> Sourced:
    return Sourced(SipEvent("c1", f"call-{source}-{offset}", code, T0 + offset * 1000,
                            destination="+4420", duration_ms=1000 if code == 200 else None),
                   source, offset, T0 + offset * 1000)


batches = st.lists(st.tuples(
    st.lists(st.tuples(st.sampled_from(SOURCES), st.integers(0, 40),
                       st.sampled_from([100, 180, 200, 404, 486, 503])), max_size=12),
    st.integers(1, 6), st.sampled_from([1, 2, 3, latest.CHUNK])), max_size=12)


@settings(max_examples=400, deadline=None)
@given(batches)
def test_ring_keeps_the_newest_calls_like_a_list(batches: list[Any]) -> None:
    """Any ring size and chunk, changed between batches as a setting or an upgrade
    would."""
    table, model = Table(), Model()
    for rows, size, chunk in batches:
        events = [sourced(src, off, code) for src, off, code in rows]
        table.push(events, size, chunk)
        model.push(events, size)
        assert table.calls() == model.calls
        # No call key outlives the ring: at most its keys besides the head.
        assert len(table.data) <= (latest.keys_in_ring(size, chunk) + 1 if table.data else 0)


def test_a_flush_writes_one_chunk_for_a_few_calls() -> None:
    table = Table()
    table.push([sourced("in:0", n, 200) for n in range(3)], 100)
    head = table.head()
    update = latest.push(head, [sourced("in:0", n, 200) for n in range(3, 6)], 100,
                         open_calls=orjson.loads(table.data[b"c1|k0"]))
    assert update is not None
    assert list(update.calls) == [0]  # the open chunk, with all six calls
    assert len(update.calls[0]) == 6


def test_the_key_per_call_ring_is_read_and_rewritten_in_chunks() -> None:
    table = Table()
    table.push([sourced("in:0", n, 200) for n in range(5)], 3, chunk=1)
    assert set(table.data) == {b"c1", b"c1|0", b"c1|1", b"c1|2"}
    before = table.calls()
    table.push([], 3)  # nothing new, but a new layout: rewritten as it is
    assert table.calls() == before
    assert set(table.data) == {b"c1", b"c1|k0"}


def test_the_one_value_layout_is_read_and_rewritten_as_a_ring() -> None:
    old = [latest.call_record(sourced("in:0", n, 200)) for n in (3, 2, 1)]  # newest first
    table = Table()
    table.data[b"c1"] = orjson.dumps({"calls": old, "ap": {"in:0": 3}})
    assert table.calls() == old
    table.push([sourced("in:0", 3, 200)], 2)  # a re-delivery: nothing new, still rewritten
    assert table.calls() == old[:2]
    assert orjson.loads(table.data[b"c1"]) == {"n": 2, "r": 2, "ap": {"in:0": 3},
                                                "k": latest.CHUNK}
    table.push([sourced("in:0", 4, 486)], 2)
    assert table.calls() == [latest.call_record(sourced("in:0", 4, 486)), old[0]]


def test_nothing_new_writes_nothing() -> None:
    table = Table()
    table.push([sourced("in:0", 5, 200)], 3)
    head = table.head()
    assert latest.push(head, [sourced("in:0", 5, 200), sourced("in:0", 4, 200)], 3) is None
    assert latest.push(None, [], 3) is None


def test_calls_are_shown_newest_first_with_text_times_whatever_they_were_stored_as() -> None:
    """Calls are stored with ``ts`` in epoch ms; those stored before that hold the text.
    The API shows both as RFC 3339 text, newest first by event time."""
    older = {"call_id": "a", "code": 200, "ts": "2025-11-19T00:00:01Z"}  # as once stored
    newer = {"call_id": "b", "code": 486, "ts": 1_763_510_402_500}  # 2025-11-19T00:00:02.5Z
    newest = {"call_id": "c", "code": 503, "ts": 1_763_510_403_000}
    assert latest.shown([older, newest, newer], 10) == [
        {"call_id": "c", "code": 503, "ts": "2025-11-19T00:00:03Z"},
        {"call_id": "b", "code": 486, "ts": "2025-11-19T00:00:02.500Z"},
        older]
    assert [c["call_id"] for c in latest.shown([older, newest, newer], 2)] == ["c", "b"]
