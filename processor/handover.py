"""Faust's consumer, handing fetched messages to the streams without four tasks each.

Faust's fetch loop delivers every message as ``wait_first(callback(message),
suspend_flow.wait())``: ``wait_first`` wraps both, plus "stopped" and "crashed" waits, in
tasks and runs ``asyncio.wait`` on them, so a rebalance can cut a blocked delivery short.
That was the worker's biggest cost outside batch processing (README, Performance).

A delivery blocks only when flow is suspended, the producer buffer is over its limit,
the subscriptions are changing or a stream's queue is full. When none of that holds, the
callback runs to completion without yielding to the event loop, so nothing could
interrupt it anyway: it is awaited directly. Otherwise Faust's own ``wait_first`` runs.
"""

from __future__ import annotations

import inspect
from typing import Any

from mode.services import WaitResults


def can_deliver(consumer: Any) -> bool:
    """True when handing a message to the streams cannot block (see the module doc)."""
    app = consumer.app
    if (consumer.suspend_flow.is_set() or consumer._stopped.is_set()
            or consumer._crashed.is_set() or not app.flow_control.is_active()):
        return False
    buffer = app.producer.buffer
    if buffer.size > buffer.max_messages:
        return False
    conductor = app.topics
    if conductor._tp_to_callback_lock.locked():
        return False
    for channel in conductor._topics:
        queue = getattr(channel, "_queue", None)
        if queue is not None and queue.full():
            return False
    return True


def _is_suspend_wait(consumer: Any, coro: Any) -> bool:
    """``coro`` is ``consumer.suspend_flow.wait()``, the fetch loop's second argument."""
    frame = getattr(coro, "cr_frame", None)
    return (inspect.iscoroutine(coro) and frame is not None
            and frame.f_locals.get("self") is consumer.suspend_flow)


def install(consumer: Any) -> Any:
    """Make ``consumer`` (same object, same state) hand messages over directly."""
    base = consumer.__class__
    if getattr(base, "direct_handover", False):
        return consumer

    async def wait_first(self: Any, *coros: Any, timeout: Any = None) -> WaitResults:
        if len(coros) == 2 and _is_suspend_wait(self, coros[1]) and can_deliver(self):
            coros[1].close()  # never started: nothing to clean up
            result = await coros[0]
            return WaitResults([coros[0]], [result], False)
        results: WaitResults = await base.wait_first(self, *coros, timeout=timeout)
        return results

    consumer.__class__ = type(f"Direct{base.__name__}", (base,), {
        "wait_first": wait_first, "direct_handover": True})
    return consumer
