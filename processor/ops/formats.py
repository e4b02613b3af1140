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


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(c), exact=True) for c in columns])
    return out.getvalue()


def to_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Aligned columns for a terminal; numbers right-aligned."""
    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    numeric = [all(_is_number(r.get(c)) for r in rows) and bool(rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]),
                      *(line(row) for row in cells)]) + "\n"


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, int | float) and not isinstance(v, bool))


def to_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n"
