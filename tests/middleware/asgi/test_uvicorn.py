"""Isolation on a real uvicorn server: keep-alive reuse and 500 concurrent requests.

Pitfall 4: uvicorn serves the requests of one keep-alive connection from the
same protocol object; a middleware that skips the set when nothing is found,
or forgets to reset, leaks request A's ids into request B.
Pitfall 5: with awaits and thread-pool hops in every request, no span may
carry another request's ids.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .apps import TAG, Endpoints
from .conftest import MakeApp, Served
from .support import (
    NO_IDS,
    HTTPImpl,
    async_client,
    ids_from_json,
    ids_of,
    serve,
    spans_named,
    sync_client,
)

pytestmark = pytest.mark.servers

HTTP_IMPLEMENTATIONS = [
    pytest.param("h11", id="h11"),
    pytest.param(
        "httptools",
        id="httptools",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("httptools") is None, reason="httptools is not installed"
        ),
    ),
]


@pytest.mark.parametrize("http", HTTP_IMPLEMENTATIONS)
def test_keep_alive_does_not_leak_ids_between_requests(
    make_app: MakeApp, exporter: InMemorySpanExporter, http: HTTPImpl
) -> None:
    app = make_app(body_mapping={"user.id": "user_id"})
    big = json.dumps({"user": {"id": "u-A"}, "pad": "x" * 70_000}).encode()
    ids_a = {"X-Session-ID": "s-A", "X-Tenant-ID": "t-A", "content-type": "application/json"}
    with serve(app, http=http) as url:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with sync_client(url, limits=limits) as client:
            echoed = client.post("/echo", content=big, headers=ids_a)
            first_b = client.get("/ids")
            ignored_body = client.post("/ids", content=big, headers=ids_a)
            second_b = client.post(
                "/ids", content=b"{}", headers={"content-type": "application/json"}
            )
    assert ids_from_json(echoed.json()) == ("s-A", "u-A", "t-A")
    assert echoed.json()["length"] == len(big)
    assert ids_from_json(first_b.json()) == NO_IDS
    assert ids_from_json(ignored_body.json()) == ("s-A", "u-A", "t-A")
    assert ids_from_json(second_b.json()) == NO_IDS
    ports = {r.json()["client_port"] for r in (first_b, ignored_body, second_b)}
    assert len(ports) == 1, "all on one keep-alive connection"
    assert [ids_of(span) for span in spans_named(exporter, "endpoint")] == [
        NO_IDS,
        ("s-A", "u-A", "t-A"),
        NO_IDS,
    ]
    assert ids_of(spans_named(exporter, "echo")[0]) == ("s-A", "u-A", "t-A")


REQUESTS = 500
SPANS_PER_REQUEST = 4  # work-1, work-thread (run_in_threadpool), the LLM span, work-2


@pytest.mark.anyio
async def test_500_concurrent_requests_each_see_only_their_own_ids(
    make_app: MakeApp, served: Served, endpoints: Endpoints, exporter: InMemorySpanExporter
) -> None:
    """Each request on its own connection (one client each: httpcore's pool scales
    quadratically with hundreds of connections in one client), all at once."""
    url = served(make_app())

    async def one(i: int) -> httpx.Response:
        headers = {
            "X-Session-ID": f"s-{i}",
            "X-User-ID": f"u-{i}",
            "X-Tenant-ID": f"t-{i}",
            "X-Tag": str(i),
        }
        async with async_client(url, timeout=30) as client:
            return await client.get("/work", headers=headers)

    responses = await asyncio.wait_for(
        asyncio.gather(*(one(i) for i in range(REQUESTS))), timeout=60
    )
    for i, response in enumerate(responses):
        assert response.status_code == 200
        assert response.json()["tag"] == str(i)
        assert ids_from_json(response.json()) == (f"s-{i}", f"u-{i}", f"t-{i}")
    assert endpoints.most_in_flight > 1, "the requests did overlap on the server"

    spans = [span for span in exporter.get_finished_spans() if (span.attributes or {}).get(TAG)]
    assert len(spans) == REQUESTS * SPANS_PER_REQUEST
    foreign = []
    for span in spans:
        tag = str((span.attributes or {})[TAG])
        if ids_of(span) != (f"s-{tag}", f"u-{tag}", f"t-{tag}"):
            foreign.append((span.name, tag, ids_of(span)))
    assert foreign == []
