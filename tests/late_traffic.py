"""Traffic as an SBC flushing a buffer makes it (issue 16): events in random event-time order
over a day, some days and weeks late, exact copies back to back and copies a few hundred
messages later, each message with the time it arrives (its record timestamp)."""

from __future__ import annotations

import random

import orjson

from processor.admin.produce import Message

DAY = 86_400_000
CODES = {200: 40, 404: 6, 486: 14, 487: 10, 480: 6, 503: 16, 408: 3, 603: 3, 180: 2}


def late_traffic(*, seed: int, carriers: int, events: int, arrive_from_ms: int,
                 arrive_to_ms: int) -> list[Message]:
    """``events`` messages arriving evenly over [from, to); ~1 % are copies sent right
    after their original, ~1 % copies 50-400 messages later (the span decides how many of
    those fall inside the 10-minute dedup window)."""
    rng = random.Random(seed)
    ids = [f"late-{i:03d}" for i in range(carriers)]
    step = (arrive_to_ms - arrive_from_ms) / events
    out: list[Message] = []
    pending: list[tuple[int, Message]] = []  # (due index, the message to send again)
    i = 0
    while len(out) < events:
        arrival = arrive_from_ms + int(len(out) * step)
        due = [m for at, m in pending if at <= len(out)]
        if due:
            pending = [(at, m) for at, m in pending if at > len(out)]
            for m in due[:1]:
                out.append(Message(m.key, m.value, True, m.carrier_id, duplicate=True,
                                   arrival_ms=arrival))
            pending.extend((len(out), m) for m in due[1:])
            continue
        cid = rng.choice(ids)
        roll = rng.random()
        if roll < 0.03:
            late = rng.randint(7, 28) * DAY + rng.randint(0, DAY)  # weeks late
        elif roll < 0.10:
            late = rng.randint(1, 6) * DAY + rng.randint(0, DAY)  # days late
        else:
            late = rng.randint(0, DAY)  # anywhere in the last day
        code = rng.choices(list(CODES), list(CODES.values()))[0]
        doc: dict[str, object] = {"carrier_id": cid, "call_id": f"call-{seed}-{i}",
                                  "code": code, "ts": arrival - late,
                                  "pdd_ms": rng.randint(500, 6000)}
        if rng.random() < 0.7:
            doc["event_id"] = f"ev-{seed}-{i}"
        if code == 200:
            doc["duration_ms"] = rng.randint(1000, 300_000)
        i += 1
        msg = Message(cid.encode(), orjson.dumps(doc), True, cid, arrival_ms=arrival)
        out.append(msg)
        roll = rng.random()
        if roll < 0.01 and len(out) < events:
            out.append(Message(msg.key, msg.value, True, cid, duplicate=True,
                               arrival_ms=arrival + rng.randint(0, 5)))
        elif roll < 0.02:
            pending.append((len(out) + rng.randint(50, 400), msg))
    return out[:events]
