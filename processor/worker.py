"""Run a Faust app as a worker process in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import faust

from processor.settings import Settings


def run(app: faust.App, settings: Settings) -> None:
    """Start the worker; returns (via SystemExit) when it is stopped."""
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    worker.execute_from_commandline()
