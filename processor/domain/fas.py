"""False answer supervision (FAS): a carrier that answers calls it never connected, from
signalling alone.

Per window, one row of counters (``Row``) next to the window's summary: answered calls of
at most 6 s and at most 15 s, answers with and without an 18x before them (``ringing``),
answers within a second of the INVITE (``answer_ms``), and the ring time
(``answer_ms - pdd_ms``) in a histogram for its median. From a window's row and summary:

- **short-call ratio**: answered calls of 15 s or less / failed attempts (attempts -
  answered), the route indicator of the FAS patent literature;
- **instant answers** and **answers without ringing**, as shares of the answers whose
  ``answer_ms`` / ``ringing`` is known;
- **median ring time** (from the histogram: within its bucket, linearly);
- **ACD** against the carrier's own baseline.

The baseline is the carrier's last 7 days of hourly windows before the live window:
their short-call ratio and ACD. The **score** (0 to 1) is the largest of four parts, each
0.5 at its threshold and 1 at twice it: the short-call ratio over the baseline's (against
``short_ratio_factor``), the instant share (against ``instant_share``), the share without
ringing (against ``no_ring_share``); and the ACD's drop below the baseline's, which alone
reaches 0.5 only when the ACD falls to nothing. A baseline without a short call (or
without a failed attempt) gives the short-call ratio nothing to compare with: that part
and its criterion stay 0 until it has one, so a new carrier is judged on the other two.
The verdict is ``fas-suspect`` with at least ``min_answered`` answers in the live window
and one of the first three over its threshold (the issue's rule); else ``ok`` or, below
the sample, ``insufficient-data``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# A window's counters: answers with ringing known and those without an 18x, answers with
# answer_ms known and those under a second, answered calls <= 6 s and <= 15 s (with a
# duration), then the ring-time histogram (RING_BOUNDS, the last bucket open).
RING_KNOWN, NO_RING, ANSWER_KNOWN, INSTANT, SHORT_6, SHORT_15 = range(6)
RING_BOUNDS = (250, 500, 1_000, 2_000, 3_000, 4_000, 6_000, 8_000, 10_000, 15_000, 20_000,
               30_000, 60_000)  # upper bounds (ms) of the histogram's buckets
HIST = 6
WIDTH = HIST + len(RING_BOUNDS) + 1
INSTANT_MS = 1_000
Row = list[int]


@dataclass(frozen=True, slots=True)
class FasRule:
    """The thresholds (per-carrier registry settings, these defaults from the issue)."""

    min_answered: int = 50
    short_ratio_factor: float = 2.0  # short-call ratio over this many times the baseline
    instant_share: float = 0.10  # instant answers over this share of answers
    no_ring_share: float = 0.20  # answers without ringing over this share
    resolve_score: float = 0.4  # a suspect carrier is cleared below this score


def new_row() -> Row:
    return [0] * WIDTH


def add(row: Row, code: int, duration_ms: int | None, pdd_ms: int | None, *,
        answer_ms: int | None, ringing: bool | None) -> None:
    """Count one final response (only answered calls move the row)."""
    if not 200 <= code < 300:
        return
    if ringing is not None:
        row[RING_KNOWN] += 1
        if not ringing:
            row[NO_RING] += 1
    if answer_ms is not None:
        row[ANSWER_KNOWN] += 1
        if answer_ms < INSTANT_MS:
            row[INSTANT] += 1
        if pdd_ms is not None:
            ring = max(0, answer_ms - pdd_ms)
            i = 0
            while i < len(RING_BOUNDS) and ring >= RING_BOUNDS[i]:
                i += 1
            row[HIST + i] += 1
    if duration_ms is not None:
        if duration_ms <= 6_000:
            row[SHORT_6] += 1
        if duration_ms <= 15_000:
            row[SHORT_15] += 1


def total(rows: Iterable[Sequence[int]]) -> Row:
    out = new_row()
    for r in rows:
        for i, n in enumerate(r):
            out[i] += n
    return out


def median_ring_ms(row: Sequence[int]) -> float | None:
    """The median ring time from the histogram (linear within its bucket; the open last
    bucket counts as its lower bound)."""
    hist = row[HIST:]
    n = sum(hist)
    if n == 0:
        return None
    half, seen = n / 2, 0
    for i, k in enumerate(hist):
        if k and seen + k >= half:
            lo = RING_BOUNDS[i - 1] if i else 0
            if i == len(RING_BOUNDS):
                return float(lo)
            return lo + (RING_BOUNDS[i] - lo) * (half - seen) / k
        seen += k
    return None  # not reached


def _share(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass(frozen=True, slots=True)
class Figures:
    """What FAS is judged on, for one span (a window, or the baseline's hours)."""

    attempts: int
    answered: int
    duration_ms: int  # summed over the answered calls with a duration
    duration_n: int
    row: Sequence[int]

    @property
    def short_ratio(self) -> float | None:
        return _share(self.row[SHORT_15], self.attempts - self.answered)

    @property
    def acd_s(self) -> float | None:
        return self.duration_ms / self.duration_n / 1000 if self.duration_n else None

    def signals(self) -> dict[str, Any]:
        r = self.row
        return {"answered": self.answered, "short_6s": r[SHORT_6], "short_15s": r[SHORT_15],
                "short_ratio": self.short_ratio,
                "answered_without_ringing": r[NO_RING],
                "no_ring_share": _share(r[NO_RING], r[RING_KNOWN]),
                "instant_answers": r[INSTANT],
                "instant_share": _share(r[INSTANT], r[ANSWER_KNOWN]),
                "median_ring_ms": median_ring_ms(r), "acd_s": self.acd_s}


def _part(value: float | None, threshold: float) -> float:
    """0.5 at the threshold, 1 at twice it and above (0 without a value)."""
    if value is None or threshold <= 0:
        return 0.0
    return min(1.0, value / (2 * threshold))


def _measures(live: Figures, baseline: Figures) -> tuple[float | None, float | None,
                                                       float | None]:
    """The three measures the verdict compares with thresholds: the short-call ratio over
    the baseline's, the instant share and the share without ringing."""
    ratio, base_ratio = live.short_ratio, baseline.short_ratio
    relative = ratio / base_ratio if ratio is not None and base_ratio else None
    return (relative, _share(live.row[INSTANT], live.row[ANSWER_KNOWN]),
            _share(live.row[NO_RING], live.row[RING_KNOWN]))


def _parts(live: Figures, baseline: Figures, rule: FasRule) -> dict[str, float]:
    relative, instant, no_ring = _measures(live, baseline)
    acd, base_acd = live.acd_s, baseline.acd_s
    drop = max(0.0, 1 - acd / base_acd) if acd is not None and base_acd else None
    return {"short_ratio": _part(relative, rule.short_ratio_factor),
            "instant": _part(instant, rule.instant_share),
            "no_ring": _part(no_ring, rule.no_ring_share),
            "acd": 0.5 * drop if drop is not None else 0.0}


def verdict(live: Figures, baseline: Figures, rule: FasRule, was_suspect: bool = False) -> str:
    """``fas-suspect``, ``ok`` or ``insufficient-data`` (see the module doc); a suspect
    carrier stays one until its score falls below ``rule.resolve_score``."""
    if live.answered < rule.min_answered:
        return "insufficient-data"
    relative, instant, no_ring = _measures(live, baseline)
    if ((relative is not None and relative > rule.short_ratio_factor)
            or (instant is not None and instant > rule.instant_share)
            or (no_ring is not None and no_ring > rule.no_ring_share)):
        return "fas-suspect"
    if was_suspect and max(_parts(live, baseline, rule).values()) >= rule.resolve_score:
        return "fas-suspect"
    return "ok"


def judge(live: Figures, baseline: Figures, rule: FasRule,
          was_suspect: bool = False) -> dict[str, Any]:
    """The score, its parts and the verdict of a carrier's live window against its
    baseline (``was_suspect``: the verdict before, for the hysteresis)."""
    parts = _parts(live, baseline, rule)
    return {"score": round(max(parts.values()), 4), "parts": parts,
            "verdict": verdict(live, baseline, rule, was_suspect),
            "short_ratio_vs_baseline": _measures(live, baseline)[0]}


def explain(signals: dict[str, Any], baseline: dict[str, Any], judged: dict[str, Any]) -> str:
    """The verdict in words, e.g. "41 % of answered calls lasted 6 s or less; this carrier's
    usual rate is 7 %"."""
    if judged["verdict"] == "insufficient-data":
        return (f"{signals['answered']} answered calls in the last 24 hours: too few to judge "
                "answer supervision")
    words = []
    answered, usual = signals["answered"], baseline["answered"]
    if answered:
        words.append(f"{100 * signals['short_6s'] / answered:.0f} % of answered calls lasted "
                     "6 s or less" + (f"; this carrier's usual rate is "
                                      f"{100 * baseline['short_6s'] / usual:.0f} %"
                                      if usual else ""))
    if signals["instant_share"] is not None:
        words.append(f"{100 * signals['instant_share']:.0f} % were answered within a second")
    if signals["no_ring_share"] is not None:
        words.append(f"{100 * signals['no_ring_share']:.0f} % were answered without ringing")
    lead = ("Suspected false answer supervision: " if judged["verdict"] == "fas-suspect"
            else "Answer supervision looks normal: ")
    return lead + "; ".join(words) + "."


def figures_of(windows: Iterable[tuple[int, int, int, int, Sequence[int]]]) -> Figures:
    """A span's figures from its windows' (attempts, answered, duration_ms, duration_n,
    row); a window without a row (no answer yet) gives zeros."""
    a = n = d = dn = 0
    rows = []
    for attempts, answered, duration_ms, duration_n, row in windows:
        a, n, d, dn = a + attempts, n + answered, d + duration_ms, dn + duration_n
        if row:
            rows.append(row)
    return Figures(a, n, d, dn, total(rows))


# What the baseline knows (its days keep no ring times or answer delays)
BASELINE = ("answered", "short_6s", "short_15s", "short_ratio", "acd_s")


def anomalies(live: Figures, baseline: Figures, rule: FasRule,
              was_suspect: bool = False) -> dict[str, Any]:
    """What ``GET /carriers/{id}`` shows as ``anomalies`` (and ``carrier.anomalies``
    will hold): the live window's signals, the baseline's, the score and the verdict."""
    signals, known = live.signals(), baseline.signals()
    base = {"attempts": baseline.attempts, **{k: known[k] for k in BASELINE}}
    judged = judge(live, baseline, rule, was_suspect)
    return {"signals": signals, "baseline": base, "score": judged["score"],
            "parts": judged["parts"], "verdict": judged["verdict"],
            "explanation": explain(signals, base, judged)}


# What /metrics shows of a carrier's anomalies record, in this order (``gauge_values``).
GAUGES = ("score", "short_6s", "short_15s", "short_ratio", "baseline_short_ratio",
          "no_ring_share", "instant_share", "median_ring_ms", "acd_s", "baseline_acd_s")


def gauge_values(rec: dict[str, Any]) -> tuple[float | None, ...]:
    """``GAUGES``' values from an anomalies record (None: no sample)."""
    sig, base = rec["signals"], rec["baseline"]
    return (rec["score"], sig["short_6s"], sig["short_15s"], sig["short_ratio"],
            base["short_ratio"], sig["no_ring_share"], sig["instant_share"],
            sig["median_ring_ms"], sig["acd_s"], base["acd_s"])
