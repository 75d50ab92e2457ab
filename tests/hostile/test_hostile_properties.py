"""Property-based: for any generated request, both middlewares are invisible.

For every example, through the ASGI and the WSGI middleware, each compared with
the bare echo app: the app receives byte-identical input and meets the same
transport errors, the response is unchanged, every accepted id satisfies the
validation rule, ASGI and WSGI accept the same ids, and no log record echoes
client bytes. A small oracle pins the top-precedence source: one valid
``X-Session-ID`` line is always the session id.

Bounded for CI (derandomized, no example database); scripts/fuzz.py runs the
same check with many more examples.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from _hostile import (
    MARKER,
    OPTIONS,
    Ids,
    RawRequest,
    compare_asgi,
    compare_wsgi,
    is_valid_id,
    records_leaking,
)
from _strategies import requests
from hypothesis import HealthCheck, given, settings

from opentelemetry.util.genai import _validation

EXAMPLES = 1000


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def captured_logs() -> Iterator[list[logging.LogRecord]]:
    logger = logging.getLogger("opentelemetry")
    handler = _Records()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def expected_session_from_header(request: RawRequest) -> str | None:
    """The one case the oracle decides: exactly one ``x-session-id`` line, whose
    value is UTF-8 without commas and valid once stripped, wins over all."""
    lines = [value for name, value in request.headers if name == b"x-session-id"]
    if len(lines) != 1 or b"," in lines[0]:
        return None
    try:
        text = lines[0].decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    return text if is_valid_id(text) else None


def check_request(request: RawRequest) -> Ids:
    """Every property, for one request; returns the accepted ids."""
    _validation._reported.clear()  # so every cause is logged and inspected
    with captured_logs() as records:
        asgi = compare_asgi(request)
        wsgi = compare_wsgi(request)
    asgi.assert_transparent()
    wsgi.assert_transparent()
    assert asgi.wrapped.session == wsgi.wrapped.session
    for value in asgi.wrapped.session:
        assert value is None or is_valid_id(value), value
    expected = expected_session_from_header(request)
    if expected is not None:
        assert asgi.wrapped.session[0] == expected
    assert records_leaking(records, [MARKER]) == []
    assert all(record.levelno < logging.ERROR for record in records)
    return asgi.wrapped.session


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(request=requests())
def test_any_request_is_transparent_and_ids_are_valid(request: RawRequest) -> None:
    check_request(request)


def test_options_cover_every_source() -> None:
    """The properties mean something only if every source is configured."""
    assert {"header_mapping", "cookie_mapping", "query_mapping", "body_mapping"} <= set(OPTIONS)
