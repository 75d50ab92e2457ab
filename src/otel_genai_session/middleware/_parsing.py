"""Parsers for the request bytes the middlewares look into.

Each is tolerant: malformed input yields nothing for that part and never
raises, and a parser that fails says why once (never echoing the bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Final, cast

from otel_genai_session._validation import warn_once

__all__ = ["BODY_NOT_PARSED", "INVALID", "cookie_pairs", "is_json", "load_json", "query_pairs"]

BODY_NOT_PARSED: Final = "JSON body not used for ids: %s"


def cookie_pairs(raw: bytes) -> Iterable[tuple[bytes, bytes]]:
    """``name=value`` pairs of a Cookie header, skipping malformed ones.

    Unlike ``http.cookies.SimpleCookie``, one bad pair does not lose the others.
    Surrounding double quotes are removed. Pairs are separated by ``;`` or ``,``
    (RFC 2965; WSGI servers join repeated Cookie lines with ``,``; RFC 6265
    values never contain one).
    """
    for chunk in raw.replace(b",", b";").split(b";"):
        name, sep, value = chunk.partition(b"=")
        if sep:
            value = value.strip()
            if len(value) >= 2 and value[:1] == b'"' and value[-1:] == b'"':
                value = value[1:-1]
            yield name.strip(), value


def query_pairs(raw: bytes) -> Iterable[tuple[bytes, bytes]]:
    """Percent-decoded ``name=value`` pairs of a query string, ``+`` as space."""
    from urllib.parse import unquote_to_bytes

    for chunk in raw.split(b"&"):
        name, _, value = chunk.partition(b"=")
        if name:
            yield (
                unquote_to_bytes(name.replace(b"+", b" ")),
                unquote_to_bytes(value.replace(b"+", b" ")),
            )


# A service sees a handful of distinct content types, so verdicts are cached;
# only for short values, as the header is client bytes (at most ~24 KiB held).
_CACHED_CONTENT_TYPES: Final = 64
_LONGEST_CACHED: Final = 256


def is_json(content_type: bytes) -> bool:
    """``application/json`` or any ``+json`` type, in UTF-8 (the default)."""
    if len(content_type) > _LONGEST_CACHED:
        return _is_json(content_type)
    return _cached_is_json(content_type)


def _is_json(content_type: bytes) -> bool:
    mime, _, parameters = content_type.partition(b";")
    mime = mime.strip().lower()
    if mime != b"application/json" and not (mime.endswith(b"+json") and b"/" in mime):
        return False
    for parameter in parameters.split(b";"):
        key, _, value = parameter.partition(b"=")
        if key.strip().lower() == b"charset":
            return value.strip().strip(b'"').lower() in (b"utf-8", b"utf8")
    return True


_cached_is_json: Final = lru_cache(maxsize=_CACHED_CONTENT_TYPES)(_is_json)

INVALID: Final = object()


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _choose_parser() -> Callable[[bytes | memoryview], object]:
    """orjson (the [orjson] extra) when installed, else the standard library;
    chosen on the first body, so neither is imported by servers that read none."""
    try:
        from orjson import loads

        return cast("Callable[[bytes | memoryview], object]", loads)
    except ImportError:  # pragma: no cover - depends on the environment
        import json

        def stdlib_loads(body: bytes | memoryview) -> object:
            # Decode first: json.loads(bytes) would also accept UTF-16/32,
            # which no client declaring JSON in UTF-8 sends. Same rules as
            # orjson otherwise: no NaN/Infinity.
            return cast(object, json.loads(str(body, "utf-8"), parse_constant=_reject_constant))

        return stdlib_loads


_loads: Callable[[bytes | memoryview], object] | None = None


def load_json(body: bytes | memoryview) -> object:
    """The parsed body, or ``INVALID`` (reported once per cause)."""
    global _loads
    if _loads is None:
        _loads = _choose_parser()
    try:
        return _loads(body)
    except RecursionError:
        warn_once(BODY_NOT_PARSED, "nested too deeply")
    except ValueError:  # invalid JSON or UTF-8, ints over the digit limit
        warn_once(BODY_NOT_PARSED, "invalid JSON")
    return INVALID
