"""Re-exports :mod:`otel_genai_session.privacy` at its former path."""

from otel_genai_session.privacy import (
    disable_user_id_hashing,
    enable_user_id_hashing,
    user_id_attribute,
    user_id_hashing_enabled,
)

__all__ = [
    "disable_user_id_hashing",
    "enable_user_id_hashing",
    "user_id_attribute",
    "user_id_hashing_enabled",
]
