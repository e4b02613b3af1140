"""The investigation report: what happened to each carrier during the replayed traffic."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from processor.domain.events import Sourced
from processor.domain.model import Policy
from processor.domain.windows import iso
from processor.engine.clock import Clock
from processor.engine.memory import Discard, MemoryTables
from processor.engine.step import CarrierStep
from processor.io import codec, names
from processor.ops import formats


@dataclass
class StreakSpan:
    """One run of consecutive failures: when it started, how high it went, when it ended."""

    carrier_id: str
    started_at: str
    peak: int
    ended_at: str | None = None  # None: still running at the end of the replay
    ended_by: int | None = None  # the code that ended it


@dataclass
class Report:
    name: str
    sent: int
    bad_lines: list[tuple[int | str, str, str]]  # where (line or partition@offset)
    streaks: list[StreakSpan] = field(default_factory=list)
    consistency: dict[str, Any] = field(default_factory=dict)
    consecutive: dict[str, Any] = field(default_factory=dict)
    hourly: list[dict[str, Any]] = field(default_factory=list)
    daily: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    # carrier -> [(ts ms, consecutive failures)], thinned to what a plot needs
    counter_series: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


class _OnePolicy:
    """The registry of a replay: one policy for every carrier, no contacts."""

    def __init__(self, policy_for: Callable[[str], Policy]) -> None:
        self.policy_for = policy_for

    def contacts(self, carrier_id: str) -> list[dict[str, str | None]]:
        return []


FLUSH_EVERY = 10_000  # events between two flushes of the in-memory record cache


def streak_timeline(lines: Iterable[tuple[bytes, int]], policy_for: Callable[[str], Policy],
                    min_peak: int, series: dict[str, list[tuple[int, int]]] | None = None,
                    ) -> list[StreakSpan]:
    """Streaks of at least ``min_peak`` failures, replaying the events (bytes, arrival) one
    by one through the worker's own carrier step (``engine/step.py``) on in-memory tables
    and the stream clock, so duplicates, provisional responses and retention count the
    same way."""
    stores = MemoryTables().stores()
    sink = Discard()
    step = CarrierStep(stores, _OnePolicy(policy_for), sink, Clock("stream", lambda: 0),
                       outputs={n: n for n in names.OUTPUTS}, latest_calls=0)
    open_spans: dict[str, StreakSpan] = {}
    done: list[StreakSpan] = []
    for offset, (raw, arrival) in enumerate(lines):
        if offset and offset % FLUSH_EVERY == 0:
            step.publisher.discard()  # the records are not wanted, only the state
            for store in stores.all():
                store.write_dirty(sink)
        ev = codec.decode(raw, None)
        if isinstance(ev, codec.Rejected):
            continue
        cid = ev.carrier_id
        state = stores.carriers.load(0, cid.encode())
        before = state.streak.count if state is not None else 0
        res = step(0, cid, [Sourced(ev, "replay", offset, arrival)], 0)
        assert res is not None  # a carrier with an event always has a state
        s = res.carrier.streak
        if series is not None and s.count != before:
            points = series.setdefault(cid, [])
            if s.count == 0:
                points.append((ev.ts_ms, before))  # the peak, then the reset
            if not points or s.count == 0 or before == 0 or s.count % 50 == 0:
                points.append((ev.ts_ms, s.count))
        span = open_spans.get(cid)
        if s.count > 0 and before == 0:
            span = open_spans[cid] = StreakSpan(cid, iso(s.started_ms or ev.ts_ms), s.count)
        if span is not None:
            span.peak = max(span.peak, s.count)
            if s.count == 0 and before > 0:
                span.ended_at, span.ended_by = iso(ev.ts_ms), ev.code
                del open_spans[cid]
                done.append(span)
    done.extend(open_spans.values())
    return [s for s in done if s.peak >= min_peak]


def as_json(report: Report) -> dict[str, Any]:
    doc = asdict(report)
    del doc["counter_series"]
    doc["bad_lines"] = [{"line": n, "error": e, "detail": d} for n, e, d in report.bad_lines]
    return doc


CONSISTENCY_COLUMNS = ("carrier_id", "total_final", "total_200", "total_404", "ratio_404",
                       "verdict", "codes")
STREAK_COLUMNS = ("carrier_id", "started_at", "peak", "ended_at", "ended_by")
ALERT_COLUMNS = ("carrier_id", "kind", "state", "value", "threshold", "at")
BAD_COLUMNS = ("line", "error", "detail")


def render(report: Report) -> str:
    """The report as readable tables."""
    bad = as_json(report)["bad_lines"]
    parts = [f"investigation {report.name}: {report.sent} messages replayed, "
             f"{len(report.bad_lines)} bad lines\n"]
    sections: list[tuple[str, list[dict[str, Any]], tuple[str, ...]]] = [
        ("Consecutive-failure streaks", [asdict(s) for s in report.streaks], STREAK_COLUMNS),
        ("Code mix and the 200/404 verdict", list(report.consistency.values()),
         CONSISTENCY_COLUMNS),
        ("Alert transitions", report.alerts, ALERT_COLUMNS),
        ("Daily summaries", report.daily, formats.SUMMARY_COLUMNS),
        ("Hourly summaries", report.hourly, formats.SUMMARY_COLUMNS),
        ("Bad lines (sent to the investigation's DLQ)", bad, BAD_COLUMNS),
    ]
    for title, rows, cols in sections:
        parts.append(f"\n{title} ({len(rows)})\n")
        if rows:
            parts.append(formats.to_table(rows, cols))
    return "".join(parts)


def write(report: Report, out_dir: Path) -> list[Path]:
    """report.json and one CSV per section under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "report.json"]
    written[0].write_bytes(orjson.dumps(as_json(report), option=orjson.OPT_INDENT_2))
    tables: Mapping[str, tuple[list[dict[str, Any]], tuple[str, ...]]] = {
        "streaks.csv": ([asdict(s) for s in report.streaks], STREAK_COLUMNS),
        "code-consistency.csv": (list(report.consistency.values()), CONSISTENCY_COLUMNS),
        "alerts.csv": (report.alerts, ALERT_COLUMNS),
        "summary-daily.csv": (report.daily, formats.SUMMARY_COLUMNS),
        "summary-hourly.csv": (report.hourly, formats.SUMMARY_COLUMNS),
        "bad-lines.csv": (as_json(report)["bad_lines"], BAD_COLUMNS),
    }
    for name, (rows, cols) in tables.items():
        path = out_dir / name
        path.write_text(formats.to_csv(rows, cols))
        written.append(path)
    written.append(plot(report, out_dir / "plot.png"))
    return written


