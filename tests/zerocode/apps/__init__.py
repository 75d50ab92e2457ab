"""Apps that never import otel_genai_session: sessions come from the instrumentor only.

Each handles ``GET /chat``: it starts a span of its own and logs a line (both
through OpenTelemetry's API and ``logging``, as any instrumented app does) and,
when ``DOWNSTREAM_URL`` is set, calls the next service's ``/chat`` with httpx.
"""
