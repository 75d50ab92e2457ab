"""The OpenTelemetry SDK, which only the processors need: it is the ``sdk`` extra.

``import otel_genai_session`` never imports the SDK. The modules that subclass
its processors import it through :func:`missing_sdk`'s message, so that an
application without the SDK learns which extra to install.

Usage::

    try:
        from opentelemetry.sdk.trace import SpanProcessor
    except ImportError as error:
        raise ImportError(missing_sdk("SessionSpanProcessor")) from error
"""

from __future__ import annotations

__all__ = ["missing_sdk"]


def missing_sdk(feature: str) -> str:
    """The ImportError message for ``feature`` when the SDK cannot be imported."""
    return (
        f"{feature} needs the OpenTelemetry SDK (opentelemetry-sdk), which is not "
        "installed: pip install 'otel-genai-session[sdk]'"
    )
