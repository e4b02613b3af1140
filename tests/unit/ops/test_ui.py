"""The carrier pages' files: only the listed assets are served, with their types."""

from __future__ import annotations

import re

import pytest

from processor.ops import ui


def test_every_listed_asset_ships_in_the_package() -> None:
    for name, content_type in ui.ASSETS.items():
        found = ui.asset(name)
        assert found is not None, name
        assert found[1] == content_type
        assert found[0]


@pytest.mark.parametrize("name", ["../ui.py", "ui_assets/ui.js", "UI.JS", "", "x.html",
                                  "/etc/passwd", "ui.js/"])
def test_anything_else_is_not_an_asset(name: str) -> None:
    assert ui.asset(name) is None


def test_the_pages_load_nothing_from_elsewhere_and_nothing_inline() -> None:
    """No CDN (the worker may have no internet) and nothing the CSP would refuse."""
    for page in ui.PAGES.values():
        found = ui.asset(page)
        assert found is not None
        html = found[0].decode()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), page
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), page  # no inline script
        assert not re.search(r"\son[a-z]+\s*=", html), page  # no inline handlers
    script = ui.asset("ui.js")
    assert script is not None
    assert "innerHTML" not in script[0].decode()  # user data goes in as text only
