"""Falcon, ASGI (``falcon.asgi.App``) and WSGI (``falcon.App``), wrapped whole."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "falcon",
    reason="Falcon is not installed (the 'ecosystem' extra: pip install -e '.[ecosystem]')",
)

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .apps import falcon_app
from .clients import asgi_client, send, send_async, wsgi_client
from .scenario import STEPS, Step, from_exporter


@pytest.mark.compat("Falcon (ASGI)")
@pytest.mark.anyio
@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.id)
async def test_asgi_scenario(
    step: Step, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with asgi_client(falcon_app.build_asgi(tracer_provider)) as client:
        reply = await send_async(client, step)
    step.check(reply, from_exporter(exporter.get_finished_spans(), step.id))


@pytest.mark.compat("Falcon (WSGI)")
@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.id)
def test_wsgi_scenario(
    step: Step, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with wsgi_client(falcon_app.build_wsgi(tracer_provider)) as client:
        reply = send(client, step)
    step.check(reply, from_exporter(exporter.get_finished_spans(), step.id))
