"""Rendering records for people (aligned tables) and pipes (CSV, JSON)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import orjson

SUMMARY_COLUMNS = ("carrier_id", "window", "start", "end", "attempts", "answered", "failed",
                   "asr", "seer", "duration_ms", "acd_s", "short_calls", "pdd_ms_avg", "cost",
                   "currency", "codes")
DESTINATION_COLUMNS = ("group", "start", "attempts", "answered", "asr", "seer", "acd_s",
                       "pdd_ms", "short_calls", "cost", "currency")
FAILOVER_COLUMNS = ("start", "calls", "answered_calls", "asr_per_call", "attempts",
                    "asr_per_attempt", "rescued_elsewhere", "rescued_here")
LATEST_COLUMNS = ("call_id", "code", "reason", "ts", "duration_ms", "pdd_ms", "destination",
                  "customer_id")


def cell(value: Any, *, exact: bool = False) -> str:
    """One value as text: codes as 200:12;404:3, null as empty; floats exact for CSV and
    to 4 decimals for a person."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return ";".join(f"{k}:{v}" for k, v in value.items())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if exact else f"{value:.4f}"
    return str(value)


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str], *,
           header: bool = True) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(c), exact=True) for c in columns])
    return out.getvalue()


def to_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *,
             widths: Sequence[int] | None = None, header: bool = True) -> str:
    """Aligned columns for a terminal; numbers right-aligned. ``widths``: those of an
    earlier page (``table_widths``) to go on with, without a ``header``."""
    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = widths or table_widths(rows, columns)
    numeric = [all(_is_number(r.get(c)) for r in rows) and bool(rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    head = [line(columns), line(["-" * w for w in widths])] if header else []
    return "".join(f"{text}\n" for text in [*head, *(line(row) for row in cells)])


def table_widths(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[int]:
    """Each column's width in ``to_table``: its longest cell or name."""
    return [max([len(c), *(len(cell(r.get(c))) for r in rows)]) for c in columns]


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, int | float) and not isinstance(v, bool))


def to_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n"
