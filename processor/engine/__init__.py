"""The batch-native hot path: read input in batches, fold it into the record cache, flush
state, changelog and output records once per key per interval, commit what is durable.

No Faust: it is given tables (``state.Table``) and a producer, so all of it runs in unit
tests over real RocksDB. Imports ``io`` and ``domain``."""
