"""deploy/prometheus: the config and alert rules are valid, and the rule unit tests pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

PROM = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=PROM, capture_output=True, text=True,
                          timeout=120, check=False)


def test_config_and_rules_check() -> None:
    for args in (("check", "config", "prometheus.yml"),
                 ("check", "rules", "rules/carrierwatch.rules.yml")):
        result = promtool(*args)
        assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", "tests/carrierwatch.rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
