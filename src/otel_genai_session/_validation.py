"""The one rule every id passes, however it enters: API, env var or request.

Dropped values are reported once per cause, naming where they came from but
never echoing them: they may be client-controlled bytes (CWE-117).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Final
from uuid import UUID

__all__ = ["DEFAULT_MAX_ID_LENGTH", "clean_id", "field_mapping", "logger", "warn_once"]

logger: Final = logging.getLogger("otel_genai_session")

DEFAULT_MAX_ID_LENGTH: Final = 200

DROPPED_ID: Final = "Dropped %s from %s: %s"
NOT_TEXT: Final = "not a string, int or UUID"
EMPTY: Final = "empty after stripping whitespace"
TOO_LONG: Final = "longer than %d characters"
NOT_PRINTABLE: Final = "contains control, format or other non-printable characters"

_reported: set[tuple[object, ...]] = set()
_reported_lock = threading.Lock()


def warn_once(message: str, *args: object) -> None:
    """Log ``message % args`` at WARNING the first time this exact pair is seen.

    Only pass configuration-derived arguments (field, source, reason), never
    request data, so the set of causes stays small and logs stay safe.
    """
    key = (message, *args)
    if key in _reported:
        return
    with _reported_lock:
        if key in _reported:
            return
        _reported.add(key)
    logger.warning(message, *args)


def clean_id(
    value: object, field: str, source: str, max_length: int = DEFAULT_MAX_ID_LENGTH
) -> str | None:
    """Return ``value`` as a valid id, or None (and warn once) if it is not one.

    Valid: a ``str`` (``int`` and ``UUID`` are converted) that, once stripped,
    has 1 to ``max_length`` characters, all printable in the sense of
    :meth:`str.isprintable`. That rejects control characters (CR, LF, NUL),
    bidi and zero-width format characters, lone surrogates, private-use and
    unassigned code points, and any space but U+0020.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, (int, UUID)) and not isinstance(value, bool):
        if isinstance(value, int) and value.bit_length() > 4 * max_length:
            warn_once(DROPPED_ID, field, source, TOO_LONG % max_length)
            return None
        text = str(value)
    else:
        warn_once(DROPPED_ID, field, source, NOT_TEXT)
        return None
    if not text:
        warn_once(DROPPED_ID, field, source, EMPTY)
        return None
    if len(text) > max_length:
        warn_once(DROPPED_ID, field, source, TOO_LONG % max_length)
        return None
    if not text.isprintable():
        warn_once(DROPPED_ID, field, source, NOT_PRINTABLE)
        return None
    return text


def field_mapping(
    option: str,
    mapping: object,
    fields: Sequence[str],
    other: tuple[Callable[[object], bool], str] | None = None,
) -> dict[str, str]:
    """``mapping`` (``{name: field}``, e.g. a middleware's ``header_mapping`` or the
    LangChain ``metadata_keys``) as a dict, once checked: a mapping (else
    ``TypeError``) of non-empty strings (else ``TypeError``) to one of ``fields``
    or, given ``other`` (a test and its description), a field it accepts (else
    ``ValueError``), each error naming ``option``."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{option} must be a mapping of name to field, not {mapping!r}")
    result: dict[str, str] = {}
    for name, field in mapping.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{option}: names must be non-empty strings, not {name!r}")
        if field not in fields and (other is None or not other[0](field)):
            expected = f"one of {', '.join(fields)}"
            if other is not None:
                expected += f" or {other[1]}"
            raise ValueError(f"{option}: unknown field {field!r} for {name!r}; expected {expected}")
        result[name] = field
    return result
