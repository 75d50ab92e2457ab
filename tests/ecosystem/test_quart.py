"""Quart (pitfall 50): ``app.asgi_app = GenAISessionMiddleware(app.asgi_app)``,
driven through Quart's own ``test_client()``."""

from __future__ import annotations

import json

import pytest

pytest.importorskip(
    "quart", reason="Quart is not installed (the 'ecosystem' extra: pip install -e '.[ecosystem]')"
)

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .apps import quart_app
from .apps.common import TAG_HEADER
from .scenario import CHAT_BODY, STEPS, Reply, Step, from_exporter

pytestmark = pytest.mark.compat("Quart")


async def _open(app: object, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
    response = await app.test_client().open(  # type: ignore[attr-defined]
        path, method=method, headers=headers, data=body
    )
    return Reply(
        response.status_code,
        {name.lower(): value for name, value in response.headers.items()},
        await response.get_data(),
    )


@pytest.mark.anyio
@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.id)
async def test_scenario(
    step: Step, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Quart's test client sends neither Content-Length nor Transfer-Encoding; a
    server always sends one of them, so the scenario adds the length as one would."""
    headers = step.request_headers()
    if step.body is not None:
        headers["Content-Length"] = str(len(step.body))
    reply = await _open(
        quart_app.build(tracer_provider), step.method, step.path, headers, step.body or b""
    )
    step.check(reply, from_exporter(exporter.get_finished_spans(), step.id))


@pytest.mark.anyio
async def test_test_client_body_without_length_reaches_the_app(
    tracer_provider: TracerProvider,
) -> None:
    """Without any length header, the app still reads the JSON body unchanged and
    header and cookie ids apply."""
    body = json.dumps(CHAT_BODY).encode()
    headers = {
        TAG_HEADER: "no-length",
        "Content-Type": "application/json",
        "X-Session-ID": "sess-hdr",
    }
    reply = await _open(quart_app.build(tracer_provider), "POST", "/chat", headers, body)
    assert reply.status == 200
    assert reply.json()["echo"] == CHAT_BODY
    assert reply.json()["session"]["session_id"] == "sess-hdr"


@pytest.mark.anyio
async def test_test_client_body_without_framing_is_not_searched(
    tracer_provider: TracerProvider,
) -> None:
    """HTTP/1.1 gives a request with neither Content-Length nor Transfer-Encoding
    no body (RFC 9112, 6.3), so neither middleware reads one for ids (WSGI could
    not tell where it ends): body ids need a framed body, as real servers send.
    The other sources still apply and the app still gets the bytes."""
    body = json.dumps(CHAT_BODY).encode()
    headers = {TAG_HEADER: "no-length", "Content-Type": "application/json", "X-User-ID": "u-h"}
    reply = await _open(quart_app.build(tracer_provider), "POST", "/chat", headers, body)
    assert reply.json()["echo"] == CHAT_BODY
    session = reply.json()["session"]
    assert (session["user_id"], session["customer_id"]) == ("u-h", None)
