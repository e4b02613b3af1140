"""Every schema is valid draft 2020-12; its valid examples pass and invalid ones fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processor.io import codec
from tests.schemas import SCHEMA_DIR, errors

EXAMPLES = sorted((SCHEMA_DIR / "examples").glob("*/*.json"))


def test_every_schema_has_valid_and_invalid_examples() -> None:
    for schema in SCHEMA_DIR.glob("*.schema.json"):
        stem = schema.name.removesuffix(".schema.json")
        names = [p.name for p in (SCHEMA_DIR / "examples" / stem).glob("*.json")]
        assert any(n.startswith("valid") for n in names), stem
        assert any(n.startswith("invalid") for n in names), stem


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_example_matches_its_schema(path: Path) -> None:
    found = errors(path.parent.name, json.loads(path.read_text()))
    if path.stem.startswith("valid"):
        assert found == []
    else:
        assert found != []


@pytest.mark.parametrize("path", sorted((SCHEMA_DIR / "examples" / "sip-response").glob("*.json")),
                         ids=lambda p: p.stem)
def test_codec_agrees_with_the_input_schema(path: Path) -> None:
    decoded = codec.decode(path.read_bytes(), wall_ms=None)
    assert isinstance(decoded, codec.Rejected) == path.stem.startswith("invalid")
