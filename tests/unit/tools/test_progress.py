"""Progress: a redrawn bar on a terminal, plain periodic lines in a pipe."""

from __future__ import annotations

import io

from processor.admin.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_every_five_seconds_when_not_a_terminal() -> None:
    out, clock = io.StringIO(), Clock()
    p = Progress("replay x: sent", 1000, out, clock=clock)
    for i in range(1, 11):
        clock.now = i
        p.update(i * 100, "3 left")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # at 5 s and 10 s
    assert lines[0].startswith("replay x: sent [############            ] 500/1,000 (50%)")
    assert "ETA 5 s" in lines[0]
    assert "100/s" in lines[0]
    assert lines[0].endswith("3 left")


def test_a_terminal_gets_one_redrawn_line() -> None:
    out, clock = Tty(), Clock()
    p = Progress("sent", None, out, clock=clock)
    for i in range(1, 6):
        clock.now = i * 0.5
        p.update(i * 10)
    p.close()
    text = out.getvalue()
    assert text.count("\r\x1b[2K") >= 5
    assert text.endswith("\n")
    assert text.count("\n") == 1
    assert "sent: 50" in text
