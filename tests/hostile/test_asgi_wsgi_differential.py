"""Differential: the same request bytes give the same session through both middlewares.

Issue 22, item 7. Each generated request goes through ``GenAISessionMiddleware``
(as an ASGI server delivers it: one header line per line) and
``SessionWSGIMiddleware`` (as a PEP 3333 server delivers it: repeated lines
joined with ``,``, latin-1 strings); the sessions the app sees must be equal.
Every source is on (headers, cookies, query, JSON body, baggage), and values
come from small pools so that repeats and conflicts, within a source and
between sources, are the common case rather than the rare one.

Bounded for CI (derandomized, no example database).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from _hostile import RawRequest, compare_asgi, compare_wsgi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = 200

IDS = ["a", "b", " a ", "a b", "", "%61", "x" * 201, "caf\u00e9", "\u4f1a\u8bdd"]
"""Values: repeats, blanks, an encoded 'a', over the length limit, non-ASCII."""

ID_HEADERS = [b"x-session-id", b"x-user-id", b"x-tenant-id"]
COOKIE_NAMES = ["sid", "uid", "other"]
QUERY_NAMES = ["session", "user", "tenant", "other"]
BAGGAGE_KEYS = ["session.id", "user.id", "customer.id", "other"]

ids = st.sampled_from(IDS)


@st.composite
def raw_value(draw: st.DrawFn) -> bytes:
    """An id as a header carries it: UTF-8, sometimes latin-1 or invalid bytes."""
    text = draw(ids)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "latin-1"]))
    data = text.encode(encoding, "replace")
    if draw(st.integers(0, 9)) == 0:
        data += b"\xff"
    return data


@st.composite
def cookie_line(draw: st.DrawFn) -> bytes:
    pairs = draw(st.lists(st.tuples(st.sampled_from(COOKIE_NAMES), raw_value()), max_size=3))
    separator = draw(st.sampled_from([b"; ", b";", b", "]))
    return separator.join(name.encode() + b"=" + value for name, value in pairs)


@st.composite
def baggage_line(draw: st.DrawFn) -> bytes:
    members = []
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(BAGGAGE_KEYS)).encode()
        value = draw(st.sampled_from(["a", "b", "%61", "a%20b", "caf%C3%A9", "", "a b", "%ff"]))
        suffix = draw(st.sampled_from([b"", b"", b";p=1", b" "]))
        members.append(key + b"=" + value.encode() + suffix)
    if draw(st.integers(0, 9)) == 0:
        members.append(b"malformed")
    return draw(st.sampled_from([b",", b", ", b" , "])).join(members)


@st.composite
def query_string(draw: st.DrawFn) -> bytes:
    pairs = draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES), ids), max_size=4))
    encoded = [
        name + "=" + value.replace("%", "%25").replace(" ", draw(st.sampled_from(["+", "%20"])))
        for name, value in pairs
    ]
    return "&".join(encoded).encode("utf-8")


@st.composite
def json_body(draw: st.DrawFn) -> bytes:
    document: dict[str, Any] = {}
    if draw(st.booleans()):
        document["session_id"] = draw(st.one_of(ids, st.integers(-5, 5), st.none()))
    if draw(st.booleans()):
        document["metadata"] = draw(
            st.one_of(st.fixed_dictionaries({"user_id": ids}), st.just("flat"))
        )
    if draw(st.booleans()):
        document["tenant"] = draw(ids)
    return json.dumps(document, ensure_ascii=draw(st.booleans())).encode("utf-8")


@st.composite
def requests(draw: st.DrawFn) -> RawRequest:
    headers: list[tuple[bytes, bytes]] = []
    for _ in range(draw(st.integers(0, 7))):
        kind = draw(st.sampled_from(["id", "id", "cookie", "baggage", "baggage"]))
        if kind == "id":
            headers.append((draw(st.sampled_from(ID_HEADERS)), draw(raw_value())))
        elif kind == "cookie":
            headers.append((b"cookie", draw(cookie_line())))
        else:
            headers.append((b"baggage", draw(baggage_line())))
    body = b""
    method = "GET"
    if draw(st.booleans()):
        method, body = "POST", draw(json_body())
        headers.append((b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(body)).encode()))
    order = draw(st.permutations(range(len(headers))))
    return RawRequest(
        method=method,
        query=draw(query_string()),
        headers=tuple(headers[i] for i in order),
        body=(body,) if body else (),
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(request=requests())
def test_asgi_and_wsgi_resolve_the_same_session(request: RawRequest) -> None:
    asgi = compare_asgi(request).wrapped.session
    wsgi = compare_wsgi(request).wrapped.session
    assert asgi == wsgi


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param([b"session.id=a", b"session.id=b", b"session.id=a"], "a", id="a-b-a"),
        pytest.param([b"session.id=a", b"session.id=a", b"session.id=b"], "b", id="a-a-b"),
        pytest.param([b"session.id=b,session.id=a", b"session.id=b"], "b", id="in-and-across"),
    ],
)
def test_repeated_baggage_lines_last_entry_wins_in_both(lines: list[bytes], expected: str) -> None:
    """Issue 22, case 8: ASGI joined only distinct lines and answered ``b`` for a-b-a."""
    request = RawRequest(headers=tuple((b"baggage", line) for line in lines))
    asgi = compare_asgi(request).wrapped.session
    wsgi = compare_wsgi(request).wrapped.session
    assert asgi[0] == wsgi[0] == expected
