"""Fixtures for the ASGI middleware tests: both frameworks, both transports.

``framework`` runs a test on Starlette and on FastAPI; ``transport`` runs it
through httpx's in-process ASGITransport and through a real uvicorn server on
127.0.0.1 with a real httpx client over TCP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette

from otel_genai_session import _validation
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.middleware import GenAISessionMiddleware

from .apps import FRAMEWORKS, Endpoints, Framework, build_app
from .support import Swappable, async_client, serve

Connect = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
MakeApp = Callable[..., Starlette]
Served = Callable[[Any], str]
TRANSPORTS = ("asgi-transport", "uvicorn")


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> Framework:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def endpoints(tracer_provider: TracerProvider, handler: TelemetryHandler) -> Endpoints:
    return Endpoints(tracer_provider, handler)


@pytest.fixture
def make_app(framework: Framework, endpoints: Endpoints) -> MakeApp:
    """``make_app(**options)``: the framework app with ``app.add_middleware(GenAISessionMiddleware,
    **options)``, the way users install it."""

    def make(**options: Any) -> Starlette:
        app = build_app(framework, endpoints)
        app.add_middleware(GenAISessionMiddleware, **options)
        return app

    return make


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def shared_server() -> Iterator[tuple[str, Swappable]]:
    """One uvicorn server (h11) for the whole run; each test plugs its own app in.
    Starting and stopping a server per test would cost ~0.2 s each."""
    swappable = Swappable()
    with serve(swappable) as url:
        yield url, swappable


@pytest.fixture
def served(shared_server: tuple[str, Swappable]) -> Iterator[Served]:
    """``served(app)``: plug ``app`` into the shared server, return its base URL."""
    url, swappable = shared_server

    def plug(app: Any) -> str:
        swappable.target = app
        return url

    yield plug
    swappable.target = None


@pytest.fixture
def connect(request: pytest.FixtureRequest, transport: str) -> Connect:
    """``async with connect(app) as client``: an httpx client talking to ``app``."""

    @asynccontextmanager
    async def connect(app: Any, **client_options: Any) -> AsyncIterator[httpx.AsyncClient]:
        if transport == "asgi-transport":
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://testserver",
                **client_options,
            ) as client:
                yield client
        else:
            url = request.getfixturevalue("served")(app)
            async with async_client(url, **client_options) as client:
                yield client

    return connect


@pytest.fixture
def reported() -> Iterator[None]:
    """Forget which warnings were already logged once, so a test can assert on them."""
    _validation._reported.clear()
    yield
    _validation._reported.clear()
