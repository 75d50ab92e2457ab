"""Misconfiguration fails at construction, with the option named (pitfall 12)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from otel_genai_session.middleware import GenAISessionMiddleware

from .support import BodyReadingApp, Receive, Scope, ScriptedReceive, Send, SendRecorder, http_scope

APP = BodyReadingApp()

BAD_OPTIONS = [
    pytest.param("header_mapping", {"X-Id": "sessionid"}, ValueError, id="unknown-field"),
    pytest.param("cookie_mapping", {"sid": "tenant"}, ValueError, id="unknown-field-cookie"),
    pytest.param("header_mapping", ["X-Session-ID"], TypeError, id="header-mapping-list"),
    pytest.param("cookie_mapping", "sid", TypeError, id="cookie-mapping-str"),
    pytest.param("query_mapping", {1: "session_id"}, TypeError, id="query-name-int"),
    pytest.param("query_mapping", {"": "session_id"}, TypeError, id="query-name-empty"),
    pytest.param("body_mapping", {"a..b": "user_id"}, ValueError, id="body-empty-part"),
    pytest.param("body_mapping", 3, TypeError, id="body-mapping-int"),
    pytest.param("header_mapping", {"X Session": "session_id"}, ValueError, id="header-name-space"),
    pytest.param("header_mapping", {"X-Sé": "session_id"}, ValueError, id="header-name-non-token"),
    pytest.param("extract", True, TypeError, id="extract-not-callable"),
    pytest.param("extract", "module.hook", TypeError, id="extract-str"),
    pytest.param("max_body_size", -1, TypeError, id="max-body-size-negative"),
    pytest.param("max_body_size", "1MB", TypeError, id="max-body-size-str"),
    pytest.param("max_body_size", 1.5, TypeError, id="max-body-size-float"),
    pytest.param("max_body_size", True, TypeError, id="max-body-size-bool"),
    pytest.param("max_value_length", 0, ValueError, id="max-value-length-0"),
    pytest.param("generate_session_id", "uuid", TypeError, id="generate-str"),
    pytest.param("response_header", "X Session", ValueError, id="response-header-space"),
    pytest.param("response_header", b"X-Session", ValueError, id="response-header-bytes"),
    pytest.param("exclude_paths", "/healthz", TypeError, id="exclude-str"),
    pytest.param("exclude_paths", 42, TypeError, id="exclude-int"),
    pytest.param("exclude_paths", ["healthz"], ValueError, id="exclude-no-slash"),
    pytest.param("exclude_paths", [b"/healthz"], ValueError, id="exclude-bytes"),
    pytest.param("header_map", {}, TypeError, id="unknown-option"),
]


@pytest.mark.parametrize(("option", "value", "error"), BAD_OPTIONS)
def test_misconfiguration_raises_at_construction(
    option: str, value: Any, error: type[Exception]
) -> None:
    """The message names the option, so the user knows what to fix."""
    with pytest.raises(error, match=re.escape(option)):
        GenAISessionMiddleware(APP, **{option: value})


def test_app_must_be_callable() -> None:
    with pytest.raises(TypeError, match="ASGI application"):
        GenAISessionMiddleware(None)  # type: ignore[arg-type]


GOOD_OPTIONS = [
    pytest.param({}, id="zero-config"),
    pytest.param({"header_mapping": {}}, id="no-headers"),
    pytest.param({"exclude_paths": ["/healthz", "/metrics*", re.compile(r"/x/\d+")]}, id="exclude"),
    pytest.param({"exclude_paths": ("/a",)}, id="exclude-tuple"),
    pytest.param({"max_body_size": 0, "body_mapping": {"a.b": "user_id"}}, id="body-size-0"),
    pytest.param({"generate_session_id": lambda: "x", "response_header": "X-Sid"}, id="generator"),
    pytest.param({"extract": None, "response_header": None}, id="explicit-none"),
]


@pytest.mark.parametrize("options", GOOD_OPTIONS)
def test_valid_configurations_construct(options: dict[str, Any]) -> None:
    GenAISessionMiddleware(APP, **options)


class Asgi2App:
    """An ASGI 2 ("double callable") app: the class is called with the scope."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Receive, send: Send) -> None:
        from otel_genai_session import get_session_context

        body = str(get_session_context().session_id).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


@pytest.mark.anyio
async def test_asgi2_app_is_adapted() -> None:
    """Pitfall 12: an ASGI 2 app either works or fails at construction; it works."""
    send = SendRecorder()
    middleware = GenAISessionMiddleware(Asgi2App)  # type: ignore[arg-type]
    await middleware(http_scope(headers=[(b"x-session-id", b"s1")]), ScriptedReceive(), send)
    assert send.types == ["http.response.start", "http.response.body"]
    assert send.messages[1]["body"] == b"s1"
