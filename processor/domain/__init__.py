"""The rules, pure: events in, state and records out; no I/O, no framework, no settings.

What a carrier's numbers mean lives here (the consecutive-failure counter, code
consistency, windows and summaries, the live 24 h ring, producer-duplicate detection,
alerts, the latest calls, the registry's profiles and rate cards) and nowhere else.
Imports only the standard library and itself."""
