"""Starlette and FastAPI: the shared scenario, middleware added by the framework
(``add_middleware``) and wrapping the whole app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .apps import fastapi_app, starlette_app
from .clients import asgi_client, send_async
from .scenario import STEPS, Step, from_exporter

STARLETTE = pytest.mark.compat("Starlette")
FASTAPI = pytest.mark.compat("FastAPI")
BUILDERS = [
    pytest.param(starlette_app.build, False, id="starlette-add_middleware", marks=STARLETTE),
    pytest.param(starlette_app.build, True, id="starlette-wrapped", marks=STARLETTE),
    pytest.param(fastapi_app.build, False, id="fastapi-add_middleware", marks=FASTAPI),
    pytest.param(fastapi_app.build, True, id="fastapi-wrapped", marks=FASTAPI),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("build", "wrap"), BUILDERS)
@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.id)
async def test_scenario(
    build: Callable[..., Any],
    wrap: bool,
    step: Step,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    async with asgi_client(build(tracer_provider, wrap=wrap)) as client:
        reply = await send_async(client, step)
    step.check(reply, from_exporter(exporter.get_finished_spans(), step.id))
