"""The ``carrierwatch`` command line (``main.py``, its arguments in ``args.py``): the one
entry point for operators and developers. It starts the services (``runtime``,
``collector``), the investigations and the dev tools, and queries workers over HTTP
(``client.py``). Nothing imports it."""
