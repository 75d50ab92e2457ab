"""Configuration messages that reach the console under ``opentelemetry-instrument``.

The instrumentor reports a bad variable while the application starts, before
the application sets up logging. By then the SDK's configurator may have put
its own ``LoggingHandler`` on the root logger (it does even with
``OTEL_LOGS_EXPORTER=none``), which stops Python's last-resort handler from
printing warnings: the line would reach no terminal and no pod log. So a
message no console handler would print is also written to stderr, once.

Usage::

    report(logging.WARNING, "%s=%r is ignored", name, value)
"""

from __future__ import annotations

import logging
import sys
from typing import Final

from otel_genai_session._validation import logger

__all__ = ["report"]

_CONSOLE_FORMAT: Final = logging.Formatter("%(levelname)s:%(name)s:%(message)s")


def report(level: int, message: str, *args: object) -> None:
    """Log ``message % args`` on the package's logger, and on stderr if no
    console handler would show it."""
    logger.log(level, message, *args)
    if logger.isEnabledFor(level) and not _console_sees(level):
        record = logger.makeRecord(logger.name, level, "(instrumentor)", 0, message, args, None)
        sys.stderr.write(_CONSOLE_FORMAT.format(record) + "\n")


def _console_sees(level: int) -> bool:
    """Whether a stream handler (or, with no handler at all, the last resort) prints it."""
    current: logging.Logger | None = logger
    handlers = 0
    while current is not None:
        for handler in current.handlers:
            handlers += 1
            if isinstance(handler, logging.StreamHandler) and level >= handler.level:
                return True
        current = current.parent if current.propagate else None
    last_resort = logging.lastResort
    return handlers == 0 and last_resort is not None and level >= last_resort.level
