"""``carrierwatch status|summary|destinations|latest-calls|calls``: the HTTP API, formatted
for a person or a pipe."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any, TextIO

from processor.errors import CarrierwatchError, UnknownCarrier
from processor.ops import formats

STATUS_COLUMNS = ("carrier_id", "name", "consecutive_failures", "max_consecutive_failures",
                  "alerting", "verdict", "total_final", "total_200", "total_404", "live_asr",
                  "live_attempts", "alerts_firing")


class ApiError(CarrierwatchError):
    """The worker cannot be reached, or its API answered with an error (its detail)."""


def get(base_url: str, path: str, params: dict[str, str | None], token: str = "") -> Any:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    url = f"{base_url.rstrip('/')}{path}" + (f"?{query}" if query else "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", exc.reason)
        except ValueError:
            detail = exc.reason
        if exc.code == 404 and path.startswith("/carriers/"):
            raise UnknownCarrier(f"{exc.code}: {detail}") from None
        raise ApiError(f"{exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise ApiError(f"cannot reach the worker at {base_url}: {exc.reason} "
                       "(is `carrierwatch worker` running? see --api)") from None


def status_row(doc: dict[str, Any]) -> dict[str, Any]:
    cf, cc, live = doc["consecutive_failures"], doc["code_consistency"], doc.get("live") or {}
    return {"carrier_id": doc["carrier_id"], "name": doc.get("name"),
            "consecutive_failures": cf["consecutive_failures"],
            "max_consecutive_failures": cf["max_consecutive_failures"],
            "alerting": cf["alerting"], "verdict": cc["verdict"],
            "total_final": cc["total_final"], "total_200": cc["total_200"],
            "total_404": cc["total_404"], "live_asr": live.get("asr"),
            "live_attempts": live.get("attempts"),
            "alerts_firing": ",".join(doc.get("alerts_firing", []))}


def show(kind: str, doc: Any, fmt: str, out: TextIO = sys.stdout) -> None:
    if fmt == "json":
        out.write(formats.to_json(doc))
        return
    cols: tuple[str, ...]
    if kind == "status":
        rows, cols = [status_row(doc)], STATUS_COLUMNS
    elif kind == "summary":
        rows, cols = doc["summaries"], formats.SUMMARY_COLUMNS
    elif kind == "destinations":
        rows, cols = doc["destinations"], formats.DESTINATION_COLUMNS
    else:
        rows, cols = doc["calls"], formats.LATEST_COLUMNS
    out.write(formats.to_csv(rows, cols) if fmt == "csv" else formats.to_table(rows, cols))


def pages(base_url: str, path: str, params: dict[str, str | None],
          token: str = "") -> Iterator[list[dict[str, Any]]]:
    """Each page of a paged listing (the call log), following its ``next`` cursors."""
    cursor = None
    while True:
        doc = get(base_url, path, {**params, "cursor": cursor}, token=token)
        yield doc["calls"]
        cursor = doc.get("next")
        if not cursor:
            return


def stream_calls(found: Iterator[list[dict[str, Any]]], fmt: str,
                 out: TextIO = sys.stdout) -> int:
    """Write pages of calls as they come: CSV or a table with one header, or JSON Lines
    (one call per line). Returns how many calls were written."""
    n, widths = 0, None
    for page in found:
        if fmt == "json":
            out.write("".join(json.dumps(c) + "\n" for c in page))
        elif fmt == "csv":
            out.write(formats.to_csv(page, formats.LATEST_COLUMNS, header=n == 0))
        elif page or widths is None:
            first = widths is None
            widths = widths or formats.table_widths(page, formats.LATEST_COLUMNS)
            out.write(formats.to_table(page, formats.LATEST_COLUMNS, widths=widths,
                                       header=first))
        out.flush()
        n += len(page)
    return n
