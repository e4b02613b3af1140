"""The local Apache Kafka (KRaft) used for development and tests: one node, or a cluster of
``--nodes N`` on loopback (issue 33).

The jars come from Maven Central through ``deploy/kafka/pom.xml`` (cached in the local
Maven repository) and are copied into ``<broker_dir>/libs``; nothing is installed by hand.
Every node is a combined broker+controller process bound to 127.0.0.1. The single node
keeps its config, data, log and pid file in ``<broker_dir>``; node ``n`` of a cluster in
``<broker_dir>/node-<n>``, listening on the broker and controller ports plus
``STRIDE·(n-1)``, all formatted with the one cluster id ``<broker_dir>/cluster.json`` keeps.
"""

# one concept past 400 lines: the local broker's nodes, from layout to start, stop and kill.
from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from processor.admin.topics import replication_for
from processor.dev.broker_files import (
    KAFKA_DEPLOY_DIR,
    BrokerError,
    broker_paths,
    classpath,
    ensure_jars,
    java,
    log_config_flag,
    scram_users,
    secure_config,
)
from processor.settings import Settings

STRIDE = 10  # node n's ports: the configured ones plus STRIDE·(n-1)
CLUSTER_FILE = "cluster.json"


@dataclass(frozen=True)
class Node:
    """One KRaft node: its id (Kafka's ``node.id``), ports and directory."""

    node_id: int
    port: int
    controller_port: int
    root: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        return self.root / "kraft-data"

    @property
    def config(self) -> Path:
        return self.root / "server.properties"

    @property
    def log(self) -> Path:
        return self.root / "broker.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "broker.pid"


@dataclass(frozen=True)
class NodeStatus:
    node: Node
    running: bool
    pid: int | None
    detail: str


@dataclass(frozen=True)
class BrokerStatus:
    """``running``: every node answers. ``bootstrap``: the nodes' addresses, comma-joined."""

    running: bool
    pid: int | None  # the single node's (a cluster: see ``nodes``)
    bootstrap: str
    detail: str
    nodes: tuple[NodeStatus, ...] = ()


def bootstrap_address(settings: Settings) -> str:
    return ",".join(n.bootstrap for n in layout(settings))


# -- layout ------------------------------------------------------------------------------
def _single(settings: Settings) -> Node:
    root = broker_paths(settings)["root"]
    return Node(1, settings.broker_port, settings.broker_controller_port, root)


def _cluster_file(settings: Settings) -> Path:
    return broker_paths(settings)["root"] / CLUSTER_FILE


def _cluster_doc(settings: Settings) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = json.loads(_cluster_file(settings).read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise BrokerError(f"{_cluster_file(settings)} is unreadable ({exc}); remove the "
                          "directory for a fresh cluster") from None
    return doc


def _cluster_nodes(root: Path, count: int, port: int, controller_port: int) -> list[Node]:
    return [Node(i, port + STRIDE * (i - 1), controller_port + STRIDE * (i - 1),
                 root / f"node-{i}") for i in range(1, count + 1)]


def layout(settings: Settings) -> list[Node]:
    """The nodes ``broker_dir`` holds: a cluster's (as first started), else the single node."""
    doc = _cluster_doc(settings)
    if doc is None:
        return [_single(settings)]
    return _cluster_nodes(broker_paths(settings)["root"], int(doc["nodes"]), int(doc["port"]),
                          int(doc["controller_port"]))


def _voters(nodes: Sequence[Node]) -> str:
    return ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)


def _write_config(settings: Settings, node: Node, nodes: Sequence[Node]) -> None:
    replication, min_isr = replication_for(len(nodes))
    text = (KAFKA_DEPLOY_DIR / "server.properties.template").read_text().format(
        node_id=node.node_id, voters=_voters(nodes), port=node.port,
        controller_port=node.controller_port, log_dirs=node.data,
        replication=replication, min_isr=min_isr)
    if settings.broker_secure_port and len(nodes) == 1:
        text += secure_config(settings)
    node.root.mkdir(parents=True, exist_ok=True)
    node.config.write_text(text)
    node.config.chmod(0o600)


