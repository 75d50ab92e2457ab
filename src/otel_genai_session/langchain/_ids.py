"""Session ids that LangChain and LangGraph runs already carry in their metadata.

``config={"metadata": {"user_id": ...}}`` reaches every callback of the run
and of its children, and LangGraph copies ``config["configurable"]["thread_id"]``
into the metadata too. :class:`MetadataIds` reads them when a run starts, to
fill the fields the session in effect leaves empty: it never overrides it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from otel_genai_session._validation import clean_id, field_mapping
from otel_genai_session.session import SESSION_FIELDS

__all__ = ["DEFAULT_METADATA_KEYS", "Ids", "MetadataIds", "NO_IDS"]

Ids = tuple[str | None, str | None, str | None]
"""``(session_id, user_id, customer_id)``; None where not known."""

NO_IDS: Final[Ids] = (None, None, None)

DEFAULT_METADATA_KEYS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "session_id": "session_id",
        "conversation_id": "session_id",
        "thread_id": "session_id",
        "user_id": "user_id",
        "customer_id": "customer_id",
    }
)
"""Metadata key -> session field. For one field, earlier keys win."""


class MetadataIds:
    """Reads session ids from a run's metadata, with the keys given.

    Args:
        mapping: metadata key -> ``"session_id"`` | ``"user_id"`` |
            ``"customer_id"``; :data:`DEFAULT_METADATA_KEYS` when None. An
            empty mapping turns the feature off.
    """

    __slots__ = ("_keys",)

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        if mapping is None:
            mapping = DEFAULT_METADATA_KEYS
        per_field: list[list[tuple[str, str]]] = [[] for _ in SESSION_FIELDS]
        for key, field in field_mapping("metadata_keys", mapping, SESSION_FIELDS).items():
            # The warning names the key, never the value (it may be user input).
            per_field[SESSION_FIELDS.index(field)].append((key, f"LangChain metadata {key!r}"))
        self._keys = tuple(tuple(keys) for keys in per_field)

    def fill(self, ids: Ids, metadata: Mapping[str, Any] | None) -> Ids:
        """``ids`` with each None field taken from ``metadata`` when a valid id is there."""
        if not metadata:
            return ids
        values = list(ids)
        for index, keys in enumerate(self._keys):
            if values[index] is not None:
                continue
            field = SESSION_FIELDS[index]
            for key, source in keys:
                raw = metadata.get(key)
                if raw is not None:
                    value = clean_id(raw, field, source)
                    if value is not None:
                        values[index] = value
                        break
        return values[0], values[1], values[2]
