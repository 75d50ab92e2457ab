"""The same raw request gives the same ids through the WSGI and the ASGI middleware.

ASGI hands the middleware raw header bytes, one entry per line; a WSGI server
hands it latin-1 strings with repeated lines joined by ``,``. Each case below
goes through both, built from the same wire bytes, and must give the same
(stated) result, not merely equal ones.
"""

from __future__ import annotations

from typing import Any

import pytest

from ._support import (
    RawHeaders,
    asgi_scope,
    make_environ,
    seen_by_asgi,
    seen_by_wsgi,
    session_dict,
)

LONG = b"s" * 8192

HEADER_CASES = [
    pytest.param([(b"X-Session-ID", b"plain")], "plain", id="plain"),
    pytest.param([(b"x-session-id", b"lower")], "lower", id="lower-case-name"),
    pytest.param([(b"X-Session-ID", b"a"), (b"X-Session-ID", b"a")], "a", id="repeated-same"),
    pytest.param([(b"X-Session-ID", b"a"), (b"X-Session-ID", b"b")], None, id="repeated-differ"),
    pytest.param([(b"X-Session-ID", b"a"), (b"X-Session-ID", b"")], "a", id="repeated-one-empty"),
    pytest.param([(b"X-Session-ID", b"a, a")], "a", id="one-line-list-same"),
    pytest.param([(b"X-Session-ID", b"a,b")], None, id="one-line-list-differ"),
    pytest.param([(b"X-Session-ID", b"\xff\xfe")], None, id="not-utf8"),
    pytest.param([(b"X-Session-ID", b"caf\xc3\xa9")], "caf\u00e9", id="utf8-e-acute"),
    pytest.param([(b"X-Session-ID", b"caf\xe9")], None, id="latin1-e-acute"),
    pytest.param([(b"X-Session-ID", b"\xe4\xbc\x9a\xe8\xa9\xb1")], "\u4f1a\u8a71", id="utf8-cjk"),
    pytest.param([(b"X-Session-ID", b"")], None, id="empty"),
    pytest.param([(b"X-Session-ID", b"   ")], None, id="whitespace"),
    pytest.param([(b"X-Session-ID", b"  padded\t")], "padded", id="padded"),
    pytest.param([(b"X-Session-ID", b"s" * 200)], "s" * 200, id="200-chars"),
    pytest.param([(b"X-Session-ID", b"s" * 201)], None, id="201-chars"),
    pytest.param([(b"X-Session-ID", LONG)], None, id="8kb"),
    pytest.param([(b"X-Session-ID", b"a\x00b")], None, id="nul"),
    pytest.param([(b"X-Session-ID", b"a\r\nb")], None, id="crlf"),
    pytest.param([(b"X-Session-ID", b"a\x7fb")], None, id="del"),
    pytest.param([(b"X-Session-ID", b"a\x1bb")], None, id="escape"),
    pytest.param([(b"X-Session-ID", b"a\xe2\x80\x8bb")], None, id="zero-width-space"),
    pytest.param([(b"X-Session-ID", b"a\xe2\x80\xaeb")], None, id="bidi-override"),
    pytest.param([(b"X-Session-ID", b"a\xc2\x85b")], None, id="c1-control"),
    pytest.param(
        [(b"X-Session-ID", b"\xff"), (b"X-Session-ID", b"\xff")], None, id="repeated-not-utf8"
    ),
]


@pytest.mark.parametrize(("headers", "expected"), HEADER_CASES)
def test_header_values(headers: RawHeaders, expected: str | None) -> None:
    wsgi = seen_by_wsgi(make_environ(headers=headers))
    asgi = seen_by_asgi(asgi_scope(headers=headers))

    assert wsgi.session_id == expected
    assert session_dict(wsgi) == session_dict(asgi)


