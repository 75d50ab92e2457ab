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

    provider = trace.get_tracer_provider() if provider is None else provider
    try:
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        TracerProvider = None  # type: ignore[assignment,misc]
    if TracerProvider is None or not isinstance(provider, TracerProvider):
        logger.warning(
            NOT_AN_SDK_PROVIDER,
            "TracerProvider",
            type(provider).__name__,
            "SessionSpanProcessor",
            "TracerProvider",
        )
        return False
    _activate(provider, "SwitchableSpanProcessor", provider.add_span_processor)
    return True


def _instrument_logs(provider: Any) -> bool:
    from opentelemetry._logs import get_logger_provider

    provider = get_logger_provider() if provider is None else provider
    try:
        from opentelemetry.sdk._logs import LoggerProvider
    except ImportError:
        LoggerProvider = None  # type: ignore[assignment,misc]
    if LoggerProvider is None or not isinstance(provider, LoggerProvider):
        # Usual: logs are exported only when OTEL_LOGS_EXPORTER asks for it.
        logger.info(
            NOT_AN_SDK_PROVIDER,
            "LoggerProvider",
            type(provider).__name__,
            "SessionLogRecordProcessor",
            "LoggerProvider",
        )
        return False
    _activate(provider, "SwitchableLogRecordProcessor", provider.add_log_record_processor)
    return True


def _activate(provider: Any, kind: str, add: Any) -> None:
    from otel_genai_session import _switchable

    processor = _added.get(provider)
    if processor is None:
        processor = _added[provider] = getattr(_switchable, kind)()
        add(processor)
    processor.active = True
