"""Errors end in one place (``cli.main``): one line naming the command, details indented
under it, and an exit code per kind of error (``processor/errors.py``), without a
traceback. No broker: each case fails before one would be needed, or on a port where
none listens."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor import errors
from processor.cli import main as cli


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().err.splitlines()


def test_a_bad_setting_names_the_variable(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARRIERWATCH_PARTITIONS", "0")
    code, err = run(capsys, "topics", "check")
    assert code == errors.EXIT_USAGE
    assert err == ["carrierwatch topics check: CARRIERWATCH_PARTITIONS='0': Input should be "
                   "greater than or equal to 1"]


def test_flags_that_do_not_go_together_are_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "generate", "--rate", "-5")
    assert (code, err) == (errors.EXIT_USAGE, ["carrierwatch generate: --rate must be > 0 or "
                                               "'max'"])


def test_a_missing_input_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "calls.jsonl"
    code, err = run(capsys, "replay", str(missing), "--name", "x")
    assert (code, err) == (errors.EXIT_INPUT, [f"carrierwatch replay: {missing}: no such file"])


def test_a_refused_registry_file_lists_every_problem(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text("carriers:\n  c1: {rates: [{prefix: x}]}\n  c2: {threshold: -1}\n")
    code, err = run(capsys, "registry", "import", str(path), "--dry-run")
    assert code == errors.EXIT_INPUT
    assert err[0].startswith(f"carrierwatch registry import: {path} refused, nothing was "
                             "published (")
    assert len(err) >= 3
    assert all(line.startswith("  ") for line in err[1:])


def test_a_broker_that_does_not_answer(capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARRIERWATCH_BROKER", "kafka://127.0.0.1:1")
    monkeypatch.setattr("processor.admin.topics.observe.__defaults__", (2.0,))
    code, err = run(capsys, "topics", "check")
    assert code == errors.EXIT_BROKER
    assert len(err) == 1
    assert err[0].startswith("carrierwatch topics check: cannot read topic metadata from "
                             "127.0.0.1:1")


def test_every_error_class_has_the_one_root() -> None:
    from processor.admin.registry import RegistryFileError
    from processor.admin.topics import TopicsError
    from processor.cli.client import ApiError
    from processor.dev.broker_files import BrokerError
    from processor.investigate.recorded import ReplayError
    from processor.io.codec import Invalid
    from processor.io.hep import Refused
    from processor.ops.api import BadRequest

    for cls in (Invalid, Refused, BadRequest, BrokerError, ApiError, ReplayError,
                RegistryFileError, TopicsError, errors.SettingsError, errors.UnknownCarrier):
        assert issubclass(cls, errors.CarrierwatchError), cls


def test_a_node_is_for_stop_or_kill_and_kill_needs_one(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    """Issue 33: ``broker kill <node>``; start acts on every node."""
    d = str(tmp_path / "b")
    code, err = run(capsys, "broker", "start", "2", "--dir", d)
    assert code == errors.EXIT_USAGE
    assert "broker start acts on every node" in err[0]
    code, err = run(capsys, "broker", "kill", "--dir", d)
    assert code == errors.EXIT_USAGE
    assert "broker kill needs a node" in err[0]