def _cluster_id() -> str:
    """A Kafka-style UUID: 16 random bytes, URL-safe base64 without padding."""
    while True:
        cid = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def _format_storage(settings: Settings, node: Node, libs: Path, cluster_id: str) -> None:
    if (node.data / "meta.properties").is_file():
        return
    node.data.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [java(), "-Xmx256m", log_config_flag(), "-cp", classpath(libs),
         "kafka.tools.StorageTool", "format",
         "-t", cluster_id, "-c", str(node.config), *scram_users(settings)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise BrokerError(f"formatting KRaft storage of node {node.node_id} failed:\n"
                          f"{proc.stdout}{proc.stderr}")


# -- processes ---------------------------------------------------------------------------
def _read_pid(node: Node) -> int | None:
    try:
        pid = int(node.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not a running broker.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state != "Z"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def brokers_seen(bootstrap: str, timeout_s: float = 3.0) -> int:
    """How many brokers the metadata of the first node of ``bootstrap`` lists (0: none
    answers)."""
    first = bootstrap.split(",", maxsplit=1)[0]
    host, _, port = first.rpartition(":")
    if not port_open(int(port), host or "127.0.0.1"):
        return 0
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": first, "log_level": 0,
                         "socket.timeout.ms": int(timeout_s * 1000)})
    try:
        md = admin.list_topics(timeout=timeout_s)
    except KafkaException:
        return 0
    return len(md.brokers)


