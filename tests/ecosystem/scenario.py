"""The shared scenario: the same requests and checks for every framework and server.

A test module builds its framework's app (``ecosystem.apps``), sends each
:data:`STEPS` request with whatever client fits (in-process transport, test
client, real socket) and hands the reply and the spans tagged for that request
to the step's ``check``. The checks only look at what a user would see: the
status, body and headers of the reply, and the attributes of exported spans.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan

from .apps.common import STREAM_CHUNKS, TAG_ATTRIBUTE, TAG_HEADER

SESSION_KEYS: Final = ("session.id", "user.id", "customer.id")
NO_SESSION: Final = {"session_id": None, "user_id": None, "customer_id": None}

CHAT_BODY: Final = {"metadata": {"customer": "cust-body"}, "prompt": "hello"}
CHAT_SESSION: Final = {
    "session_id": "sess-hdr",
    "user_id": "user-cookie",
    "customer_id": "cust-body",
}


@dataclass(frozen=True)
class Reply:
    """An HTTP reply as every client flavour reports it (header names lower-case)."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class SpanRecord:
    """The part of a finished span the checks look at."""

    name: str
    attributes: Mapping[str, Any]
    kind: str = "INTERNAL"

    @classmethod
    def of(cls, span: ReadableSpan) -> SpanRecord:
        return cls(span.name, dict(span.attributes or {}), span.kind.name)

    def session(self) -> dict[str, Any]:
        return {key: self.attributes[key] for key in SESSION_KEYS if key in self.attributes}


def tagged(spans: Iterable[SpanRecord], tag: str) -> list[SpanRecord]:
    return [span for span in spans if span.attributes.get(TAG_ATTRIBUTE) == tag]


def from_exporter(spans: Sequence[ReadableSpan], tag: str) -> list[SpanRecord]:
    return tagged((SpanRecord.of(span) for span in spans), tag)


@dataclass(frozen=True)
class Step:
    """One request of the scenario and what must come of it."""

    id: str
    method: str
    path: str
    check: Callable[[Reply, list[SpanRecord]], None]
    spans: int
    """How many spans tagged for this request the app creates."""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def request_headers(self, tag: str | None = None) -> dict[str, str]:
        headers = {TAG_HEADER: tag or self.id, **self.headers}
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        return headers


def _ids(reply: Reply, spans: list[SpanRecord]) -> None:
    assert reply.status == 200, reply.body[:500]
    document = reply.json()
    assert document["session"] == CHAT_SESSION
    assert document["echo"] == CHAT_BODY, "the app must read the very body the client sent"
    assert reply.headers.get("x-session-id") == "sess-hdr"
    assert [span.name for span in spans] == ["chat"]
    assert spans[0].session() == {
        "session.id": "sess-hdr",
        "user.id": "user-cookie",
        "customer.id": "cust-body",
    }


def _stream(reply: Reply, spans: list[SpanRecord]) -> None:
    assert reply.status == 200, reply.body[:500]
    assert reply.body == b"".join(f"chunk-{i}\n".encode() for i in range(STREAM_CHUNKS))
    assert [span.name for span in spans] == ["chunk"] * STREAM_CHUNKS
    assert all(span.session() == {"session.id": "sess-stream"} for span in spans), spans


def _error(reply: Reply, spans: list[SpanRecord]) -> None:
    assert reply.status == 500
    assert [span.name for span in spans] == ["before-error"]
    assert spans[0].session() == {"session.id": "sess-error", "user.id": "user-error"}


def _no_ids(reply: Reply, spans: list[SpanRecord]) -> None:
    assert reply.status == 200, reply.body[:500]
    assert reply.json()["session"] == NO_SESSION
    assert "x-session-id" not in reply.headers
    assert [span.name for span in spans] == ["plain"]
    assert spans[0].session() == {}


STEPS: Final = (
    Step(
        "ids",
        "POST",
        "/chat",
        _ids,
        spans=1,
        headers={"X-Session-ID": "sess-hdr", "Cookie": "theme=dark; uid=user-cookie"},
        body=json.dumps(CHAT_BODY).encode(),
    ),
    Step(
        "stream",
        "GET",
        "/stream",
        _stream,
        spans=STREAM_CHUNKS,
        headers={"X-Session-ID": "sess-stream"},
    ),
    Step(
        "error",
        "GET",
        "/error",
        _error,
        spans=1,
        headers={"X-Session-ID": "sess-error", "X-User-ID": "user-error"},
    ),
    Step("no-ids", "GET", "/plain", _no_ids, spans=1),
)
"""The shared scenario; ``no-ids`` runs last so it also shows nothing carried over."""


def leak_probe_body(size: int = 70 * 1024) -> bytes:
    """A JSON chat body of about ``size`` bytes (pitfall 4 uses 70 KB)."""
    document = {**CHAT_BODY, "padding": "x" * size}
    return json.dumps(document).encode()
