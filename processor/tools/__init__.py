"""The ``carrierwatch`` command line and what only it uses: topic admin, the local
broker, the traffic generator and producer, replay and its report, tail, the registry
import and the HTTP client. May import every other layer."""
