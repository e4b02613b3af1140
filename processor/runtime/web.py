"""HTTP views on the worker (contract §6): a thin Faust adapter over ``ops``.

A request for a carrier owned by another worker is forwarded to it by Faust's table router
(the carriers table's partition of the key decides the owner).
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import faust
import orjson

from processor.ops import formats, ui
from processor.ops.api import BadRequest, CarrierApi, Reply
from processor.ops.metrics import CONTENT_TYPE


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


Handler = Callable[..., Awaitable[Any]]


def bearer_ok(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>`` matches (constant time); no token set = open."""
    if not token:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())


def require_token(token: str) -> Callable[[Handler], Handler]:
    """Refuse a request without the API token before it is answered or forwarded."""
    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def checked(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if not bearer_ok(request.headers.get("Authorization"), token):
                return view.bytes(
                    orjson.dumps({"error": "unauthorized",
                                  "detail": "send Authorization: Bearer <CARRIERWATCH_API_TOKEN>"}),
                    content_type="application/json", status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="carrierwatch"'})
            return await fn(view, request, *args, **kwargs)
        return checked
    return wrap


def register(app: faust.App, api: CarrierApi, *, carriers_table: Any,
             owned_rows: Callable[[], Any], exposition: Any, ready: Callable[[], bool],
             token: str = "") -> None:
    """Attach the API pages to ``app``. With ``token`` the /carriers pages need it;
    /metrics, /healthz and /readyz stay open for scrapers and probes (no secrets there)."""
    auth = require_token(token)

    @app.page("/metrics")
    async def metrics_page(view: Any, request: Any) -> Any:
        return view.bytes(exposition.render(), content_type=None,
                          headers={"Content-Type": CONTENT_TYPE})

    @app.page("/healthz")
    async def healthz(view: Any, request: Any) -> Any:
        return view.json({"status": "alive"})

    @app.page("/readyz")
    async def readyz(view: Any, request: Any) -> Any:
        ok = ready()
        return view.json({"ready": ok}, status=200 if ok else 503)

    @app.page("/carriers")
    @auth
    async def carriers(view: Any, request: Any) -> Any:
        if request.query.get("scope") == "group":
            return view.bytes(orjson.dumps(await _group_carriers(
                app, api.carriers(owned_rows()).body["carriers"], carriers_table.name,
                request.headers.get("Authorization"))), content_type="application/json")
        return _guard(view, lambda: api.carriers(owned_rows()))

    @app.page("/carriers/{carrier}")
    @auth
    @app.table_route(table=carriers_table, match_info="carrier")
    async def carrier(view: Any, request: Any, carrier: str) -> Any:
        return _guard(view, lambda: api.status(carrier))

    # A carrier's listings: JSON, or CSV with these columns.
    for path, answer, rows, columns in (
            ("summary", api.summary, "summaries", formats.SUMMARY_COLUMNS),
            ("latest-calls", api.latest_calls, "calls", formats.LATEST_COLUMNS),
            ("destinations", api.destinations, "destinations", formats.DESTINATION_COLUMNS),
            ("failover", api.failover, "failover", formats.FAILOVER_COLUMNS)):
        _carrier_listing(app, auth, carriers_table, path=path, answer=answer, rows=rows,
                         columns=columns)


    @app.page("/carriers/{carrier}/calls", name="carrier-calls")
    @auth
    @app.table_route(table=carriers_table, match_info="carrier")
    async def calls(view: Any, request: Any, carrier: str) -> Any:
        # A CSV export holds the whole filtered range (unless ``limit`` says), not a page.
        csv = _wants_csv(request)
        return _listing(view, request, lambda: api.calls(carrier, request.query, whole=csv),
                        "calls", formats.LATEST_COLUMNS)

    register_ui(app)
    _ = (metrics_page, healthz, readyz, carriers, carrier, calls)


def _carrier_listing(app: faust.App, auth: Callable[[Handler], Handler], table: Any, *,
                     path: str, answer: Callable[[str, Any], Reply], rows: str,
                     columns: tuple[str, ...]) -> None:
    """``/carriers/{carrier}/<path>``, served by the carrier's owner."""

    @app.page(f"/carriers/{{carrier}}/{path}", name=f"carrier-{path}")
    @auth
    @app.table_route(table=table, match_info="carrier")
    async def listing(view: Any, request: Any, carrier: str) -> Any:
        return _listing(view, request, lambda: answer(carrier, request.query), rows, columns)

    _ = listing


GROUP_TIMEOUT_S = 10.0


async def _group_carriers(app: faust.App, local: list[Any], table: str,
                          authorization: str | None) -> dict[str, Any]:
    """Every worker's carriers (``GET /carriers?scope=group``), for the carriers page: this
    worker's, and each other owner's of the carriers table as Faust's router knows them.
    A worker that does not answer is listed in ``unreachable``."""
    me = str(app.conf.canonical_url).rstrip("/")
    others = sorted(h for h in (str(u).rstrip("/") for u in app.router.table_metadata(table))
                    if h != me)
    merged, unreachable = list(local), []
    headers = {"Authorization": authorization} if authorization else {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=GROUP_TIMEOUT_S),
                                     ) as session:
        for host in others:
            try:
                async with session.get(f"{host}/carriers", headers=headers) as resp:
                    resp.raise_for_status()
                    merged += (await resp.json())["carriers"]
            except (aiohttp.ClientError, TimeoutError, KeyError, ValueError):
                unreachable.append(host)
    merged.sort(key=lambda c: c["carrier_id"])
    return {"carriers": merged, "workers": 1 + len(others) - len(unreachable),
            "unreachable": unreachable}


def register_ui(app: faust.App) -> None:
    """The carrier pages (``ops/ui.py``). They hold no data, so they are served without the
    token; the API calls their script makes need it (a sign-in form asks for it)."""

    def send(view: Any, found: tuple[bytes, str] | None) -> Any:
        if found is None:
            return view.bytes(b"not found", content_type="text/plain", status=404)
        data, content_type = found
        return view.bytes(data, content_type=None,
                          headers={"Content-Type": content_type, **ui.SECURITY_HEADERS})

    @app.page("/ui/")
    async def ui_index(view: Any, request: Any) -> Any:
        return send(view, ui.page("index"))

    @app.page("/ui/carriers/{carrier}")
    async def ui_carrier(view: Any, request: Any, carrier: str) -> Any:
        return send(view, ui.page("carrier"))

    @app.page("/ui/static/{name}")
    async def ui_static(view: Any, request: Any, name: str) -> Any:
        return send(view, ui.asset(name))

    _ = (ui_index, ui_carrier, ui_static)