@pytest.mark.parametrize(
    ("headers", "options", "expected"),
    [
        pytest.param(
            [(b"Cookie", b"sid=caf\xc3\xa9; uid=\xff")],
            {"cookie_mapping": {"sid": "session_id", "uid": "user_id"}},
            {"session_id": "caf\u00e9", "user_id": None, "customer_id": None},
            id="cookie-utf8-and-not",
        ),
        pytest.param(
            [(b"Cookie", b'a b; sid="x"; sid=y')],
            {"cookie_mapping": {"sid": "session_id"}},
            {"session_id": "x", "user_id": None, "customer_id": None},
            id="cookie-malformed-quoted-duplicate",
        ),
        pytest.param(
            [(b"X-Session-ID", b"s"), (b"X-User-ID", b"u"), (b"X-Customer-ID", b"c")],
            {},
            {"session_id": "s", "user_id": "u", "customer_id": "c"},
            id="all-default-headers",
        ),
        pytest.param(
            [(b"X-Tenant-ID", b"t"), (b"X-Customer-ID", b"c")],
            {},
            {"session_id": None, "user_id": None, "customer_id": "t"},
            id="tenant-before-customer",
        ),
    ],
)
def test_other_header_sources(
    headers: RawHeaders, options: dict[str, Any], expected: dict[str, str | None]
) -> None:
    wsgi = seen_by_wsgi(make_environ(headers=headers), **options)
    asgi = seen_by_asgi(asgi_scope(headers=headers), **options)

    assert session_dict(wsgi) == expected
    assert session_dict(asgi) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(b"sid=abc", "abc", id="plain"),
        pytest.param(b"sid=caf%C3%A9", "caf\u00e9", id="percent-utf8"),
        pytest.param(b"sid=caf\xc3\xa9", "caf\u00e9", id="raw-utf8"),
        pytest.param(b"sid=%FF", None, id="percent-not-utf8"),
        pytest.param(b"sid=\xff", None, id="raw-not-utf8"),
        pytest.param(b"sid=a+b", "a b", id="plus"),
        pytest.param(b"sid=a&sid=b", None, id="repeated-differ"),
        pytest.param(b"sid=%00", None, id="nul"),
        pytest.param(b"sid=", None, id="empty"),
    ],
)
def test_query_values(query: bytes, expected: str | None) -> None:
    options = {"query_mapping": {"sid": "session_id"}}

    wsgi = seen_by_wsgi(make_environ(query=query), **options)
    asgi = seen_by_asgi(asgi_scope(query=query), **options)

    assert wsgi.session_id == expected
    assert asgi.session_id == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b'{"s": "caf\xc3\xa9"}', "caf\u00e9", id="utf8"),
        pytest.param(b'{"s": "\\ud800"}', None, id="lone-surrogate"),
        pytest.param(b'{"s": 7}', "7", id="int"),
        pytest.param(b'{"s": true}', None, id="bool"),
        pytest.param(b'{"s": "a", "s": "b"}', "b", id="duplicate-last-wins"),
        pytest.param(b"\xef\xbb\xbf" + b'{"s": "bom"}', None, id="bom"),
        pytest.param(b'{"s": NaN}', None, id="nan"),
    ],
)
def test_json_body_values(body: bytes, expected: str | None) -> None:
    options = {"body_mapping": {"s": "session_id"}}
    headers = [(b"Content-Type", b"application/json"), (b"Content-Length", b"%d" % len(body))]

    wsgi = seen_by_wsgi(make_environ("POST", headers=headers, body=body), **options)
    asgi = seen_by_asgi(asgi_scope("POST", headers=headers), body=body, **options)

    assert wsgi.session_id == expected
    assert asgi.session_id == expected


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        pytest.param("/health", True, id="ascii"),
        pytest.param("/caf\u00e9", True, id="utf8-path"),
        pytest.param("/caf\u00e9/x", False, id="utf8-path-longer"),
    ],
)
def test_excluded_paths(path: str, excluded: bool) -> None:
    """ASGI gives the decoded path; WSGI its UTF-8 bytes as latin-1: same verdict."""
    options = {"exclude_paths": ["/health", "/caf\u00e9"]}
    headers = [(b"X-Session-ID", b"s")]

    wsgi = seen_by_wsgi(make_environ(path=path, headers=headers), **options)
    asgi = seen_by_asgi(asgi_scope(path=path, headers=headers), **options)

    expected = None if excluded else "s"
    assert wsgi.session_id == expected
    assert asgi.session_id == expected


def test_underscore_spelling_is_indistinguishable_in_wsgi() -> None:
    """``X_Session_ID`` and ``X-Session-ID`` both become HTTP_X_SESSION_ID in the
    environ, so a raw environ cannot tell them apart (documented). ASGI keeps the
    name as sent, so only the hyphen spelling matches there. Servers that drop
    underscore names (werkzeug's, gunicorn >= 22) close that gap: see
    test_wsgi_server.py."""
    headers = [(b"X_Session_ID", b"spoof")]

    assert seen_by_wsgi(make_environ(headers=headers)).session_id == "spoof"
    assert seen_by_asgi(asgi_scope(headers=headers)).session_id is None