def answers_metadata(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True when a Kafka broker at ``bootstrap`` answers a metadata request."""
    return brokers_seen(bootstrap, timeout_s) > 0


def _node_status(node: Node, single: bool) -> NodeStatus:
    pid = _read_pid(node)
    name = "" if single else f"node {node.node_id}: "
    if pid is None:
        if port_open(node.port):
            return NodeStatus(node, False, None,
                              f"{name}not running from {node.root}, but port {node.port} is in "
                              "use by another process")
        return NodeStatus(node, False, None, f"{name}not running" if single else f"{name}down")
    if answers_metadata(node.bootstrap):
        return NodeStatus(node, True, pid, f"{name}running (pid {pid}) at {node.bootstrap}")
    return NodeStatus(node, False, pid, f"{name}process {pid} is up but not answering yet")


def _status_of(nodes: Sequence[Node], single: bool | None = None) -> BrokerStatus:
    """``single``: the broker is one node (default: ``nodes`` is one; a cluster has two or
    more)."""
    single = len(nodes) == 1 if single is None else single
    each = tuple(_node_status(n, single) for n in nodes)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    detail = "\n".join(s.detail for s in each)
    if not single:
        up = sum(s.running for s in each)
        detail = f"{up} of {len(nodes)} nodes running\n{detail}\nbootstrap: {bootstrap}"
    return BrokerStatus(all(s.running for s in each), each[0].pid if single else None,
                        bootstrap, detail, each)


def status(settings: Settings, node: int | None = None) -> BrokerStatus:
    """Every node's state, or ``node``'s."""
    return _status_of(_pick(settings, node), single=len(layout(settings)) == 1)


# -- start -------------------------------------------------------------------------------
def _nodes_to_start(settings: Settings, count: int) -> tuple[list[Node], str | None]:
    """The nodes ``start`` wants and, for a cluster, its id; a layout that clashes with what
    ``broker_dir`` holds is refused with what to do instead."""
    root, single = broker_paths(settings)["root"], _single(settings)
    doc = _cluster_doc(settings)
    if count == 1:
        if doc is not None:
            nodes = layout(settings)
            up = [n.node_id for n in nodes if _read_pid(n) is not None]
            state = f"running (nodes {', '.join(map(str, up))})" if up else "stopped"
            raise BrokerError(
                f"{root} holds a {len(nodes)}-node cluster, {state}: use "
                f"`carrierwatch broker start --nodes {len(nodes)}` (or `broker stop` and "
                "another --dir for a single node)")
        return [single], None
    if settings.broker_secure_port:
        raise BrokerError("the SASL_SSL listener (CARRIERWATCH_BROKER_SECURE_PORT) is only "
                          "for the single-node broker; unset it for --nodes "
                          f"{count}")
    pid = _read_pid(single)
    if pid is not None:
        raise BrokerError(
            f"a single-node broker is running from {root} (pid {pid}, {single.bootstrap}); "
            "stop it first (`carrierwatch broker stop`) or start the cluster with another "
            "--dir")
    if doc is None:
        doc = {"nodes": count, "cluster_id": _cluster_id(), "port": settings.broker_port,
               "controller_port": settings.broker_controller_port}
        root.mkdir(parents=True, exist_ok=True)
        _cluster_file(settings).write_text(json.dumps(doc) + "\n")
    elif int(doc["nodes"]) != count:
        raise BrokerError(f"{root} holds a {doc['nodes']}-node cluster, not {count}: use "
                          f"--nodes {doc['nodes']}, or another --dir")
    return layout(settings), str(doc["cluster_id"])


def start(settings: Settings, out: TextIO = sys.stderr, nodes: int | None = None
          ) -> BrokerStatus:
    """Start every node of the broker (``nodes``: default ``broker_nodes``) that is not
    running, with its own data dir, and wait until each answers and the cluster lists
    them all; a no-op when all run. A node killed earlier comes back on its data."""
    wanted, cluster_id = _nodes_to_start(settings, nodes or settings.broker_nodes)
    current = _status_of(wanted)
    if current.running:
        return current
    for st in current.nodes:
        if st.pid is None and (port_open(st.node.port) or port_open(st.node.controller_port)):
            raise BrokerError(st.detail if port_open(st.node.port) else
                              f"node {st.node.node_id}: controller port "
                              f"{st.node.controller_port} is in use by another process")
    libs = ensure_jars(settings, out)
    began = time.monotonic()
    procs: dict[int, subprocess.Popen[bytes]] = {}
    for st in current.nodes:
        if st.pid is not None:
            continue  # started but not answering yet: it gets the usual time below
        node = st.node
        _write_config(settings, node, wanted)
        _format_storage(settings, node, libs, cluster_id or _cluster_id())
        cmd = [
            java(), f"-Xmx{settings.broker_heap}", f"-Xms{settings.broker_heap}",
            "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
            log_config_flag(), "-cp", classpath(libs), "kafka.Kafka", str(node.config),
        ]
        with open(node.log, "ab") as log:
            procs[node.node_id] = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        node.pid_file.write_text(f"{procs[node.node_id].pid}\n")
    return _wait_ready(settings, wanted, began, procs)


def _wait_ready(settings: Settings, nodes: Sequence[Node], began: float,
                procs: dict[int, subprocess.Popen[bytes]]) -> BrokerStatus:
    """Until every node answers and lists all of them (a cluster's quorum has formed)."""
    deadline = began + settings.broker_start_timeout_s
    while time.monotonic() < deadline:
        for node in nodes:
            proc = procs.get(node.node_id)
            if proc.poll() is not None if proc is not None else _read_pid(node) is None:
                raise BrokerError(f"node {node.node_id} exited during start-up; last log "
                                  f"lines:\n{_tail(node)}")
        if all(brokers_seen(n.bootstrap, 1.0) == len(nodes) for n in nodes):
            st = _status_of(nodes)
            took = time.monotonic() - began
            return BrokerStatus(st.running, st.pid, st.bootstrap,
                                f"{st.detail}\nready in {took:.1f} s", st.nodes)
        time.sleep(0.25)
    for node in nodes:
        if node.node_id in procs:
            _terminate(node)
    raise BrokerError(
        f"the broker did not answer within {settings.broker_start_timeout_s:.0f} s; last log "
        "lines:\n" + "\n".join(f"node {n.node_id}:\n{_tail(n)}" for n in nodes))


# -- stop and kill -----------------------------------------------------------------------
def _pick(settings: Settings, node_id: int | None) -> list[Node]:
    nodes = layout(settings)
    if node_id is None:
        return nodes
    chosen = [n for n in nodes if n.node_id == node_id]
    if not chosen:
        raise BrokerError(f"no node {node_id}: {broker_paths(settings)['root']} has nodes "
                          f"{[n.node_id for n in nodes]}")
    return chosen


def stop(settings: Settings, timeout_s: float = 30.0, node: int | None = None) -> BrokerStatus:
    """Stop every node, or ``node`` (SIGTERM, then SIGKILL after ``timeout_s``); leaves no
    process."""
    for n in _pick(settings, node):
        _terminate(n, timeout_s)
    which = "stopped" if node is None else f"node {node}: stopped"
    return BrokerStatus(False, None, bootstrap_address(settings), which)


def kill(settings: Settings, node: int) -> BrokerStatus:
    """SIGKILL ``node`` (as a crash would end it); its data dir stays for a restart."""
    [n] = _pick(settings, node)
    pid = _read_pid(n)
    if pid is None:
        raise BrokerError(f"node {node} is not running")
    _signal_group(pid, signal.SIGKILL)
    _wait_gone(pid)
    n.pid_file.unlink(missing_ok=True)
    return BrokerStatus(False, None, bootstrap_address(settings),
                        f"node {node}: killed (pid {pid})")


def _terminate(node: Node, timeout_s: float = 30.0) -> None:
    pid = _read_pid(node)
    if pid is not None:
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            _wait_gone(pid)
    node.pid_file.unlink(missing_ok=True)


def _wait_gone(pid: int) -> None:
    while _alive(pid):
        _reap(pid)
        time.sleep(0.05)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect the broker if it is our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _tail(node: Node, lines: int = 30) -> str:
    try:
        text = node.log.read_text(errors="replace")
    except FileNotFoundError:
        return "(no broker log)"
    return "\n".join(text.splitlines()[-lines:])
