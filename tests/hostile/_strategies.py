"""Hypothesis strategies for whole requests: headers, cookies, query, body, framing.

Shared by test_hostile_properties.py (bounded, in the default run) and
scripts/fuzz.py (long runs). Values mix valid ids, near-valid ones (spaces,
lengths around the limit), hostile text (controls, bidi, zero-width, lone
surrogates), random bytes and the log marker, so every validation branch and
every source's fallback is exercised.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_from_bytes

from _hostile import MARKER, RawRequest
from hypothesis import strategies as st

_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@"

HOSTILE_TEXT = [
    "",
    " ",
    "\t",
    "a b",
    " padded ",
    "\r\n",
    "x\r\nSet-Cookie: a=b",
    "\x00",
    "\x1b[2J",
    "\x7f",
    "\u202e",
    "\u200b",
    "\u00a0",
    "\ufeff",
    "\ud800",
    "é",
    "日本",
    "a,b",
    "a;b",
    '"q"',
    "%41",
    "+",
    "=",
    MARKER,
    MARKER + "\u202e",
    "a" * 199,
    "a" * 200,
    "a" * 201,
    "é" * 200,
]

valid_ids = st.text(_ID_ALPHABET, min_size=1, max_size=24)
texts = st.one_of(
    valid_ids,
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=12),
    st.builds(lambda a, b: a + b, valid_ids, st.sampled_from(HOSTILE_TEXT)),
)


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


raw_values = st.one_of(texts.map(_encode), st.binary(max_size=16))

ID_HEADERS = [b"x-session-id", b"x-user-id", b"x-tenant-id", b"x-customer-id"]
OTHER_HEADERS = [b"accept", b"x-request-id", b"x-session_id", b"user-agent"]


@st.composite
def cookie_headers(draw: st.DrawFn) -> bytes:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from([b"sid", b"uid", b"foo", b"", b" sid", b"SID"]))
        value = draw(raw_values)
        if draw(st.booleans()):
            value = b'"' + value + b'"'
        form = draw(st.sampled_from(["pair", "pair", "no-equals", "junk"]))
        if form == "pair":
            parts.append(name + b"=" + value)
        elif form == "no-equals":
            parts.append(name or b"flag")
        else:
            parts.append(draw(st.binary(max_size=8)))
    separator = draw(st.sampled_from([b"; ", b";", b" ; "]))
    return separator.join(parts)


@st.composite
def baggage_headers(draw: st.DrawFn) -> bytes:
    members = []
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from([b"session.id", b"user.id", b"customer.id", b"k", b"", b"a b"]))
        value = draw(raw_values)
        style = draw(st.sampled_from(["encoded", "raw", "properties", "no-equals"]))
        if style == "no-equals":
            members.append(key)
            continue
        if style != "raw":
            value = quote_from_bytes(value, safe="").encode()
        members.append(key + b"=" + value + (b";p=1" if style == "properties" else b""))
    return draw(st.sampled_from([b",", b", ", b" ,\t"])).join(members)


@st.composite
def query_strings(draw: st.DrawFn) -> bytes:
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        name = draw(st.sampled_from([b"session", b"user", b"tenant", b"other", b"sess%69on"]))
        value = draw(raw_values)
        style = draw(st.sampled_from(["quoted", "raw", "plus", "bare", "bad-escape"]))
        if style == "quoted":
            parts.append(name + b"=" + quote_from_bytes(value, safe="").encode())
        elif style == "raw":
            parts.append(name + b"=" + value.replace(b"&", b"").replace(b"=", b""))
        elif style == "plus":
            parts.append(
                name + b"=" + quote_from_bytes(value, safe="").encode().replace(b"%20", b"+")
            )
        elif style == "bare":
            parts.append(name)
        else:
            parts.append(name + b"=%" + draw(st.sampled_from([b"", b"z", b"zz", b"4", b"ff"])))
    return b"&".join(parts)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=5), children, max_size=3),
    ),
    max_leaves=8,
)


# Id fields get mostly text (valid ids half the time), sometimes any JSON value.
id_values = st.one_of(valid_ids, texts, json_values)


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    document: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(["session_id", "tenant", "metadata", "x"]))):
        if key == "metadata":
            document[key] = draw(
                st.one_of(st.fixed_dictionaries({"user_id": id_values}), json_values)
            )
        else:
            document[key] = draw(id_values)
    encoded = json.dumps(document, ensure_ascii=draw(st.booleans())).encode(
        "utf-8", "surrogatepass"
    )
    mutation = draw(st.sampled_from(["none", "none", "none", "truncate", "prefix", "not-object"]))
    if mutation == "truncate" and encoded:
        return encoded[: draw(st.integers(0, len(encoded) - 1))]
    if mutation == "prefix":
        return draw(st.sampled_from([b"\xef\xbb\xbf", b" ", b"\xff", b"[" * 2000])) + encoded
    if mutation == "not-object":
        return json.dumps(draw(json_values)).encode("utf-8", "surrogatepass")
    return encoded


CONTENT_TYPES = [
    None,
    b"application/json",
    b"application/json; charset=utf-8",
    b"application/json; charset=latin-1",
    b"APPLICATION/JSON",
    b"application/vnd.api+json",
    b"text/plain",
    b"multipart/form-data; boundary=x",
    b"application/jsonx",
]


@st.composite
def requests(draw: st.DrawFn) -> RawRequest:
    """Any request; a third of them well-formed JSON posts, so the body source
    (read, parsed, ids taken or dropped) is exercised as often as the others."""
    json_post = draw(st.integers(0, 2)) == 0
    headers: list[tuple[bytes, bytes]] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["id", "id", "id", "cookie", "baggage", "other"]))
        if kind == "id":
            headers.append((draw(st.sampled_from(ID_HEADERS)), draw(raw_values)))
        elif kind == "cookie":
            headers.append((b"cookie", draw(cookie_headers())))
        elif kind == "baggage":
            headers.append((b"baggage", draw(baggage_headers())))
        else:
            headers.append((draw(st.sampled_from(OTHER_HEADERS)), draw(raw_values)))
    if json_post:
        method, body, content_type, encoding = (
            "POST",
            draw(json_bodies()),
            b"application/json",
            None,
        )
        framing = "complete"
        length = draw(st.sampled_from(["exact", "chunked"]))
    else:
        method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "HEAD", "OPTIONS"]))
        body = b""
        if method != "GET":
            body = draw(st.one_of(json_bodies(), st.binary(max_size=64)))
        content_type = draw(st.sampled_from(CONTENT_TYPES))
        encoding = draw(st.sampled_from([None, None, b"gzip", b"identity", b"br"]))
        framing = draw(st.sampled_from(["complete", "complete", "disconnect", "raise", "reset"]))
        length = draw(st.sampled_from(["exact", "chunked", "none", "invalid"]))
    if content_type is not None:
        headers.append((b"content-type", content_type))
    if encoding is not None:
        headers.append((b"content-encoding", encoding))
    if length == "exact":
        declared = len(body) + (0 if framing == "complete" else draw(st.integers(1, 50)))
        headers.append((b"content-length", str(declared).encode()))
    elif length == "chunked":
        headers.append((b"transfer-encoding", b"chunked"))
    elif length == "invalid":
        headers.append(
            (b"content-length", draw(st.sampled_from([b"abc", b"-1", b"", b"+5", b"1e3"])))
        )
    headers = draw(st.permutations(headers))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(body) - 1)), max_size=4)))
    chunks = tuple(body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if a < b)
    return RawRequest(
        method=method,
        query=draw(query_strings()),
        headers=tuple(headers),
        body=chunks,
        framing=framing,
        http_version=draw(st.sampled_from(["1.1", "1.1", "1.0"])),
    )
