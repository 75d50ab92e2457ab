"""Litestar 2.x (pitfall 49): the scenario with the middleware in Litestar's own
``middleware=[...]`` list and wrapping the whole app, and what each way covers
for the requests Litestar's router answers itself (404, 405)."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "litestar",
    reason="Litestar is not installed (the 'ecosystem' extra: pip install -e '.[ecosystem]')",
)

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session.middleware import GenAISessionMiddleware

from .apps import litestar_app
from .clients import asgi_client, send_async
from .scenario import NO_SESSION, STEPS, Step, from_exporter

pytestmark = pytest.mark.compat("Litestar")

WAYS = [pytest.param(False, id="middleware-list"), pytest.param(True, id="wrapped")]
ROUTING_ERRORS = [
    pytest.param("GET", "/no-such-route", 404, id="404"),
    pytest.param("DELETE", "/plain", 405, id="405"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("wrap", WAYS)
@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.id)
async def test_scenario(
    wrap: bool, step: Step, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with asgi_client(litestar_app.build(tracer_provider, wrap=wrap)) as client:
        reply = await send_async(client, step)
    step.check(reply, from_exporter(exporter.get_finished_spans(), step.id))


async def _routing_error(
    wrap: bool, method: str, path: str, tracer_provider: TracerProvider
) -> tuple[int, dict[str, object]]:
    async with asgi_client(litestar_app.build(tracer_provider, wrap=wrap)) as client:
        response = await client.request(
            method, path, headers={"X-Session-ID": "sess-routing", "X-Test-Tag": "routing"}
        )
    return response.status_code, response.json()["session"]


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "path", "status"), ROUTING_ERRORS)
async def test_wrapped_app_covers_routing_errors(
    method: str,
    path: str,
    status: int,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    """Wrapping the app: Litestar's 404/405 handlers run inside the session."""
    got_status, session = await _routing_error(True, method, path, tracer_provider)
    assert got_status == status
    assert session == {**NO_SESSION, "session_id": "sess-routing"}
    spans = from_exporter(exporter.get_finished_spans(), "routing")
    assert [span.session() for span in spans] == [{"session.id": "sess-routing"}]


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "path", "status"), ROUTING_ERRORS)
async def test_middleware_list_misses_routing_errors(
    method: str,
    path: str,
    status: int,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    """Litestar applies its ``middleware=[...]`` per route, so a request that
    matches no route (or no method) never reaches it: no ids. This is why the
    docs recommend wrapping the whole app on Litestar."""
    got_status, session = await _routing_error(False, method, path, tracer_provider)
    assert got_status == status
    assert session == NO_SESSION
    spans = from_exporter(exporter.get_finished_spans(), "routing")
    assert [span.session() for span in spans] == [{}]


@pytest.mark.anyio
async def test_bare_class_in_middleware_list() -> None:
    """``Litestar(middleware=[GenAISessionMiddleware])`` builds the class with the
    ``app`` keyword argument; the default headers then apply."""
    from litestar import Litestar, get

    from .apps.common import session_dict

    @get("/")
    async def index() -> dict[str, str | None]:
        return session_dict()

    app = Litestar(route_handlers=[index], middleware=[GenAISessionMiddleware], logging_config=None)
    async with asgi_client(app) as client:
        response = await client.get("/", headers={"X-Session-ID": "bare", "X-User-ID": "u"})
    assert response.json() == {"session_id": "bare", "user_id": "u", "customer_id": None}
