"""Faults on a real 3-node Kafka cluster (issue 33), each against the oracle: a leader
killed under traffic, a rolling restart, a broker and a worker killed together, workers
coming and going, a broker frozen (SIGSTOP) past its session, kill -9 of the worker at
random. Topics have 3 replicas with 2 in sync (``topics create`` on 3 nodes); every test
ends with every output topic equal to the oracle, every alert transition sent, every
invalid message dead-lettered and every input offset committed: 0 lost, 0 doubled.

Each reports its figures (``-s`` shows them): ``back_to_live_s`` is the time from the fault
until the worker's input lag is under two seconds of traffic again (the catch-up
``docs/operations.md`` quotes)."""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from processor.dev import localbroker
from processor.settings import Settings
from tests.faults.harness import (
    SCALE,
    Feeder,
    check_alerts,
    check_dead_letters,
    report,
    settings_for,
    traffic,
    wait_committed,
)
from tests.integration.outputs import OUTPUTS, TopicState, expected, wait_equal
from tests.integration.procs import Proc, free_port, start_worker, wait_for
from tests.integration.test_two_workers import carriers_in_metrics
from tests.oracle import Oracle

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

RATE = 1_500  # events/s fed while the fault happens


@dataclass
class Run:
    """One test's pieces: the cluster, the test's settings, its workers by name."""

    cluster: Settings
    settings: Settings
    tmp: Path
    workers: dict[str, Proc] = field(default_factory=dict)
    started: Counter[str] = field(default_factory=Counter)
    struck: float | None = None  # when the fault struck (None: when ``fault`` began)
    ports: dict[str, int] = field(default_factory=dict)  # each worker's web port, kept
    samples: list[tuple[float, int | None]] = field(default_factory=list)  # (when, lag)
    watching: threading.Event = field(default_factory=threading.Event)  # set: stop

    def start(self, name: str, **over: Any) -> Proc:
        """Worker ``name`` on its own data dir and port (a restart reuses both)."""
        s = self.worker_settings(name, **over)
        self.started[name] += 1
        self.workers[name] = start_worker(s, self.tmp / f"{name}{self.started[name]}.log")
        return self.workers[name]

    def worker_settings(self, name: str, **over: Any) -> Settings:
        port = self.ports.setdefault(name, free_port())
        return self.settings.replace(data_dir=self.tmp / name, web_port=port, **over)

    def lag(self) -> int | None:
        """Input lag summed over the live workers; None while an input partition has no
        live owner (a dead worker's, not yet moved) or a worker's /metrics is silent."""
        owned: dict[int, int] = {}
        for name, proc in self.workers.items():
            if proc.popen.poll() is not None:
                continue
            lags = partition_lags(self.worker_settings(name).web_url)
            if lags is None:
                return None
            owned.update(lags)
        return sum(owned.values()) if len(owned) == self.settings.partitions else None

    def watch(self) -> None:
        """Sample the input lag every half second until ``stop_watch`` (a thread)."""
        def loop() -> None:
            while not self.watching.wait(0.5):
                self.samples.append((time.monotonic(), self.lag()))

        self._watcher = threading.Thread(target=loop, daemon=True)
        self._watcher.start()

    def stop_watch(self) -> None:
        self.watching.set()
        self._watcher.join(10)

    def back_to_live(self, since: float) -> float:
        """Seconds from ``since`` until the workers were last behind by two seconds of
        traffic or more (a silent /metrics counts as behind): the fault's catch-up. 0: they
        never fell behind."""
        behind = [t for t, lag in self.samples if t >= since and (lag is None or lag >= 2 * RATE)]
        return round(max(behind) + 0.5 - since, 1) if behind else 0.0


