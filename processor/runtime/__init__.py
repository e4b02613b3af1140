"""The worker process: the Faust app, its tables, the loop that drives the engine on
assignment, revocation and shutdown, and the web adapter. The only layer importing Faust;
every private Faust name it touches is listed in ``faust_internals.py``."""
