"""SessionResolver: one resolution path, framework-agnostic.

Driven here through a plain dict standing for "a request", with its own
reader, to show that nothing in it knows ASGI or WSGI: the adapters' tests
(tests/middleware/asgi, tests/middleware/wsgi) cover every source and precedence on real requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_genai_session import SessionContext
from otel_genai_session.middleware._options import MiddlewareOptions
from otel_genai_session.middleware._resolver import BodyNeeded, SessionResolver

Request = dict[str, Any]


class DictReader:
    def query_string(self, request: Request) -> bytes:
        return request.get("query", b"")  # type: ignore[no-any-return]

    def path(self, request: Request) -> str:
        return request.get("path", "/")  # type: ignore[no-any-return]

    def method(self, request: Request) -> str:
        return request.get("method", "GET")  # type: ignore[no-any-return]

    def reads_unknown_length(self, request: Request, headers: Mapping[bytes, bytes]) -> bool:
        return False


def resolver(**options: Any) -> SessionResolver[Request]:
    return SessionResolver(MiddlewareOptions.from_keywords(**options), DictReader())


def header_values(options: MiddlewareOptions, **headers: bytes) -> list[bytes | str | None]:
    return [headers.get(name.decode().replace("-", "_")) for name in options.header_names()]


def test_headers_cookies_and_query_resolve_at_once_and_are_memoised() -> None:
    options = {"cookie_mapping": {"uid": "user_id"}, "query_mapping": {"t": "customer_id"}}
    resolve = resolver(**options)
    validated = MiddlewareOptions.from_keywords(**options)
    request = {"query": b"t=acme"}
    first = resolve.resolve(request, header_values(validated, x_session_id=b"s1", cookie=b"uid=u1"))
    again = resolve.resolve(request, header_values(validated, x_session_id=b"s1", cookie=b"uid=u1"))
    assert first.session == SessionContext("s1", "u1", "acme") and first.body is None
    assert again.session is first.session  # one resolution, served twice


def test_a_body_wanted_is_said_then_finished_by_the_adapter() -> None:
    resolve = resolver(body_mapping={"metadata.user": "user_id"})
    validated = MiddlewareOptions.from_keywords(body_mapping={"metadata.user": "user_id"})
    values = header_values(
        validated, x_session_id=b"s1", content_type=b"application/json", content_length=b"29"
    )
    so_far, body = resolve.resolve({"method": "POST"}, values)
    assert so_far == SessionContext(session_id="s1")
    assert isinstance(body, BodyNeeded) and (body.size, body.declared) == (29, True)
    final = resolve.with_body(body, b'{"metadata": {"user": "u-b"}}')
    assert final == SessionContext(session_id="s1", user_id="u-b")


def test_an_excluded_path_resolves_to_the_empty_session_unread() -> None:
    resolve = resolver(exclude_paths=["/healthz"])
    assert resolve.resolve({"path": "/healthz"}, [b"ignored"] * 4).session == SessionContext()


# The plain path (headers-only configurations resolve plain values in one pass)
# must give the general path's answer for every value, and leave the logging of
# what it drops to the general path. A cookie mapping no request uses sends the
# same headers through the general path.
_GENERAL = {"cookie_mapping": {"unused": "session_id"}}
_VALUES = [
    b"conv-1",
    b"  padded  ",
    b"a,b",
    b"same, same",
    b"",
    b"   ",
    b"x" * 200,
    b"x" * 201,
    b"tab\tinside",
    b"line\nbreak",
    "caf\u00e9".encode(),
    b"\xff\xfe",
    "\u202eevil".encode(),
]


def _as_given(values: list[bytes | str | None], as_text: bool) -> list[bytes | str | None]:
    """ASGI's bytes, or PEP 3333's latin-1 strings."""
    return [v.decode("latin-1") if as_text and isinstance(v, bytes) else v for v in values]


def test_the_plain_path_gives_the_general_paths_answer_for_every_value() -> None:
    plain, general = resolver(), resolver(**_GENERAL)
    options = MiddlewareOptions.from_keywords()
    general_options = MiddlewareOptions.from_keywords(**_GENERAL)
    for value in _VALUES:
        for other in (None, b"acme"):
            ids = {"x_session_id": value, "x_user_id": value, "x_tenant_id": value}
            if other is not None:
                ids["x_customer_id"] = other  # two headers for one field: the first in the mapping
            for as_text in (False, True):
                given = _as_given(header_values(general_options, **ids), as_text)
                expected = general.resolve({}, given)
                found = plain.resolve({}, _as_given(header_values(options, **ids), as_text))
                assert (found.session, found.session.attributes) == (
                    expected.session,
                    expected.session.attributes,
                ), value


def test_a_value_the_plain_path_refuses_is_still_dropped_and_logged(caplog: Any) -> None:
    from otel_genai_session import _validation

    _validation._reported.clear()  # logged once per cause: start from none
    resolve = resolver()
    options = MiddlewareOptions.from_keywords()
    with caplog.at_level("WARNING", logger="otel_genai_session"):
        found = resolve.resolve({}, header_values(options, x_session_id=b"s\x01", x_user_id=b"u"))
    assert found.session == SessionContext(user_id="u")
    messages = [record.getMessage() for record in caplog.records]
    assert any("session_id from header 'x-session-id'" in m for m in messages), messages
    assert not any("s\x01" in m for m in messages)
