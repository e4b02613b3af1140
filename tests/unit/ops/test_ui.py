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
                                  "/etc/passwd", "ui.js/", "shell.html", "index.part.html"])
def test_anything_else_is_not_an_asset(name: str) -> None:
    assert ui.asset(name) is None


def test_the_pages_load_nothing_from_elsewhere_and_nothing_inline() -> None:
    """No CDN (the worker may have no internet) and nothing the CSP would refuse."""
    for page in ui.PAGES:
        html, content_type = ui.page(page)[0].decode(), ui.page(page)[1]
        assert content_type.startswith("text/html")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), page
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), page  # no inline script
        assert not re.search(r"\son[a-z]+\s*=", html), page  # no inline handlers
    script = ui.asset("ui.js")
    assert script is not None
    assert "innerHTML" not in script[0].decode()  # user data goes in as text only


def test_both_pages_are_the_one_shell_around_their_part() -> None:
    """The head, header, sign-in form and script are written once (shell.html)."""
    index, carrier = (ui.page(p)[0].decode() for p in ("index", "carrier"))
    for html, which, title in ((index, "index", "carriers"), (carrier, "carrier", "carrier")):
        assert f'<body data-page="{which}">' in html
        assert f"<title>carrierwatch · {title}</title>" in html
        assert html.count('<form id="login"') == 1
        assert html.count('<section id="content" hidden>') == 1
        assert "{content}" not in html
    assert index.split('<section id="content"')[0] == carrier.split('<section id="content"')[0] \
        .replace('data-page="carrier"', 'data-page="index"').replace("· carrier<", "· carriers<")
