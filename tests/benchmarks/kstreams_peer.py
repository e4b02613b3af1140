"""The Kafka Streams naive peer (``kstreams/NaivePeer.java``): built with Maven and javac
(with the core peer, ``kstreams/CorePeer.java``), then run.

Imports nothing from ``processor``. The jars come from Maven Central through
``kstreams/pom.xml`` (the broker's Kafka version), the class is compiled into
``.local/bench-kstreams``; both are redone only when the pom or the source changes.

    python -m tests.benchmarks.kstreams_peer BOOTSTRAP TOPIC EVENTS STATEDIR [--dump FILE]
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.benchmarks.common import peer_arguments

HERE = Path(__file__).resolve().parent / "kstreams"
BUILD = HERE.parents[2] / ".local" / "bench-kstreams"


def build() -> tuple[Path, Path]:
    """(classes, libs) of the peers, built if the pom or a source changed. One build at a
    time (a lock file): two peers started together in a fresh clone (the tests run in
    parallel) would otherwise delete each other's half-made build."""
    BUILD.parent.mkdir(parents=True, exist_ok=True)
    with open(BUILD.parent / "bench-kstreams.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build()


def _build() -> tuple[Path, Path]:
    sources = [HERE / "pom.xml", *sorted(HERE.glob("*.java"))]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
    classes, libs, marker = BUILD / "classes", BUILD / "libs", BUILD / ".built"
    if marker.is_file() and marker.read_text() == digest:
        return classes, libs
    mvn, javac = shutil.which("mvn"), shutil.which("javac")
    if mvn is None or javac is None:
        raise SystemExit("the Kafka Streams peer needs Maven (mvn) and a JDK (javac)")
    shutil.rmtree(BUILD, ignore_errors=True)
    print(f"building the Kafka Streams peer in {BUILD} ...", file=sys.stderr, flush=True)
    # Maven reports its errors on stdout, which is the peer's result line: to stderr.
    subprocess.run([mvn, "-B", "-q", "-f", str(HERE / "pom.xml"), "dependency:copy-dependencies",
                    f"-DoutputDirectory={libs}", "-DincludeScope=runtime"], check=True,
                   stdout=sys.stderr)
    subprocess.run([javac, "-d", str(classes), "-cp", f"{libs}{os.sep}*",
                    *(str(p) for p in sources[1:])], check=True, stdout=sys.stderr)
    marker.write_text(digest)
    return classes, libs


def java(main_class: str, *args: str) -> None:
    """Become the JVM running ``main_class`` of the built peers."""
    classes, libs = build()
    java = shutil.which("java") or "java"
    sys.stdout.flush()
    os.execv(java, [java, "-Xmx1g", "-cp", f"{classes}{os.pathsep}{libs}{os.sep}*",
                    main_class, *args])  # its result line is this process's stdout


def main() -> None:
    args = peer_arguments()
    argv = [args.bootstrap, args.topic, str(args.events), args.statedir]
    if args.dump:
        argv += ["--dump", args.dump]
    java("NaivePeer", *argv)


if __name__ == "__main__":
    main()
