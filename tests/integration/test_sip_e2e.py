"""Real SBC traffic in (issue 20): Debian's Kamailio routes sipp's calls to three sipp
carriers with dispatcher and mirrors them with siptrace (HEP v3) to ``carrierwatch ingest
hep``; the worker's records must say what sipp's own statistics say happened. Loopback
only: the caller is 127.0.0.10, the carriers 127.0.0.21-23."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from processor.settings import Settings
from tests.integration.procs import REPO, Proc, cli, free_port, start_worker, wait_for

pytestmark = pytest.mark.integration

SIPP = Path(__file__).parent / "sipp"
KAMAILIO_CFG = REPO / "deploy" / "kamailio" / "carrierwatch.cfg"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
CALLS = 12
CARRIERS = {"acme-answers": ("127.0.0.21", "uas_answer.xml"),
            "beta-404": ("127.0.0.22", "uas_404.xml"),
            "gamma-503": ("127.0.0.23", "uas_503.xml"),
            "delta-noring": ("127.0.0.24", "uas_answer_noring.xml")}


def _need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is needed: deploy/system-deps.sh sip")
    return path


def sipp_args(scenario: str, ip: str, port: int, stats: Path) -> list[str]:
    return [_need("sipp"), "-sf", str(SIPP / scenario), "-i", ip, "-p", str(port),
            "-mp", str(free_port()), "-mi", "127.0.0.1", "-ci", "127.0.0.1",
            "-cp", str(free_port()), "-nostdin", "-trace_stat", "-stf", str(stats),
            "-fd", "1"]


def sipp_count(stats: Path, column: str) -> int:
    """The newest value of ``column`` in a sipp statistics file (``-trace_stat``)."""
    rows = list(csv.reader(stats.read_text().splitlines(), delimiter=";"))
    return int(rows[-1][rows[0].index(column)])


def api(settings: Settings, path: str) -> Any:
    with urllib.request.urlopen(f"{settings.web_url}{path}", timeout=10) as resp:
        return json.loads(resp.read())


@contextmanager
def platform(isolated: Settings, tmp_path: Path, carriers: dict[str, tuple[str, str]],
             calls: int) -> Iterator[tuple[Settings, dict[str, int]]]:
    """Kamailio routing ``calls`` sipp calls over sipp ``carriers`` (id -> (ip, scenario))
    with dispatcher (round robin, failing over on 503), mirrored over HEP to a collector,
    and a worker; yields the settings and what each carrier's sipp counted as successful,
    once every call ended. Everything stops at the end."""
    hep_port, sip_port = free_port(), free_port()
    settings = isolated.replace(hep_listen=f"127.0.0.1:{hep_port}",
                                hep_metrics_port=free_port(), web_port=free_port())
    ports = {cid: free_port() for cid in carriers}
    assert cli(settings, "topics", "create").returncode == 0
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"carriers": {
        cid: {"signalling": [f"{ip}:{ports[cid]}"]} for cid, (ip, _) in carriers.items()}}))
    assert cli(settings, "registry", "import", str(registry)).returncode == 0
    dispatcher = tmp_path / "dispatcher.list"
    dispatcher.write_text("".join(f"1 sip:{ip}:{ports[cid]}\n"
                                  for cid, (ip, _) in carriers.items()))
    config = tmp_path / "kamailio.cfg"
    config.write_text(KAMAILIO_CFG.read_text().replace("@SIP_PORT@", str(sip_port))
                      .replace("@DISPATCHER_LIST@", str(dispatcher))
                      .replace("@HEP_ADDRESS@", f"127.0.0.1:{hep_port}"))
    (tmp_path / "run").mkdir()
    collector = start_worker(settings, tmp_path / "hep.log", args=("ingest", "hep"))
    worker = start_worker(settings, tmp_path / "w.log")
    kamailio = Proc([_need("kamailio"), "-f", str(config), "-L", str(MODULES), "-DD", "-E",
                     "-Y", str(tmp_path / "run")], {"PATH": "/usr/sbin:/usr/bin:/bin"},
                    tmp_path / "kamailio.log")
    running: list[subprocess.Popen[bytes]] = []
    try:
        collector.wait_log("HEP collector listening")
        kamailio.wait_log("main(): processes")
        for cid, (ip, scenario) in carriers.items():
            with (tmp_path / f"{cid}.out").open("wb") as out:
                running.append(subprocess.Popen(
                    sipp_args(scenario, ip, ports[cid], tmp_path / f"{cid}.csv"),
                    stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path))
        time.sleep(1.0)
        caller = subprocess.run(
            [*sipp_args("uac.xml", "127.0.0.10", free_port(), tmp_path / "caller.csv"),
             f"127.0.0.1:{sip_port}", "-s", "4420794601234", "-m", str(calls), "-r", "3"],
            capture_output=True, timeout=120, cwd=tmp_path, check=False)
        assert caller.returncode == 0, caller.stdout.decode()[-3000:]
        time.sleep(2.0)  # the carriers' statistics files are written every second
        seen = {cid: sipp_count(tmp_path / f"{cid}.csv", "SuccessfulCall(C)")
                for cid in carriers}
        assert sipp_count(tmp_path / "caller.csv", "SuccessfulCall(C)") == calls
        worker.wait_log("Worker ready")
        yield settings, seen
    finally:
        for proc in running:
            proc.terminate()
            proc.wait(timeout=10)
        kamailio.stop()
        worker.stop()
        collector.stop()


def test_kamailio_calls_through_hep_equal_sipps_statistics(isolated: Settings,
                                                             tmp_path: Path) -> None:
    with platform(isolated, tmp_path, CARRIERS, CALLS) as (settings, seen):
        # the 503s failed over
        assert seen["acme-answers"] + seen["beta-404"] + seen["delta-noring"] == CALLS
        assert seen["gamma-503"] > 0
        codes = {"acme-answers": 200, "beta-404": 404, "gamma-503": 503, "delta-noring": 200}

        def counted() -> bool:
            try:
                return all(api(settings, f"/carriers/{cid}")["code_consistency"]["codes"]
                           == {str(codes[cid]): seen[cid]} for cid in CARRIERS)
            except OSError:
                return False

        wait_for(counted, 120, "every carrier's attempts, as sipp counted them")
        for cid in ("beta-404", "gamma-503"):  # failures only: the counter is their count
            doc = api(settings, f"/carriers/{cid}")
            assert doc["consecutive_failures"]["consecutive_failures"] == seen[cid]
        acme = api(settings, "/carriers/acme-answers")
        assert acme["consecutive_failures"]["consecutive_failures"] == 0
        assert acme["live"]["asr"] == 1.0
        assert acme["live"]["acd_s"] == pytest.approx(3.0, abs=0.3)  # the scenario's pause
        calls = api(settings, f"/carriers/acme-answers/latest-calls?limit={CALLS}")["calls"]
        assert len(calls) == seen["acme-answers"]
        assert all(c["destination"] == "4420794601234" for c in calls)
        assert all(0 <= c["pdd_ms"] < 150 for c in calls)  # the carrier rings at once
        # Answer supervision from the signalling (issue 31): acme rings 600 ms before its
        # 2xx, delta answers at once without an 18x; both within a second of the INVITE.
        for cid, no_ring in (("acme-answers", 0.0), ("delta-noring", 1.0)):
            signals = api(settings, f"/carriers/{cid}")["anomalies"]["signals"]
            assert signals["answered"] == seen[cid], cid
            assert signals["no_ring_share"] == no_ring, cid
            assert signals["answered_without_ringing"] == (seen[cid] if no_ring else 0), cid
            assert signals["instant_answers"] == seen[cid], cid
            ring = signals["median_ring_ms"]  # no 18x, no PDD: no ring time
            if cid == "delta-noring":
                assert ring is None
            else:  # the histogram's bucket of 600 ms: [500, 1000)
                assert ring is not None
                assert 500 <= ring <= 1000, ring
        print(f"\n[sip e2e] calls={CALLS}, per carrier (sipp) {seen}, "
              f"acd_s={acme['live']['acd_s']:.3f}, "
              f"pdd_ms={sorted(c['pdd_ms'] for c in calls)}")


FAILOVER = {"alpha-503": ("127.0.0.31", "uas_503.xml"),
            "bravo-answers": ("127.0.0.32", "uas_answer.xml")}


def test_kamailio_failover_figures_equal_what_sipp_did(isolated: Settings,
                                                        tmp_path: Path) -> None:
    """Issue 32: a call routed to alpha (503) fails over to bravo (200), one routed to
    bravo first is answered there; over HEP the attempts of one call share its Call-ID
    (``call_key``), and each carrier's failover figures are what the two sipps did."""
    calls = 10
    with platform(isolated, tmp_path, FAILOVER, calls) as (settings, seen):
        failed_over = seen["alpha-503"]  # every alpha call then went to bravo
        assert seen["bravo-answers"] == calls
        assert failed_over > 0
        want = {"alpha-503": {"calls": failed_over, "answered_calls": failed_over,
                              "rescued_elsewhere": failed_over, "rescued_here": 0},
                "bravo-answers": {"calls": calls, "answered_calls": calls,
                                  "rescued_elsewhere": 0, "rescued_here": failed_over}}

        def shown() -> dict[str, dict[str, int]]:
            out = {}
            for cid in FAILOVER:
                [live] = api(settings, f"/carriers/{cid}/failover")["failover"]
                out[cid] = {k: live[k] for k in want[cid]}
            return out

        def equal() -> bool:
            try:
                return shown() == want
            except (OSError, KeyError, ValueError):
                return False

        wait_for(equal, 120, "each carrier's failover figures")
        [alpha] = api(settings, "/carriers/alpha-503/failover")["failover"]
        assert alpha["pairs"] == [{"answered_on": "bravo-answers", "calls": failed_over}]
        assert alpha["asr_per_call"] == 1.0
        assert alpha["asr_per_attempt"] == 0.0
        with urllib.request.urlopen(
                f"http://127.0.0.1:{settings.hep_metrics_port}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
        assert "carrierwatch_hep_timed_out_total 0.0" in metrics, metrics  # none dropped
