"""The package stays one a newcomer can find their way in: every layer says in its
``__init__`` what it holds, and a module holds one concept, whatever its length. A module
past the soft bound of 400 lines says, in a comment near its top, why it is still one
concept; ``lint-imports`` (``make lint``) checks the layers' import order and that no
two modules of a package import each other (a concept split in two)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "processor"
LAYERS = ("domain", "io", "engine", "ops", "admin", "runtime", "collector", "dev",
          "investigate", "cli")
SOFT_BOUND = 400
WHY = "# one concept past 400 lines:"  # and the reason, in a module's first 40 lines


@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_says_what_it_holds(layer: str) -> None:
    init = PACKAGE / layer / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text()))
    assert doc, f"{init}: say what the layer holds"
    assert len(doc.split()) >= 15, f"{init}: a paragraph on what the layer holds"


def test_a_module_past_the_soft_bound_says_why_it_is_one_concept() -> None:
    unexplained = {str(p.relative_to(PACKAGE)): len(lines) for p in PACKAGE.rglob("*.py")
                   if len(lines := p.read_text().splitlines()) > SOFT_BOUND
                   and not any(line.startswith(WHY) for line in lines[:40])}
    assert not unexplained, (f"over {SOFT_BOUND} lines: split by concept, or say why in a "
                             f"'{WHY} ...' comment: {unexplained}")


def test_every_module_is_in_a_layer() -> None:
    loose = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py", "settings.py",
                                                      "errors.py"}
    assert not loose, f"put these in a layer package: {sorted(loose)}"
