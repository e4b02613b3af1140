"""The compact identity table (processor/domain/seen.py) against a plain dict: within the
window it answers as the dict does, whatever its rebuilds, and its memory stays bounded."""

from __future__ import annotations

import os
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from processor.domain.dedup import identity_hash
from processor.domain.seen import Seen, where_tag

WINDOW = 1_000

# Puts in arrival order (the carrier's arrival clock never goes back): a few identities,
# so that many repeat; arrival steps that cross the window now and then.
steps = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 400), st.integers(0, 3)),
                 min_size=1, max_size=300)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_within_the_window_it_answers_as_a_dict(puts: list[tuple[int, int, int]]) -> None:
    table = Seen()
    model: dict[int, tuple[int, int]] = {}
    clock = 1_700_000_000_000
    for ident, gap, source in puts:
        clock += gap
        h, where = identity_hash(f"e:{ident}"), where_tag(f"in:{source}", clock)
        table.put(h, where, clock, clock - WINDOW)
        model[h] = (where, clock)
        oldest = clock - WINDOW
        for other in range(41):
            k = identity_hash(f"e:{other}")
            got, want = table.get(k), model.get(k)
            got = got if got is not None and got[1] >= oldest else None
            want = want if want is not None and want[1] >= oldest else None
            assert got == want


def test_memory_per_identity_held_stays_within_48_bytes() -> None:
    """Steady traffic: 50 identities a millisecond over a 1-second window, 5 windows (the
    issue's bound: 48 bytes per identity held)."""
    table = Seen()
    worst = 0.0
    for n in range(250_000):
        arrival = 1_700_000_000_000 + n // 50
        table.put(identity_hash(f"e:{n}"), 7, arrival, arrival - WINDOW)
        if n > 5_000 and n % 997 == 0:
            worst = max(worst, table.nbytes / len(table))
    assert worst <= 48


def test_tags_tell_messages_apart() -> None:
    assert where_tag("in:0", 5) == where_tag("in:0", 5)
    assert len({where_tag(f"in:{p}", o) for p in range(8) for o in range(1_000)}) == 8_000
    assert identity_hash("e:a") != identity_hash("e:b")
    # sequential ids, differing in a few consecutive bytes: a CRC never confuses them
    assert len({identity_hash(f"e:call-{n:08d}") for n in range(200_000)}) == 200_000


def test_hashes_are_the_same_in_every_process() -> None:
    """A restarted worker rebuilds the table from what it stored: no per-process seed."""
    code = ("from processor.domain.dedup import identity_hash; "
            "from processor.domain.seen import where_tag; "
            "print(identity_hash('e:a'), where_tag('in:0', 5))")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")}
    assert runs == {f"{identity_hash('e:a')} {where_tag('in:0', 5)}\n"}
