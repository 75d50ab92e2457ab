"""FastAPI under ``opentelemetry-instrument`` (auto instrumentation).

The CLI (with ``opentelemetry-distro``) sets an SDK ``TracerProvider`` as the
global one and instruments FastAPI before this module is imported; the app
adds the session processor and the file exporter to that provider, which is
the set-up the docs recommend for auto-instrumented services.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from . import fastapi_app, tracing

provider = trace.get_tracer_provider()
if not isinstance(provider, TracerProvider):
    raise RuntimeError(f"expected the SDK provider set by opentelemetry-instrument, got {provider}")
tracing.add_file_export(provider)

outside = fastapi_app.build(provider, wrap=True)
"""Ours wrapping the instrumented app (recommended)."""
inside = fastapi_app.build(provider, wrap=False)
"""Ours added with ``add_middleware``: inside the instrumentation's middleware."""
