"""What operators and services read from a worker: Prometheus metrics (the only user of
prometheus_client), the HTTP API's answers and their text renderings. Framework-free:
``runtime/web.py`` serves them. Imports ``engine``, ``io`` and ``domain``."""
