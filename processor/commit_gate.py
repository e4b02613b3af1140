"""Faust's consumer, with commits held back to what the processor really processed.

Faust commits the acked offsets of a partition as long as the first acked one is at most
one past the committed offset, so a message it dropped right there is committed over and
lost (see processor/frontier.py). ``install`` makes the app's consumer ask
``app.commit_cap(tp, offset)`` before every commit: the processor answers with its
contiguous frontier, or None while it has processed nothing of that partition.

Faust drops the acks it computed a commit from, so the acks above a capped commit are
handed back to it: it tries them again at its next commit, even if no new message comes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

CommitCap = Callable[[Any, int], int | None]


def _hand_back(self: Any, tp: Any, start: int, end: int) -> None:
    """Faust removed acks ``start <= offset < end`` (it sorts its list before use)."""
    held = range(max(start, 0), end)
    self._acked[tp].extend(held)
    self._acked_index[tp].update(held)


def acknowledge(consumer: Any, tp: Any, start: int, end: int) -> None:
    """Offsets ``start <= offset < end`` of ``tp`` were processed without Faust (read
    directly, processor/frontier.py): count them as acked, as Faust's ``ack`` would.

    Faust commits the first run of consecutive acks only; without these its acks keep a
    hole there and its commits of ``tp`` stay below it for the rest of the assignment.
    Faust may deliver and ack some of them itself too: its ack index keeps each offset
    once (an offset listed twice breaks the run, and commits then crawl by one offset per
    commit). Faust may also have recorded the range as a gap (it skipped the messages it
    dropped, and takes a jump in offsets for offsets missing from the log): its next
    commit would add them to its acks a second time, so they leave the gap record. The
    cap still holds every commit back to the frontier."""
    index = getattr(consumer, "_acked_index", None)
    if index is None:
        return
    gaps = getattr(consumer, "_gap", {})
    if gaps.get(tp):
        gaps[tp].chop(start, end)
    committed = consumer._committed_offset[tp]
    held, acked = index[tp], consumer._acked[tp]
    for offset in range(start if committed is None else max(start, committed), end):
        if offset not in held:
            held.add(offset)
            acked.append(offset)


def install(consumer: Any) -> Any:
    """Make ``consumer`` (same object, same state) cap its commits."""
    base = consumer.__class__
    if getattr(base, "capped_commits", False):
        return consumer

    def filter_committable_offsets(self: Any, tps: Iterable[Any]) -> dict[Any, int]:
        offsets: dict[Any, int] = base._filter_committable_offsets(self, tps)
        cap: CommitCap | None = getattr(self.app, "commit_cap", None)
        if cap is None:
            return offsets
        out = {}
        for tp, offset in offsets.items():
            capped = cap(tp, offset)
            if capped is not None and capped < offset:
                _hand_back(self, tp, capped, offset)
            elif capped is None:
                committed = self._committed_offset.get(tp)
                _hand_back(self, tp, offset - 1 if committed is None else committed, offset)
            if capped is not None and self._should_commit(tp, capped):
                out[tp] = capped
        return out

    consumer.__class__ = type(f"Capped{base.__name__}", (base,), {
        "_filter_committable_offsets": filter_committable_offsets, "capped_commits": True})
    return consumer
