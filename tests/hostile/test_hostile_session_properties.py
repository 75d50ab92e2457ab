"""Hostile requests against property sources (issue 24): oversized, malformed,
repeated and too many values, through both middlewares.

Each row runs through the ASGI and the WSGI middleware configured to read
properties from every source, compared with the same echo app run bare: the
app's response and every byte it received are exactly as without us; the
session it ran in holds at most ``MAX_PROPERTIES`` properties, each valid under
the one rule; and no log record echoes the injected marker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from _hostile import (
    MARKER,
    Comparison,
    RawRequest,
    echo_asgi,
    echo_wsgi,
    is_valid_id,
    records_leaking,
    run_asgi,
    run_wsgi,
)

from otel_genai_session import get_session_context
from otel_genai_session.attributes import PROPERTY_PREFIX
from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware
from otel_genai_session.session import MAX_PROPERTIES, PROPERTY_KEY_PATTERN

M = MARKER.encode()
ARM = PROPERTY_PREFIX + "arm"
OPTIONS: dict[str, Any] = {
    "header_mapping": {"X-Session-ID": "session_id", "X-Arm": "property:arm"},
    "cookie_mapping": {"arm": "property:arm", "plan": "property:plan"},
    "query_mapping": {"arm": "property:arm", "channel": "property:channel"},
    "body_mapping": {"arm": "property:arm", "meta.agent": "property:agent"},
    "baggage_mapping": {ARM: "property:arm", PROPERTY_PREFIX + "plan": "property:plan"},
}
Properties = dict[str, str]


def recording(app: Callable[..., Any], seen: list[Properties]) -> Callable[..., Any]:
    """``app``, noting the properties of the session it runs in."""

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(get_session_context().properties))
        await app(scope, receive, send)

    def wsgi(environ: Any, start_response: Any) -> Any:
        seen.append(dict(get_session_context().properties))
        return app(environ, start_response)

    return asgi if app is echo_asgi else wsgi


def through(
    protocol: str, request: RawRequest, options: dict[str, Any]
) -> tuple[Comparison, Properties]:
    seen: list[Properties] = []
    if protocol == "asgi":
        wrapped = GenAISessionMiddleware(recording(echo_asgi, seen), **options)
        comparison = Comparison(run_asgi(echo_asgi, request), run_asgi(wrapped, request))
    else:
        middleware = SessionWSGIMiddleware(recording(echo_wsgi, seen), **options)
        comparison = Comparison(
            run_wsgi(echo_wsgi, request.environ()), run_wsgi(middleware, request.environ())
        )
    (properties,) = seen
    return comparison, properties


def get(*headers: tuple[bytes, bytes], query: bytes = b"") -> RawRequest:
    return RawRequest(method="GET", query=query, headers=headers)


def post(body: bytes, *headers: tuple[bytes, bytes]) -> RawRequest:
    length = str(len(body)).encode()
    all_headers = (*headers, (b"content-type", b"application/json"), (b"content-length", length))
    return RawRequest(method="POST", headers=all_headers, body=(body,))


LONG = b"x" * 190 + M + b"y" * 100
CASES = [
    pytest.param(get((b"x-arm", LONG)), {}, id="header-oversized"),
    pytest.param(get((b"x-arm", M + b"\x1b[31m")), {}, id="header-escape-sequence"),
    pytest.param(get((b"x-arm", M + b"\xff\xfe")), {}, id="header-not-utf8"),
    pytest.param(get((b"x-arm", M + b"-1"), (b"x-arm", M + b"-2")), {}, id="header-conflict"),
    pytest.param(get((b"x-arm", b",".join([b"a"] * 100))), {"arm": "a"}, id="header-list"),
    pytest.param(get((b"x-arm", b",".join([b"a"] * 10_000))), {}, id="header-list-too-long"),
    pytest.param(
        get((b"x-arm", b",".join(M + str(i).encode() for i in range(5_000)))),
        {},
        id="header-long-list",
    ),
    pytest.param(
        get((b"cookie", b"; ".join(b"plan=" + M + str(i).encode() for i in range(2_000)))),
        {"plan": MARKER + "0"},
        id="cookie-repeated-first-wins",
    ),
    pytest.param(get((b"cookie", b"plan=" + LONG)), {}, id="cookie-oversized"),
    pytest.param(get(query=b"channel=" + M + b"1&channel=" + M + b"2"), {}, id="query-conflict"),
    pytest.param(get(query=b"channel=%00" + M), {}, id="query-nul"),
    pytest.param(
        get(query=b"&".join([b"x=1"] * 20_000) + b"&channel=web"),
        {"channel": "web"},
        id="query-many-pairs",
    ),
    pytest.param(post(json.dumps({"arm": {"nested": MARKER}}).encode()), {}, id="body-object"),
    pytest.param(post(json.dumps({"arm": [MARKER] * 1000}).encode()), {}, id="body-list"),
    pytest.param(post(json.dumps({"arm": MARKER * 1000}).encode()), {}, id="body-oversized"),
    pytest.param(
        post(json.dumps({"meta": {"agent": MARKER + "\u202e"}}).encode()), {}, id="body-bidi"
    ),
    pytest.param(post(b"[" * 100_000 + b"]" * 100_000), {}, id="body-deep-nesting"),
    pytest.param(
        get((b"baggage", b",".join(ARM.encode() + b"=" + M + str(i).encode() for i in range(179)))),
        {"arm": MARKER + "178"},
        id="baggage-many-members-last-wins",
    ),
    pytest.param(
        get((b"baggage", ARM.encode() + b"=" + b"%41" * 300 + M)), {}, id="baggage-oversized"
    ),
    pytest.param(
        get((b"baggage", ARM.encode() + b"=" + M + b"%0A" + M)), {}, id="baggage-encoded-newline"
    ),
    pytest.param(
        get((b"baggage", b"otel_genai_session.property.a%0Ab=" + M)), {}, id="baggage-bad-key"
    ),
    pytest.param(
        get((b"baggage", (PROPERTY_PREFIX + "plan").encode() + b"=" + M * 1200)),
        {},
        id="baggage-member-over-limit",
    ),
    pytest.param(
        get(
            (b"x-session-id", b"conv-1"),
            (b"x-arm", b"from-header"),
            (b"cookie", b"arm=from-cookie; plan=pro"),
            (b"baggage", ARM.encode() + b"=from-baggage"),
            query=b"arm=from-query&channel=web",
        ),
        {"arm": "from-header", "plan": "pro", "channel": "web"},
        id="precedence-kept",
    ),
]


@pytest.mark.parametrize(("request_", "expected"), CASES)
@pytest.mark.parametrize("protocol", ["asgi", "wsgi"])
def test_hostile_property_sources_are_transparent_and_bounded(
    request_: RawRequest,
    expected: Properties,
    protocol: str,
    genai_logs: pytest.LogCaptureFixture,
) -> None:
    comparison, properties = through(protocol, request_, OPTIONS)
    comparison.assert_transparent()
    assert comparison.wrapped.status == comparison.bare.status
    assert properties == expected
    assert len(properties) <= MAX_PROPERTIES
    for key, value in properties.items():
        assert PROPERTY_KEY_PATTERN.fullmatch(key) and is_valid_id(value)
    assert records_leaking(genai_logs.records, [MARKER]) == []


@pytest.mark.parametrize("protocol", ["asgi", "wsgi"])
def test_a_hook_flooding_properties_is_bounded_and_its_keys_never_logged(
    protocol: str, genai_logs: pytest.LogCaptureFixture
) -> None:
    def hook(request: object) -> dict[str, object]:
        flood: dict[str, object] = {f"property:{MARKER}{i}": "v" for i in range(5_000)}
        flood[f"property:{MARKER} bad key"] = "v"
        flood[f"property:{MARKER}.long"] = MARKER * 100
        flood["property:obj"] = object()
        return flood

    comparison, properties = through(protocol, get(), {"extract": hook})
    comparison.assert_transparent()
    assert list(properties) == [f"{MARKER}{i}" for i in range(MAX_PROPERTIES)]
    assert records_leaking(genai_logs.records, [MARKER]) == []
