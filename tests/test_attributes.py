"""The attribute keys we write are the semantic conventions' own."""

from __future__ import annotations

from opentelemetry.semconv._incubating.attributes import session_attributes, user_attributes

from otel_genai_session import attributes


def test_session_and_user_keys_are_the_conventions() -> None:
    assert attributes.SESSION_ID == session_attributes.SESSION_ID
    assert attributes.USER_ID == user_attributes.USER_ID
    assert attributes.USER_HASH == user_attributes.USER_HASH


def test_session_attribute_keys_follow_the_session_fields() -> None:
    assert attributes.SESSION_ATTRIBUTE_KEYS == ("session.id", "user.id", "customer.id")
