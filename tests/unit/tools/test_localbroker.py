"""The local broker's layout and refusals (issue 33), without starting Java: what ``broker
start --nodes N`` would run where, and the clear errors instead of a port clash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from processor.dev import localbroker
from processor.dev.broker_files import BrokerError
from processor.settings import Settings


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(broker_port=19092, broker_controller_port=19093,
                    broker_dir=tmp_path / "b", **kw)  # type: ignore[arg-type]


def test_a_single_node_lives_in_the_broker_dir(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    [node] = localbroker.layout(s)
    assert (node.node_id, node.port, node.controller_port) == (1, 19092, 19093)
    assert node.root == (tmp_path / "b").resolve()
    assert localbroker.bootstrap_address(s) == "127.0.0.1:19092"


def test_a_cluster_has_a_directory_and_ports_per_node(tmp_path: Path) -> None:
    s = _settings(tmp_path, broker_nodes=3)
    nodes, cluster_id = localbroker._nodes_to_start(s, 3)
    assert [(n.node_id, n.port, n.controller_port, n.root.name) for n in nodes] == [
        (1, 19092, 19093, "node-1"), (2, 19102, 19103, "node-2"), (3, 19112, 19113, "node-3")]
    assert cluster_id
    assert localbroker.layout(s) == nodes
    assert localbroker.bootstrap_address(s) == "127.0.0.1:19092,127.0.0.1:19102,127.0.0.1:19112"
    again, same_id = localbroker._nodes_to_start(s, 3)
    assert (again, same_id) == (nodes, cluster_id)  # one cluster id, formatted once per node
    st = localbroker.status(s)
    assert not st.running
    assert st.detail.splitlines()[0] == "0 of 3 nodes running"
    assert "node 2: down" in st.detail
    assert st.detail.splitlines()[-1] == ("bootstrap: 127.0.0.1:19092,127.0.0.1:19102,"
                                          "127.0.0.1:19112")
    one = localbroker.status(s, 2)
    assert [n.node.node_id for n in one.nodes] == [2]
    assert "node 2: down" in one.detail


def test_the_node_config_names_every_voter_and_replicates_on_three(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    nodes, _ = localbroker._nodes_to_start(s, 3)
    localbroker._write_config(s, nodes[1], nodes)
    text = nodes[1].config.read_text()
    assert "node.id=2\n" in text
    assert ("controller.quorum.voters=1@127.0.0.1:19093,2@127.0.0.1:19103,3@127.0.0.1:19113"
            in text)
    assert "listeners=PLAINTEXT://127.0.0.1:19102,CONTROLLER://127.0.0.1:19103" in text
    assert "min.insync.replicas=2\n" in text
    assert "offsets.topic.replication.factor=3" in text


def test_a_running_single_node_is_named_not_clashed_with(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    root = (tmp_path / "b")
    root.mkdir()
    (root / "broker.pid").write_text(f"{os.getpid()}\n")  # a live process stands for it
    with pytest.raises(BrokerError, match=r"a single-node broker is running from .*stop it"):
        localbroker.start(s, nodes=3)


def test_a_cluster_dir_is_not_started_as_one_node(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    localbroker._nodes_to_start(s, 3)
    with pytest.raises(BrokerError, match=r"holds a 3-node cluster, stopped.*--nodes 3"):
        localbroker.start(s)
    with pytest.raises(BrokerError, match="holds a 3-node cluster, not 5"):
        localbroker.start(s, nodes=5)
    with pytest.raises(BrokerError, match="no node 4"):
        localbroker.kill(s, 4)
    with pytest.raises(BrokerError, match="node 2 is not running"):
        localbroker.kill(s, 2)
