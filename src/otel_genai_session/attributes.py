"""Attribute keys this package writes, in one place.

``session.id``, ``user.id`` and ``user.hash`` are OpenTelemetry semantic
conventions; they are spelled out here rather than imported from the semconv
package's private ``_incubating`` modules, and ``tests/test_attributes.py``
holds them equal to the conventions.

A session's properties are exported as ``PROPERTY_PREFIX + key``. The default
prefix, ``otel_genai_session.property.``, is a namespace of this package's own:
the semantic conventions own ``session.*``, ``user.*`` and ``gen_ai.*`` and ask
custom attributes to keep to a namespace of their own, so no property can ever
shadow a standard attribute or one of our ids. A backend that reads another
peer's naming can have it with ``OTEL_INSTRUMENTATION_GENAI_SESSION_PROPERTY_PREFIX``
(read once, at import; an invalid value raises ``ValueError`` naming it), e.g.
``langfuse.trace.metadata.`` for Langfuse's trace metadata or
``gen_ai.association.properties.`` for Splunk's.
"""

from __future__ import annotations

import os
import re
from typing import Final

from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_SESSION_PROPERTY_PREFIX,
)

__all__ = [
    "CUSTOMER_ID",
    "DEFAULT_PROPERTY_PREFIX",
    "GEN_AI_ASSOCIATION_PROPERTIES_PREFIX",
    "GEN_AI_CONVERSATION_ID",
    "PROPERTY_PREFIX",
    "SESSION_ATTRIBUTE_KEYS",
    "SESSION_ID",
    "USER_HASH",
    "USER_ID",
    "property_attribute",
]

SESSION_ID: Final = "session.id"
"""The conversation (semantic convention ``session.id``)."""

USER_ID: Final = "user.id"
"""The end user (semantic convention ``user.id``)."""

USER_HASH: Final = "user.hash"
"""The end user's id, hashed (semantic convention ``user.hash``), when hashing is on."""

CUSTOMER_ID: Final = "customer.id"
"""Tenant/customer id. Not (yet) a semantic convention; see docs/configuration.md."""

SESSION_ATTRIBUTE_KEYS: Final = (SESSION_ID, USER_ID, CUSTOMER_ID)
"""Span attribute keys, in the order of :class:`SessionContext`'s fields."""

DEFAULT_PROPERTY_PREFIX: Final = "otel_genai_session.property."
"""The prefix of a session property's attribute when none is configured."""

_PREFIX: Final = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*\.")
_RESERVED: Final = ("otel.", "session.", "user.", "customer.")


def _configured_prefix(raw: str | None) -> str:
    """The prefix ``raw`` (the environment variable's value) gives, or ValueError."""
    if raw is None or not raw.strip():
        return DEFAULT_PROPERTY_PREFIX
    prefix = raw.strip()
    if not prefix.endswith("."):
        prefix += "."
    if not _PREFIX.fullmatch(prefix) or len(prefix) > 64 or prefix.startswith(_RESERVED):
        raise ValueError(
            f"{OTEL_INSTRUMENTATION_GENAI_SESSION_PROPERTY_PREFIX}={raw!r} is not a valid "
            "attribute prefix: expected up to 64 characters of lower-case dot-separated "
            "segments ([a-z][a-z0-9_]*), such as 'myapp.property.', and not under "
            f"{', '.join(_RESERVED)} (the ids' and OpenTelemetry's own)"
        )
    return prefix


PROPERTY_PREFIX: Final = _configured_prefix(
    os.environ.get(OTEL_INSTRUMENTATION_GENAI_SESSION_PROPERTY_PREFIX)
)
"""The prefix of every session property's attribute: ``PROPERTY_PREFIX + key``.
``DEFAULT_PROPERTY_PREFIX`` unless
``OTEL_INSTRUMENTATION_GENAI_SESSION_PROPERTY_PREFIX`` was set at import."""


def property_attribute(key: str) -> str:
    """The attribute (and baggage key) under which the property ``key`` is exported."""
    return PROPERTY_PREFIX + key


GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
"""The GenAI conventions' conversation id: the session id, where the application
opts in (``conversation_id_from_session``) or names it (``genai_context``)."""

GEN_AI_ASSOCIATION_PROPERTIES_PREFIX: Final = "gen_ai.association.properties"
"""Splunk's prefix for an invocation's ``association_properties``: each is
exported as ``gen_ai.association.properties.<key>`` (not a semantic convention)."""
