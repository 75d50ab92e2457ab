"""Attribute keys this package writes, in one place.

``session.id``, ``user.id`` and ``user.hash`` are OpenTelemetry semantic
conventions; they are spelled out here rather than imported from the semconv
package's private ``_incubating`` modules, and ``tests/test_attributes.py``
holds them equal to the conventions.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CUSTOMER_ID",
    "GEN_AI_ASSOCIATION_PROPERTIES_PREFIX",
    "GEN_AI_CONVERSATION_ID",
    "SESSION_ATTRIBUTE_KEYS",
    "SESSION_ID",
    "USER_HASH",
    "USER_ID",
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

GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
"""The GenAI conventions' conversation id: the session id, where the application
opts in (``conversation_id_from_session``) or names it (``genai_context``)."""

GEN_AI_ASSOCIATION_PROPERTIES_PREFIX: Final = "gen_ai.association.properties"
"""Splunk's prefix for an invocation's ``association_properties``: each is
exported as ``gen_ai.association.properties.<key>`` (not a semantic convention)."""
