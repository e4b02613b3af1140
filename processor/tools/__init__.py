"""The ``carrierwatch`` command line and what only it uses: topic admin, the local
broker, the traffic generator and producer, replay and its report, tail, the registry
import, the HTTP client and the HEP collector (``ingest hep``). May import every other
layer."""
