"""The HEP collector (``carrierwatch ingest hep``), a deployed service: mirrored SBC
traffic over UDP and TCP in, input events out. Under the layer rules like the worker: it
never imports the CLI, investigations or dev tools."""
