"""Attribute keys this package writes, in one place."""

from __future__ import annotations

from typing import Final

from opentelemetry.semconv._incubating.attributes.session_attributes import SESSION_ID
from opentelemetry.semconv._incubating.attributes.user_attributes import USER_HASH, USER_ID

__all__ = ["CUSTOMER_ID", "SESSION_ATTRIBUTE_KEYS", "SESSION_ID", "USER_HASH", "USER_ID"]

CUSTOMER_ID: Final = "customer.id"
"""Tenant/customer id. Not (yet) a semantic convention; see docs/configuration.md."""

SESSION_ATTRIBUTE_KEYS: Final = (SESSION_ID, USER_ID, CUSTOMER_ID)
"""Span attribute keys, in the order of :class:`SessionContext`'s fields."""
