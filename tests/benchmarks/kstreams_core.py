"""The Kafka Streams core peer (``kstreams/CorePeer.java``): carrierwatch's core job in the
Kafka Streams DSL. Kafka Streams does not create the topics it writes to, so this creates
them, compacted, with the input's partition count, then runs the JVM.

    python -m tests.benchmarks.kstreams_core BOOTSTRAP TOPIC EVENTS STATEDIR
"""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, NewTopic

from tests.benchmarks.common import peer_arguments
from tests.benchmarks.kstreams_peer import java

OUTPUTS = ("kstreams-core-carriers", "kstreams-core-windows")


def create_outputs(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    partitions = len(admin.list_topics(topic, timeout=30).topics[topic].partitions)
    futures = admin.create_topics([NewTopic(f"{topic}.{name}", partitions, 1,
                                            config={"cleanup.policy": "compact"})
                                   for name in OUTPUTS])
    for future in futures.values():
        future.result(timeout=60)


def main() -> None:
    args = peer_arguments()
    create_outputs(args.bootstrap, args.topic)
    java("CorePeer", args.bootstrap, args.topic, str(args.events), args.statedir)


if __name__ == "__main__":
    main()
