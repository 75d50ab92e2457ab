"""Our processors on the global OpenTelemetry providers, whoever set them up.

Under ``opentelemetry-instrument`` or the Kubernetes Operator the SDK's
providers are created before the application runs, and a second
``trace.set_tracer_provider(...)`` is refused (``Overriding of current
TracerProvider is not allowed``): a processor added to the application's own
provider lands on one nothing uses. :func:`instrument` adds
``SessionSpanProcessor`` to the global ``TracerProvider`` and
``SessionLogRecordProcessor`` to the global ``LoggerProvider``, whichever they
are, once each; the ``genai_session`` instrumentor calls it too, so calling it
in code as well is harmless.

Usage (after the application's own set-up, if it has one)::

    import otel_genai_session

    trace.set_tracer_provider(provider)   # refused under the CLI: its provider stays
    otel_genai_session.instrument()       # ids on the spans of the provider in use
"""

from __future__ import annotations

import importlib
import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Final

from otel_genai_session._validation import logger

__all__ = ["Instrumented", "instrument", "uninstrument"]

NOT_AN_SDK_PROVIDER: Final = (
    "The global %s is %s, not the OpenTelemetry SDK's: %s was not added "
    "(set an SDK %s first, or add the processor to the provider you use)"
)


@dataclass(frozen=True)
class Instrumented:
    """What :func:`instrument` found: whether each global provider now has our processor."""

    traces: bool
    logs: bool


_lock: Final = threading.Lock()
# provider -> the processor we added to it (switched off, not removed, by
# uninstrument(): the SDK has no way to remove a processor).
_added: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def instrument(tracer_provider: Any = None, logger_provider: Any = None) -> Instrumented:
    """Add the session processors to the global SDK providers, once each.

    A global provider that is not the SDK's (nothing set up yet, or another
    implementation) is left alone, and one log line says so. Never raises.

    Args:
        tracer_provider: a provider to use instead of the global one (as
            OpenTelemetry's instrumentors take it).
        logger_provider: likewise for log records.
    """
    with _lock:
        return Instrumented(
            traces=_instrument_traces(tracer_provider), logs=_instrument_logs(logger_provider)
        )


def uninstrument() -> None:
    """Switch off every processor :func:`instrument` added (spans and records are
    left as they are from then on); :func:`instrument` switches them on again."""
    with _lock:
        for processor in list(_added.values()):
            processor.active = False


def _instrument_traces(provider: Any) -> bool:
    from opentelemetry import trace

    if provider is None:
        provider = trace.get_tracer_provider()
    return _add(provider, _SPANS, logging.WARNING)


def _instrument_logs(provider: Any) -> bool:
    from opentelemetry._logs import get_logger_provider

    if provider is None:
        provider = get_logger_provider()
    # Not an SDK provider is usual for logs (only OTEL_LOGS_EXPORTER sets one up): INFO.
    return _add(provider, _LOGS, logging.INFO)


@dataclass(frozen=True)
class _Signal:
    """Where the SDK's provider class lives, and which of our processors it gets."""

    module: str
    provider: str
    processor: str
    add: str
    switchable: str


_SPANS: Final = _Signal(
    "opentelemetry.sdk.trace",
    "TracerProvider",
    "SessionSpanProcessor",
    "add_span_processor",
    "SwitchableSpanProcessor",
)
_LOGS: Final = _Signal(
    "opentelemetry.sdk._logs",
    "LoggerProvider",
    "SessionLogRecordProcessor",
    "add_log_record_processor",
    "SwitchableLogRecordProcessor",
)


def _add(provider: Any, signal: _Signal, level: int) -> bool:
    """Our processor on ``provider``, once, switched on; False (and a log line)
    when it is not the SDK's provider."""
    try:
        sdk_class = getattr(importlib.import_module(signal.module), signal.provider)
    except ImportError:
        sdk_class = None
    if sdk_class is None or not isinstance(provider, sdk_class):
        name = signal.provider
        logger.log(
            level, NOT_AN_SDK_PROVIDER, name, type(provider).__name__, signal.processor, name
        )
        return False
    from otel_genai_session import _switchable

    processor = _added.get(provider)
    if processor is None:
        processor = _added[provider] = getattr(_switchable, signal.switchable)()
        getattr(provider, signal.add)(processor)
    processor.active = True
    return True
