"""The 200-vs-404 verdict: a carrier that never returns a 404 is answering or mislabelling
calls it could not complete (false answer supervision), so its outcomes can't be trusted."""

from __future__ import annotations


def verdict(total_final: int, total_404: int, min_sample: int) -> str:
    if total_final < min_sample:
        return "insufficient-data"
    return "no-404" if total_404 == 0 else "ok"
