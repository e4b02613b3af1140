"""The carrier pages (``/ui/``): static HTML, CSS and JavaScript shipped in the package.

The pages hold no data: their script reads the worker's JSON API (which checks the token
and forwards a carrier to its owner) and fills every figure with ``textContent``, so user
data (carrier ids, names, reasons) is never read as HTML. No build step, no CDN: the files
in ``ui_assets/`` are served as they are, each page being ``shell.html`` around its part.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

# page -> (its title, the part of ``shell.html`` that is its own)
PAGES = {"index": ("carriers", "index.part.html"), "carrier": ("carrier", "carrier.part.html")}
ASSETS = {"ui.js": "text/javascript; charset=utf-8", "ui.css": "text/css; charset=utf-8"}
HTML = "text/html; charset=utf-8"
# The pages load only their own script and style: nothing inline, nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _file(name: str) -> bytes:
    return resources.files("processor.ops").joinpath("ui_assets", name).read_bytes()


@cache
def asset(name: str) -> tuple[bytes, str] | None:
    """(the file's bytes, its content type), or None for a name that is not an asset."""
    content_type = ASSETS.get(name)
    if content_type is None:
        return None
    return _file(name), content_type


@cache
def page(which: str) -> tuple[bytes, str]:
    """A page: the one shell (head, header, sign-in form, script) around its own part."""
    title, part = PAGES[which]
    html = (_file("shell.html").decode().replace("{title}", title).replace("{page}", which)
            .replace("{content}", _file(part).decode()))
    return html.encode(), HTML
