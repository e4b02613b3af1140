"""carrierwatch: per-carrier SIP response monitoring on Kafka, Faust and RocksDB.

The package is in layers; a module imports only from its own layer and the ones below it
(``make lint`` checks this with import-linter, ``pyproject.toml``):

- ``tools``: the ``carrierwatch`` command and what only it uses (replay, report, traffic
  generator, local broker, topic admin).
- ``runtime``: the worker process; the only layer that imports Faust.
- ``ops``: what operators read: Prometheus metrics and the HTTP API's answers.
- ``engine``: the batch pipeline, record cache, commit rule and producer; no Faust.
- ``io``: bytes in and out: the input codec, stored value formats, partitioning, Kafka
  client options.
- ``domain``: the rules themselves (counter, consistency, windows, dedup, alerts), pure.

``settings.py`` sits beside them: one frozen settings object every layer may read, except
the domain, which is given what it needs.
"""
