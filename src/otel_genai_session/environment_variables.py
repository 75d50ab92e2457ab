"""Environment variables read by ``otel_genai_session``.

Each constant's value is its own name, so ``os.environ[OTEL_...]`` reads the
variable it documents. Values are read when they are needed, not cached, so a
change made at run time takes effect on the next span.
"""

from __future__ import annotations

__all__ = [
    "OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION",
    "OTEL_INSTRUMENTATION_GENAI_CONVERSATION_ID_FROM_SESSION",
    "OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID",
    "OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES",
    "OTEL_INSTRUMENTATION_GENAI_SESSION_ID",
    "OTEL_INSTRUMENTATION_GENAI_SESSION_METRIC_ATTRIBUTES",
    "OTEL_INSTRUMENTATION_GENAI_SESSION_PROPERTY_PREFIX",
    "OTEL_INSTRUMENTATION_GENAI_USER_ID",
    "OTEL_INSTRUMENTATION_GENAI_USER_ID_HASH_KEY",
]

OTEL_INSTRUMENTATION_GENAI_SESSION_ID = "OTEL_INSTRUMENTATION_GENAI_SESSION_ID"
"""Fallback ``session.id``: used when the session in effect (or the invocation) gives none.
"""

OTEL_INSTRUMENTATION_GENAI_USER_ID = "OTEL_INSTRUMENTATION_GENAI_USER_ID"
"""Fallback ``user.id``: used when the session in effect (or the invocation) gives none.
"""

OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID = "OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID"
"""Fallback ``customer.id``: used when the session in effect (or the invocation) gives none.
"""

OTEL_INSTRUMENTATION_GENAI_SESSION_METRIC_ATTRIBUTES = (
    "OTEL_INSTRUMENTATION_GENAI_SESSION_METRIC_ATTRIBUTES"
)
"""Comma-separated session attributes (``session.id``, ``user.id``,
``customer.id``, or a property's ``otel_genai_session.property.<key>``) to add
to GenAI metrics. Empty by default: ids are unbounded and would explode metric
cardinality.
"""

OTEL_INSTRUMENTATION_GENAI_CONVERSATION_ID_FROM_SESSION = (
    "OTEL_INSTRUMENTATION_GENAI_CONVERSATION_ID_FROM_SESSION"
)
"""``true`` mirrors the session id into ``gen_ai.conversation.id`` on GenAI
telemetry that has none of its own: the spans of ``TelemetryHandler``, and,
through ``SessionSpanProcessor`` and ``SessionLogRecordProcessor``, every GenAI
span (started with ``gen_ai.operation.name``, ``gen_ai.provider.name`` or
``gen_ai.system``: the official instrumentations' ``chat`` spans, for example)
and GenAI event (event name ``gen_ai.*``) of any instrumentation. A conversation
id an instrumentation sets is never replaced. Off by default, as the GenAI
conventions ask (instrumentations must not invent one; applications may add it
with processors). Read when the handler or processor is created, so also by the
zero-code instrumentor; a value other than ``true`` or ``false`` is logged once
and leaves it off. The ``conversation_id_from_session`` argument, when given,
wins.
"""

OTEL_INSTRUMENTATION_GENAI_USER_ID_HASH_KEY = "OTEL_INSTRUMENTATION_GENAI_USER_ID_HASH_KEY"
"""When set (read at import), user ids are exported as ``user.hash``, the hex
HMAC-SHA256 of the id under this key, and never as ``user.id``. See
:mod:`otel_genai_session.privacy`.
"""

OTEL_INSTRUMENTATION_GENAI_SESSION_PROPERTY_PREFIX = (
    "OTEL_INSTRUMENTATION_GENAI_SESSION_PROPERTY_PREFIX"
)
"""The attribute prefix of session properties (read once, at import):
``otel_genai_session.property.`` by default, so ``experiment`` is exported as
``otel_genai_session.property.experiment``. Lower-case dot-separated segments;
a trailing ``.`` is added when missing; an invalid value raises ``ValueError``
at import. E.g. ``langfuse.trace.metadata.`` or ``gen_ai.association.properties.``.
"""

OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES = (
    "OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES"
)
"""Comma-separated session property keys that may leave the process in the
``baggage`` header (read when the propagator is made). Empty by default: no
property leaves the process unless listed here (or given to
``SessionBaggagePropagator(properties=...)``).
"""

OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION = "OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION"
"""Splunk's switch for its GenAI context (:mod:`otel_genai_session.splunk_context`):
``false`` (or ``0``, ``no``, ``off``) stops ``TelemetryHandler`` from applying
the context of ``genai_context``/``set_genai_context`` to invocations (their
``conversation_id`` and ``association_properties``). On when unset or empty;
another value is logged once and is off, as in Splunk's package. Read on every
invocation started in such a context. The session itself (ids, properties) is
still exported by the processors.
"""
