"""The package stays one a newcomer can find their way in (issue 18): every layer says in
its ``__init__`` what it holds, and no module grows past 250 lines.
The import order of the layers is checked by ``lint-imports`` (``make lint``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "processor"
LAYERS = ("domain", "io", "engine", "ops", "runtime", "tools")
MAX_LINES = 250


@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_says_what_it_holds(layer: str) -> None:
    init = PACKAGE / layer / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text()))
    assert doc, f"{init}: say what the layer holds"
    assert len(doc.split()) >= 15, f"{init}: a paragraph on what the layer holds"


def test_no_module_outgrows_the_limit() -> None:
    too_long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
                if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not too_long, f"split these (over {MAX_LINES} lines): {too_long}"


def test_every_module_is_in_a_layer() -> None:
    loose = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py", "settings.py"}
    assert not loose, f"put these in a layer package: {sorted(loose)}"