def plot(report: Report, path: Path, max_carriers: int = 6) -> Path:
    """Attempts and ASR per hour, and the consecutive-failure counter, over time (PNG)."""
    from datetime import UTC, datetime

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    busiest: dict[str, int] = {}
    for r in report.hourly:
        busiest[r["carrier_id"]] = busiest.get(r["carrier_id"], 0) + r["attempts"]
    chosen = sorted(busiest, key=lambda c: -busiest[c])[:max_carriers]
    fig, axes = plt.subplots(3, 1, figsize=(12, 9), sharex=True)
    for cid in chosen:
        rows = sorted((r for r in report.hourly if r["carrier_id"] == cid),
                      key=lambda r: r["start"])
        when = [datetime.fromisoformat(r["start"].replace("Z", "+00:00")) for r in rows]
        axes[0].plot(when, [r["attempts"] for r in rows], label=cid)
        axes[1].plot(when, [r["asr"] if r["asr"] is not None else float("nan") for r in rows],
                     label=cid)
        points = report.counter_series.get(cid, [])
        axes[2].step([datetime.fromtimestamp(t / 1000, tz=UTC) for t, _ in points],
                     [n for _, n in points], where="post", label=cid)
    starts = [datetime.fromisoformat(r["start"].replace("Z", "+00:00")) for r in report.hourly]
    if starts:  # very late events must not stretch the axis over empty days
        axes[0].set_xlim(min(starts), max(starts))
    for ax, title in zip(axes, ("attempts per hour", "ASR per hour",
                                "consecutive failures"), strict=True):
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize="small")
    fig.suptitle(f"investigation {report.name}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
