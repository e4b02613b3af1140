"""carrierwatch: per-carrier SIP response monitoring on Kafka, Faust and RocksDB.

The package is in layers; a module imports only from its own layer and the ones below it
(``make lint`` checks this with import-linter, ``pyproject.toml``):

- ``cli``: the ``carrierwatch`` command; it starts everything below.
- ``investigate`` (replay and its report) and ``dev`` (the local broker, the traffic
  generator): run from the command line, never deployed.
- ``runtime`` (the worker process, the only layer that imports Faust) and ``collector``
  (the HEP collector): the deployed services. Neither imports the three above.
- ``admin``: what commands share with Kafka: topic admin, producing, reading topics, the
  registry import.
- ``ops``: what operators read: Prometheus metrics and the HTTP API's answers.
- ``engine``: the batch pipeline, record cache, commit rule and producer; no Faust.
- ``io``: bytes in and out: the input codec, stored value formats, partitioning, Kafka
  client options.
- ``domain``: the rules themselves (counter, consistency, windows, dedup, alerts), pure.

``settings.py`` sits beside them: one frozen settings object every layer may read, except
the domain, which is given what it needs; and ``errors.py``, the root of every error
raised on purpose.
"""
