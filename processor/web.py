"""HTTP views on the worker (contract §6): a thin Faust adapter over ``api`` and ``metrics``.

A request for a carrier owned by another worker is forwarded to it by Faust's table router
(the carriers table's partition of the key decides the owner).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
import orjson

from processor import formats, metrics
from processor.api import BadRequest, CarrierApi, Reply


def _wants_csv(request: Any) -> bool:
    fmt = request.query.get("format")
    if fmt is not None:
        return bool(fmt == "csv")
    return "text/csv" in request.headers.get("Accept", "")


def _respond(view: Any, reply: Reply, csv_rows: str | None = None,
             columns: tuple[str, ...] = ()) -> Any:
    if csv_rows is not None and reply.status == 200:
        rows = reply.body[csv_rows]
        return view.bytes(formats.to_csv(rows, columns).encode(), content_type="text/csv")
    return view.bytes(orjson.dumps(reply.body), content_type="application/json",
                      status=reply.status)


def _guard(view: Any, fn: Callable[[], Reply], csv_rows: str | None = None,
           columns: tuple[str, ...] = ()) -> Any:
    try:
        return _respond(view, fn(), csv_rows, columns)
    except BadRequest as exc:
        return _respond(view, Reply(400, {"error": "bad-request", "detail": str(exc)}))


def _listing(view: Any, request: Any, fn: Callable[[], Reply], rows: str,
             columns: tuple[str, ...]) -> Any:
    """A list answer: JSON, or CSV of its ``rows`` when the client asks for it."""
    return _guard(view, fn, rows if _wants_csv(request) else None, columns)


def register(app: faust.App, api: CarrierApi, *, carriers_table: Any,
             owned_rows: Callable[[], Any], registry: Any, ready: Callable[[], bool]) -> None:
    """Attach the API pages to ``app``."""

    @app.page("/metrics")
    async def metrics_page(view: Any, request: Any) -> Any:
        return view.bytes(metrics.render(registry), content_type=None,
                          headers={"Content-Type": metrics.CONTENT_TYPE})

    @app.page("/healthz")
    async def healthz(view: Any, request: Any) -> Any:
        return view.json({"status": "alive"})

    @app.page("/readyz")
    async def readyz(view: Any, request: Any) -> Any:
        ok = ready()
        return view.json({"ready": ok}, status=200 if ok else 503)

    @app.page("/carriers")
    async def carriers(view: Any, request: Any) -> Any:
        return _guard(view, lambda: api.carriers(owned_rows()))

    @app.page("/carriers/{carrier}")
    @app.table_route(table=carriers_table, match_info="carrier")
    async def carrier(view: Any, request: Any, carrier: str) -> Any:
        return _guard(view, lambda: api.status(carrier))

    @app.page("/carriers/{carrier}/summary")
    @app.table_route(table=carriers_table, match_info="carrier")
    async def summary(view: Any, request: Any, carrier: str) -> Any:
        return _listing(view, request, lambda: api.summary(carrier, request.query),
                        "summaries", formats.SUMMARY_COLUMNS)

    @app.page("/carriers/{carrier}/latest-calls")
    @app.table_route(table=carriers_table, match_info="carrier")
    async def latest_calls(view: Any, request: Any, carrier: str) -> Any:
        return _listing(view, request, lambda: api.latest_calls(carrier, request.query),
                        "calls", formats.LATEST_COLUMNS)

    _ = (metrics_page, healthz, readyz, carriers, carrier, summary, latest_calls)
