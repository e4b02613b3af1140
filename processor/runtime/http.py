"""The worker's HTTP surface: ``/metrics`` (formatted ahead while idle) and the carrier
API, wired from the worker's view and tables to ``ops`` and served by ``web.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import faust

from processor.domain.windows import HOUR_MS
from processor.engine.clock import now_ms
from processor.engine.profiles import call_log_limits
from processor.engine.view import CarrierRow
from processor.ops.api import CarrierApi
from processor.ops.exposition import Exposition
from processor.ops.metrics import CarrierCollector
from processor.runtime import web
from processor.runtime.faust_internals import is_ready
from processor.runtime.tables import WholeTable
from processor.settings import Settings

if TYPE_CHECKING:
    from processor.runtime.worker import Worker

# While no batch came for WARM_S, /metrics lines of changed carriers are formatted ahead,
# WARM_BUDGET_S at a time (the event loop is blocked meanwhile): ~1,500 carriers a go.
WARM_S = 0.25
WARM_BUDGET_S = 0.05


def register_http(app: faust.App, worker: Worker, settings: Settings) -> None:
    """``/metrics`` and the carrier API of ``worker`` on ``app``'s web server."""
    view = worker.pipeline.view

    @app.timer(WARM_S, on_leader=False)
    async def warm_metrics() -> None:
        if worker.idle_s() >= WARM_S:  # rows change only in batches, cached lines by the hour
            exposition.warm_idle((worker.pipeline.processed, now_ms() // HOUR_MS),
                                 WARM_BUDGET_S)

    collector = CarrierCollector(
        rows=lambda: list(view.owned(worker.owned_partitions())),
        invalid=lambda: sum(n for p, n in view.invalid.items()
                            if p in worker.owned_partitions()),
        now_ms=lambda row: worker.pipeline.clock.now(row_stream_time(row)),
        max_carriers=settings.metrics_max_carriers, lag=worker.lag)
    exposition = Exposition(collector)
    api = CarrierApi(carriers=WholeTable(worker.tables.carriers),
                     windows=WholeTable(worker.tables.windows),
                     latest=WholeTable(worker.tables.latest), profiles=worker.profiles,
                     now_for=worker.pipeline.step.now_for, default_latest=settings.latest_calls,
                     now_for_row=lambda row: worker.pipeline.clock.now(row_stream_time(row)),
                     call_log=call_log_limits(settings))
    web.register(app, api, carriers_table=worker.tables.carriers,
                 owned_rows=lambda: list(view.owned(worker.owned_partitions())),
                 exposition=exposition, ready=lambda: is_ready(app),
                 token=settings.api_token)
    _ = warm_metrics


def row_stream_time(row: CarrierRow) -> int | None:
    """On the stream clock "now" is the carrier's newest hour with traffic."""
    return max(row.hours) if row.hours else None
