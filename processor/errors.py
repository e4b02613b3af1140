"""Every error carrierwatch raises on purpose, under one root.

``cli.main`` catches ``CarrierwatchError`` once: it prints ``carrierwatch <command>: <the
message>`` on one line (then ``details``, one per line, if any) and exits with the class's
``exit_code``, so scripts can tell a bad setting from a broker that is down. Anything else
is a bug and keeps its traceback. Importable from every layer: it imports nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

EXIT_FAIL = 1  # the command ran and failed, or found what it checks for wrong
EXIT_USAGE = 2  # a flag or a setting is wrong (argparse's code for usage errors)
EXIT_BROKER = 3  # the Kafka cluster cannot be reached or refused us
EXIT_INPUT = 4  # an input file (registry, recorded traffic, mapping) cannot be used
EXIT_UNKNOWN_CARRIER = 5  # the worker knows no such carrier


class CarrierwatchError(Exception):
    """The root. ``details``: more lines for the operator (e.g. every problem of a file)."""

    exit_code = EXIT_FAIL

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.details = list(details)


class SettingsError(CarrierwatchError, ValueError):
    """A setting has a value the processor cannot run with; the message names the
    variable."""

    exit_code = EXIT_USAGE


class UsageError(CarrierwatchError, ValueError):
    """A command's flags do not go together, or one has a value it cannot take."""

    exit_code = EXIT_USAGE


class BrokerUnreachable(CarrierwatchError):
    """The Kafka cluster did not answer (or refused the connection: TLS, SASL)."""

    exit_code = EXIT_BROKER


class BadInputFile(CarrierwatchError, ValueError):
    """A file given to a command cannot be used; nothing was done with it."""

    exit_code = EXIT_INPUT


class UnknownCarrier(CarrierwatchError):
    """The worker's API has no carrier of that id."""

    exit_code = EXIT_UNKNOWN_CARRIER


class InvalidInput(CarrierwatchError):
    """One input message or packet is unusable (dead-lettered or counted, never fatal):
    ``kind`` is its machine code, the message the detail."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
