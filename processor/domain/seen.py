"""Identities seen within the dedup window, held compactly: 16 bytes a slot in two flat
arrays, where a dict of strings (``identities.py`` today) holds ~186 bytes an identity
(``tests/benchmarks/dedup_memory.py``). Issue 28's next step puts the worker's dedup on it.

A slot keeps a 64-bit hash of the identity (contract §1: event_id, else call_id, code and
ts) and, in one 64-bit value, a 32-bit tag of where its counted copy was read (source and
offset: only ever compared for equality, to tell a re-delivery of that very message from
a second copy) and its arrival as milliseconds after the table's base. The table
probes linearly from the hash's slot; it is rebuilt without the identities that left the
window when it fills past ``LOAD``, at a size they fill half: from 32 bytes per identity
held just after a rebuild to 20 just before the next, and 32 per live identity while the
traffic is steady (those past the window it still holds take the places of the new).

Everything here is a pure function of what was put in: two tables fed the same identities
in the same order answer alike, whatever their history of rebuilds.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from array import array
from functools import lru_cache

LOAD = 0.8  # used slots / capacity that triggers a rebuild
REFILL = 0.5  # live identities / capacity after a rebuild, at most
MIN_CAPACITY = 8
_DELTA_MAX = 0xFFFF_FFFF  # arrival - base must fit 32 bits (49.7 days)
SLOT_BYTES = 16


def identity_hash(identity: str) -> int:
    """A stable 64-bit hash (the same in every process: not ``hash()``); never 0, which
    marks an empty slot."""
    h = int.from_bytes(hashlib.blake2b(identity.encode(), digest_size=8).digest(), "little")
    return h or 1


@lru_cache(maxsize=4_096)
def _source_crc(source: str) -> int:
    return zlib.crc32(source.encode())


def where_tag(source: str, offset: int) -> int:
    """32 bits standing for "read at ``source``@``offset``": equal for the same message;
    two messages share one with odds of 2**-32."""
    return zlib.crc32(offset.to_bytes(8, "little"), _source_crc(source))


class Seen:
    """identity hash -> (where tag, arrival ms), for the identities of one carrier."""

    __slots__ = ("_base", "_cap", "_keys", "_used", "_vals")

    def __init__(self, capacity: int = MIN_CAPACITY) -> None:
        cap = max(MIN_CAPACITY, capacity)  # any size, not a power of two: no slack
        self._keys = array("Q", bytes(8 * cap))
        self._vals = array("Q", bytes(8 * cap))
        self._cap = cap
        self._used = 0
        self._base: int | None = None  # arrivals are held as ms after it

    def __len__(self) -> int:
        """Slots in use: live identities and those past the window not yet dropped."""
        return self._used

    @property
    def nbytes(self) -> int:
        """What the table holds in memory (its two arrays)."""
        return self._cap * SLOT_BYTES

    def get(self, h: int) -> tuple[int, int] | None:
        """(where tag, arrival ms) of identity hash ``h``, if it is held."""
        keys, cap = self._keys, self._cap
        i = h % cap
        while True:
            k = keys[i]
            if k == h:
                v = self._vals[i]
                return v >> 32, (self._base or 0) + (v & _DELTA_MAX)
            if not k:
                return None
            i = i + 1 if i + 1 < cap else 0

    def put(self, h: int, where: int, arrival_ms: int, oldest_ms: int) -> None:
        """Hold ``h`` as read at ``where`` on ``arrival_ms`` (replacing what it held).
        ``oldest_ms``: the window's start; identities that arrived before it may be
        dropped (and one that did is not held)."""
        if arrival_ms < oldest_ms:
            return
        if self._base is None:
            self._base = arrival_ms
        delta = arrival_ms - self._base
        if not 0 <= delta <= _DELTA_MAX:
            self._rebuild(oldest_ms, arrival_ms)
            delta = arrival_ms - (self._base or 0)
        keys, cap = self._keys, self._cap
        i = h % cap
        while True:
            k = keys[i]
            if k == h or not k:
                break
            i = i + 1 if i + 1 < cap else 0
        if not k:
            self._used += 1
        keys[i] = h
        self._vals[i] = where << 32 | delta
        if self._used > LOAD * cap:
            self._rebuild(oldest_ms, arrival_ms)

    def items(self) -> list[tuple[int, int, int]]:
        """Every (hash, where tag, arrival ms) held, in slot order."""
        base = self._base or 0
        return [(k, v >> 32, base + (v & _DELTA_MAX))
                for k, v in zip(self._keys, self._vals, strict=True) if k]

    def _rebuild(self, oldest_ms: int, arrival_ms: int) -> None:
        """Keep the identities that arrived at ``oldest_ms`` or later, in a table they fill
        at most ``REFILL``, based at the oldest of them or ``arrival_ms``. Hashes are
        unique in a table, so each goes to the first free slot from its own."""
        old_base = self._base or 0
        keep = [(k, v) for k, v in zip(self._keys, self._vals, strict=True)
                if k and old_base + (v & _DELTA_MAX) >= oldest_ms]
        arrivals = [old_base + (v & _DELTA_MAX) for _, v in keep]
        base = min(arrival_ms, *arrivals) if arrivals else arrival_ms
        if max(arrival_ms, *arrivals) - base > _DELTA_MAX:
            raise ValueError("a dedup window longer than 49 days cannot be held")
        shift = old_base - base  # every delta moves by the change of base, staying >= 0
        cap = max(MIN_CAPACITY, math.ceil(len(keep) / REFILL))
        keys, vals = array("Q", bytes(8 * cap)), array("Q", bytes(8 * cap))
        for k, v in keep:
            i = k % cap
            while keys[i]:
                i = i + 1 if i + 1 < cap else 0
            keys[i] = k
            vals[i] = v + shift  # the tag sits above bit 32; the delta stays below it
        self._keys, self._vals, self._cap = keys, vals, cap
        self._used, self._base = len(keep), base
