"""The batch-native hot path: read input in batches, fold each carrier's events through one
carrier step into the record cache, flush state, changelog and output records once per key
per interval, commit what is durable.

No Faust, no RocksDB: it is given tables (``state.Table``), a sink and a registry
(``ports.py``) and a clock, so all of it runs in unit tests on memory (``memory.py``,
``tests/harness.py``). Imports ``io`` and ``domain``."""