def partition_lags(url: str) -> dict[int, int] | None:
    """``carrierwatch_input_lag_messages`` by the partition it owns (None: no answer)."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=2.0) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    found = re.findall(r'^carrierwatch_input_lag_messages\{partition="(\d+)"\} (\S+)$', text,
                       re.MULTILINE)
    return {int(p): int(float(v)) for p, v in found}


def metadata(settings: Settings) -> Any:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, "log_level": 0})
    return admin.list_topics(timeout=15)


def ours(settings: Settings, md: Any) -> list[str]:
    """The test's topics: its declared ones and its workers' changelogs."""
    return [t for t in md.topics if t.startswith((f"{settings.topic_prefix}.", settings.app_id))]


def busiest_leader(settings: Settings) -> int:
    """The node leading the most of the test's partitions, among those that lead an input
    partition: killing it moves input, output and changelog leadership at once."""
    md = metadata(settings)
    leads = Counter(p.leader for t in ours(settings, md) for p in md.topics[t].partitions.values())
    inputs = {p.leader for p in md.topics[settings.topic(settings.input_topic)].partitions.values()}
    return max(inputs, key=lambda n: leads[n])


def fully_in_sync(settings: Settings) -> bool:
    md = metadata(settings)
    return all(len(p.isrs) == len(p.replicas) for t in ours(settings, md)
               for p in md.topics[t].partitions.values())


def node_pid(cluster: Settings, node: int) -> int:
    [st] = [s for s in localbroker.status(cluster).nodes if s.node.node_id == node]
    assert st.pid is not None, st.detail
    return st.pid


def run_with_fault(on_cluster: Settings, cluster: Settings, tmp: Path, name: str, *, seed: int,
                   events: int, fault: Callable[[Run], dict[str, Any]],
                   workers: tuple[str, ...] = ("a",), carriers: int = 40, **over: Any) -> None:
    """Traffic at ``RATE`` through ``workers``; ``fault`` strikes once they run; then every
    output must equal the oracle and every input offset be committed."""
    settings = settings_for(on_cluster)
    md = metadata(settings)
    topic = md.topics[settings.topic(settings.input_topic)]
    assert all(len(p.replicas) == 3 for p in topic.partitions.values())
    messages = traffic(seed=seed, events=events, carriers=carriers)
    oracle = Oracle()
    oracle.feed(messages)
    run = Run(cluster, settings, tmp)
    reader = TopicState(settings, (*OUTPUTS, "carrier.alerts"))
    began = time.monotonic()
    feeder = Feeder(settings, messages, RATE)
    try:
        for w in workers:
            run.start(w, **over)
        for w in workers:
            run.workers[w].wait_log("Worker ready", timeout=180)
        time.sleep(3.0)
        run.watch()
        t0 = time.monotonic()
        figures = fault(run)
        feeder.join()
        took = wait_equal(reader, expected(oracle), timeout=600)
        wait_committed(settings)
        run.stop_watch()
        figures["back_to_live_s"] = run.back_to_live(run.struck or t0)
        for w, proc in run.workers.items():
            assert proc.popen.poll() is None, f"worker {w} exited:\n{proc.log()[-3000:]}"
    finally:
        for proc in run.workers.values():
            proc.stop()
    reader.poll(2.0)
    repeats = check_alerts(reader, oracle)
    distinct, dlq_repeats = check_dead_letters(settings, oracle)
    reader.close()
    wait_for(lambda: fully_in_sync(settings), 120, "every replica back in sync")
    report(f"cluster: {name}", events=len(messages), mismatches=0, **figures,
           equal_after_feed_s=round(took, 1), dlq=distinct, dlq_repeats=dlq_repeats,
           alert_repeats=repeats, seconds=round(time.monotonic() - began))


def test_the_leader_killed_under_traffic(on_cluster: Settings, cluster: Settings,
                                         tmp_path: Path) -> None:
    def fault(run: Run) -> dict[str, Any]:
        node = busiest_leader(run.settings)
        t0 = time.monotonic()
        localbroker.kill(cluster, node)
        time.sleep(5.0)
        localbroker.start(cluster)
        return {"killed_node": node,
                "node_back_after_s": round(time.monotonic() - t0, 1)}

    run_with_fault(on_cluster, cluster, tmp_path, "leader kill -9", seed=331, events=30_000,
                   fault=fault)


def test_a_rolling_restart_under_traffic(on_cluster: Settings, cluster: Settings,
                                         tmp_path: Path) -> None:
    def fault(run: Run) -> dict[str, Any]:
        t0 = time.monotonic()
        for node in (1, 2, 3):
            localbroker.stop(cluster, node=node)  # SIGTERM: a controlled shutdown
            localbroker.start(cluster)
            wait_for(lambda: fully_in_sync(run.settings), 180, f"node {node} back in sync")
        return {"restart_took_s": round(time.monotonic() - t0, 1)}

    run_with_fault(on_cluster, cluster, tmp_path, "rolling restart", seed=332, events=45_000,
                   fault=fault)


def test_a_broker_and_a_worker_killed_together(on_cluster: Settings, cluster: Settings,
                                               tmp_path: Path) -> None:
    def fault(run: Run) -> dict[str, Any]:
        node = busiest_leader(run.settings)
        run.struck = time.monotonic()
        run.workers["a"].kill()
        localbroker.kill(cluster, node)
        run.start("a", group_instance_id="cluster-pair-worker")
        time.sleep(5.0)
        localbroker.start(cluster)
        return {"killed_node": node}

    # Static membership, as deploy/ runs workers (k8s: the pod name): the restarted worker
    # takes its partitions back at once instead of after the dead one's session (60 s).
    run_with_fault(on_cluster, cluster, tmp_path, "broker + worker kill -9", seed=333,
                   events=30_000, fault=fault, group_instance_id="cluster-pair-worker")


def test_three_workers_one_killed_one_added(on_cluster: Settings, cluster: Settings,
                                            tmp_path: Path) -> None:
    def fault(run: Run) -> dict[str, Any]:
        urls = {w: run.worker_settings(w).web_url for w in ("a", "b", "c", "d")}
        wait_for(lambda: all(carriers_in_metrics(urls[w]) for w in ("a", "b", "c")), 180,
                 "three workers owning carriers")
        run.struck = time.monotonic()
        run.workers.pop("c").kill()
        run.start("d")
        run.workers["d"].wait_log("Worker ready", timeout=180)
        wait_for(lambda: bool(carriers_in_metrics(urls["d"])), 180, "the new worker to own "
                 "carriers")
        return {}

    run_with_fault(on_cluster, cluster, tmp_path, "3 workers, one killed, one added",
                   seed=334, events=30_000, fault=fault, workers=("a", "b", "c"))


def test_a_broker_frozen_past_its_session(on_cluster: Settings, cluster: Settings,
                                          tmp_path: Path) -> None:
    """SIGSTOP: the node neither dies nor answers (a network partition, a long GC pause)
    for longer than the controller's broker session (9 s) and the workers' session
    timeout; then it carries on as if nothing happened (SIGCONT)."""
    def fault(run: Run) -> dict[str, Any]:
        node = busiest_leader(run.settings)
        pid = node_pid(cluster, node)
        run.struck = time.monotonic()
        os.killpg(pid, signal.SIGSTOP)
        try:
            time.sleep(20.0)
        finally:
            os.killpg(pid, signal.SIGCONT)
        return {"frozen_node": node, "frozen_s": 20}

    run_with_fault(on_cluster, cluster, tmp_path, "broker SIGSTOP", seed=335, events=30_000,
                   fault=fault)


def test_kill_nine_at_random_moments_on_the_cluster(on_cluster: Settings, cluster: Settings,
                                                    tmp_path: Path) -> None:
    """The fault suite's kill -9 run (``SCALE``: 5 kills of 30,000 events here; 20 kills of
    500,000 with ``CARRIERWATCH_FAULTS=long``) with the topics on three replicas."""
    rng = random.Random(336)

    def fault(run: Run) -> dict[str, Any]:
        for _ in range(SCALE.kills):
            time.sleep(rng.uniform(*SCALE.kill_gap_s))
            run.workers["a"].kill()
            run.start("a", group_instance_id="cluster-kill-worker")
        return {"kills": SCALE.kills}

    run_with_fault(on_cluster, cluster, tmp_path, f"kill -9 x{SCALE.kills}", seed=336,
                   events=SCALE.events, carriers=SCALE.carriers, fault=fault,
                   group_instance_id="cluster-kill-worker")
