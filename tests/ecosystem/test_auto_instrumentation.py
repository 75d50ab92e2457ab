"""``opentelemetry-instrument`` (auto instrumentation) with our processor and
middleware: a FastAPI app under uvicorn in a subprocess."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .scenario import CHAT_BODY
from .servers import UVICORN_ON_FD, Server, running

CLI = Path(sys.executable).parent / "opentelemetry-instrument"
AUTO_ENV = {
    "OTEL_SERVICE_NAME": "ecosystem-auto",
    "OTEL_TRACES_EXPORTER": "none",  # the app adds its own file exporter
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
}
IDS = {"session.id": "auto-sess", "user.id": "auto-user", "customer.id": "cust-body"}

pytestmark = [pytest.mark.compat("opentelemetry-instrument (FastAPI)"), pytest.mark.servers]
pytestmark.append(
    pytest.mark.skipif(
        not CLI.exists()
        or importlib.util.find_spec("opentelemetry.distro") is None
        or importlib.util.find_spec("opentelemetry.instrumentation.fastapi") is None,
        reason="needs opentelemetry-instrument with opentelemetry-distro and "
        "opentelemetry-instrumentation-fastapi (the 'ecosystem' extra)",
    )
)


@pytest.fixture(
    scope="module",
    params=[pytest.param("outside", id="ours-outside"), pytest.param("inside", id="ours-inside")],
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    app = f"ecosystem.apps.auto_fastapi:{request.param}"
    argv = [str(CLI), sys.executable, "-c", UVICORN_ON_FD, app, "{fd}", "auto"]
    with running(argv, tmp_path_factory.mktemp("auto"), env=AUTO_ENV) as server:
        yield server


def test_server_span_and_app_spans_carry_the_ids(server: Server) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        response = client.post(
            "/chat",
            content=json.dumps(CHAT_BODY),
            headers={
                "X-Test-Tag": "auto",
                "Content-Type": "application/json",
                "X-Session-ID": "auto-sess",
                "Cookie": "uid=auto-user",
            },
        )
    assert response.status_code == 200
    assert response.json()["echo"] == CHAT_BODY
    assert [span.session() for span in server.spans("auto", 1)] == [IDS]
    servers = server.spans_where(lambda span: span.kind == "SERVER", 1)
    assert [(span.name, span.session()) for span in servers] == [("POST /chat", IDS)]
