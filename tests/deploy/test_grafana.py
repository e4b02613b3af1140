"""The Grafana dashboard: valid JSON, every query parses as PromQL and uses only metrics the
collector exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from processor.engine.view import CarrierRow, WindowRow
from processor.ops.metrics import CarrierCollector

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / \
    "carrierwatch-dashboard.json"


def exported_names() -> set[str]:
    figures = (10, 5, 1, 60_000, 5, 6, 1)  # attempts, answered, short, ms, n, seer, 3xx
    row = CarrierRow("c-1", 0, 3, {200: 5, 404: 1}, {"applied": 6}, {0: list(figures)},
                     {"day": WindowRow(0, figures)})
    collector = CarrierCollector(lambda: [row], lambda: 0, lambda _r: 0, 10, lambda: {0: 1})
    names = set()
    for family in collector.collect():
        names.update(s.name for s in family.samples)
    return names


def queries() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in doc["panels"] for t in p["targets"]]


def test_dashboard_queries_use_exported_metrics() -> None:
    names = exported_names()
    used = {m for q in queries() for m in re.findall(r"carrierwatch_[a-z_]+", q)}
    assert used
    assert used <= names, used - names
    doc = json.loads(DASHBOARD.read_text())
    titles = " ".join(p["title"] for p in doc["panels"])
    for needle in ("Consecutive failures", "ASR", "ACD", "SEER", "Code mix", "200 vs 404"):
        assert needle in titles


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:q{i}", "expr": q.replace("$carrier", ".*")}
        for i, q in enumerate(queries())]}]}
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
