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

import pytest
from _hostile import OPTIONS, RawRequest, check_request
from _strategies import requests
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.slow

EXAMPLES = 1000


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
    sources = {"header_mapping", "cookie_mapping", "query_mapping", "body_mapping"}
    assert sources | {"baggage_mapping"} <= set(OPTIONS)
