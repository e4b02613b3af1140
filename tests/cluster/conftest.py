"""A real 3-node KRaft cluster for the cluster tests (issue 33), started once per test
process with ``carrierwatch broker start --nodes 3``'s code on free loopback ports."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from processor.dev import localbroker
from processor.settings import Settings
from tests.conftest import TEST_BROKER_DIR, _broker_dir, isolate, running
from tests.integration.procs import REPO

NODES = 3


def _free_ports(count: int) -> tuple[int, int]:
    """A broker and a controller port, each free with its ``count`` strided successors."""
    rng = random.Random()
    while True:
        port, cport = rng.randrange(20_000, 40_000), rng.randrange(40_000, 60_000)
        wanted = [p + localbroker.STRIDE * i for p in (port, cport) for i in range(count)]
        if not any(localbroker.port_open(p) for p in wanted):
            return port, cport


@pytest.fixture(scope="session")
def cluster() -> Iterator[Settings]:
    """Three nodes, each controller and broker, fresh data; stopped at the end."""
    _broker_dir()  # the jars, fetched once for every session
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    root = REPO / ".local" / f"test-cluster-{worker}"
    port, cport = _free_ports(NODES)
    settings = Settings(
        broker=",".join(f"127.0.0.1:{port + localbroker.STRIDE * i}" for i in range(NODES)),
        broker_port=port, broker_controller_port=cport, broker_dir=root,
        broker_nodes=NODES, broker_heap="256m", broker_start_timeout_s=180)
    if root.exists():
        localbroker.stop(settings)  # a cluster left by an aborted session
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "libs").symlink_to(TEST_BROKER_DIR / "libs")
    with running(settings):
        yield settings


@pytest.fixture
def on_cluster(cluster: Settings, tmp_path: Path) -> Settings:
    """Settings for one test on the cluster (``isolate``)."""
    return isolate(cluster, tmp_path, "cluster")
