"""Validators for the JSON Schemas in schemas/v1, shared by unit and integration tests."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "v1"

TOPIC_SCHEMA = {
    "carrier.consecutive-failures": "consecutive-failures",
    "carrier.code-consistency": "code-consistency",
    "carrier.summary.hourly": "summary",
    "carrier.summary.daily": "summary",
    "carrier.summary.monthly": "summary",
    "carrier.summary.live": "summary",
    "sip.responses.dlq": "dlq-record",
    "carrier.alerts": "alert",
    "carrier.anomalies": "anomalies",
    "call.outcomes": "call-outcome",
}


@cache
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def errors(name: str, record: Any) -> list[str]:
    return [e.message for e in validator(name).iter_errors(record)]
