"""The README's quick start as a script, run by opentelemetry-instrument.

argv[1]: "instrument" (the quick start as it is now: ``otel_genai_session.instrument()``)
or "own-provider" (as it was: the processor added to the script's own provider,
which the CLI's provider overrides, so nothing it adds is used).
"""

import sys

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import otel_genai_session
from otel_genai_session import session_context
from otel_genai_session.processor import SessionSpanProcessor

provider = TracerProvider()
if sys.argv[1] == "own-provider":
    provider.add_span_processor(SessionSpanProcessor())
trace.set_tracer_provider(provider)  # refused under the CLI: its provider stays
if sys.argv[1] == "instrument":
    otel_genai_session.instrument()

tracer = trace.get_tracer("quick-start")
session = session_context(session_id="conv-123", user_id="user-456", customer_id="acme")
with session, tracer.start_as_current_span("chat gpt-4o"):
    pass
