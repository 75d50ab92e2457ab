"""Flask, with ``app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app)``."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .apps import flask_app
from .clients import send, wsgi_client
from .scenario import STEPS, Step, from_exporter

pytestmark = pytest.mark.compat("Flask")


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.id)
def test_scenario(
    step: Step, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with wsgi_client(flask_app.build(tracer_provider)) as client:
        reply = send(client, step)
    step.check(reply, from_exporter(exporter.get_finished_spans(), step.id))
