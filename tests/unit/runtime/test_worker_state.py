"""Local tables survive only a clean shutdown (processor/runtime/process.py); they start
at once."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from processor.runtime.app import create_app
from processor.runtime.faust_internals import TableManager
from processor.runtime.process import CLEAN_MARKER, discard_unclean_state
from processor.runtime.tables import declare_all
from processor.settings import Settings


def tables(tmp_path: Path) -> Path:
    tabledir = tmp_path / "v1" / "tables"
    (tabledir / "carriers-0.db").mkdir(parents=True)
    (tabledir / "carriers-0.db" / "CURRENT").write_text("x")
    return tabledir


def test_after_a_clean_shutdown_the_tables_are_kept_and_the_marker_consumed(
        tmp_path: Path) -> None:
    tabledir = tables(tmp_path)
    (tmp_path / CLEAN_MARKER).touch()
    assert not discard_unclean_state(tmp_path, tabledir)
    assert (tabledir / "carriers-0.db" / "CURRENT").exists()
    assert not (tmp_path / CLEAN_MARKER).exists()


def test_after_a_crash_the_tables_are_discarded(tmp_path: Path) -> None:
    tabledir = tables(tmp_path)
    assert discard_unclean_state(tmp_path, tabledir)
    assert not tabledir.exists()


def test_a_first_start_has_nothing_to_discard(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    assert not discard_unclean_state(tmp_path, tmp_path / "v1" / "tables")
    # The app, once built, has declared its tables: Faust made their empty backup
    # directories. That is still a first start, and nothing is said about a last run.
    app = create_app(Settings(data_dir=tmp_path), with_worker=False)
    declared = declare_all(app, "carrier.registry")
    assert declared.carriers.data is not None  # the table's store is made, as at a start
    tabledir = Path(app.conf.tabledir)
    assert any(tabledir.iterdir())
    with caplog.at_level(logging.WARNING):
        assert not discard_unclean_state(tmp_path, tabledir)
    assert "did not shut down cleanly" not in caplog.text


def test_the_tables_start_without_faust_s_one_second_sleep(tmp_path: Path) -> None:
    """Every start, restart and rebuild used to wait a second before the tables started."""
    app = create_app(Settings(data_dir=tmp_path), with_worker=False)
    assert type(app.tables) is TableManager
    calls: list[str] = []

    async def record(name: str) -> None:
        calls.append(name)

    async def no_sleep(_: float) -> None:
        raise AssertionError("slept")

    manager = SimpleNamespace(should_stop=False, sleep=no_sleep,
                              _update_channels=lambda: record("channels"),
                              recovery=SimpleNamespace(start=lambda: record("recovery")))
    asyncio.run(TableManager.on_start(manager))  # type: ignore[arg-type]
    assert calls == ["channels", "recovery"]
