"""Multi-tenant: the user from authentication and the tenant from the host name.

Headers, cookies, query strings and bodies are written by the client: any
caller can send ``X-User-ID: admin``. When the ids matter (billing per
tenant, audit per user), take them from what your service has verified, with
the middleware's ``extract`` hook, and read only the session id, which the
client legitimately chooses, from the request:

- Starlette's ``AuthenticationMiddleware`` (outside ours, so it runs first)
  checks the bearer token and puts the user in ``scope["user"]``;
- ``extract(scope)`` returns that user's id, and the tenant taken from the
  host name the request was routed by (``acme.chat.example`` -> ``acme``);
- ``header_mapping={"X-Session-ID": "session_id"}`` replaces the default
  headers, so ``X-User-ID`` and ``X-Tenant-ID`` are not read at all: an
  anonymous request cannot claim a user either.

    python examples/multi_tenant_extract.py
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import Any

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from otel_genai_session import get_session_context
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.middleware import GenAISessionMiddleware
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.types import LLMInvocation

TENANT_DOMAIN = ".chat.example"
TOKENS = {"token-alice": "alice", "token-bob": "bob"}  # your identity provider, in miniature

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SessionSpanProcessor())
provider.add_span_processor(SimpleSpanProcessor(exporter))
handler = TelemetryHandler(tracer_provider=provider)


class BearerTokens(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        scheme, _, token = conn.headers.get("Authorization", "").partition(" ")
        user = TOKENS.get(token) if scheme.lower() == "bearer" else None
        if user is None:
            return None  # Starlette puts an UnauthenticatedUser in scope["user"]
        return AuthCredentials(["authenticated"]), SimpleUser(user)


def ids_from_auth(scope: Mapping[str, Any]) -> dict[str, str | None]:
    """The ``extract`` hook: what it returns wins over every other source.

    A field it returns as None is filled from the other sources, if any is
    configured for it; none is here, for the user and the tenant.
    """
    user = scope.get("user")
    user_id = user.identity if user is not None and user.is_authenticated else None
    host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").partition(":")[0]
    tenant = host.removesuffix(TENANT_DOMAIN) if host.endswith(TENANT_DOMAIN) else None
    return {"user_id": user_id, "customer_id": tenant}


async def chat(request: Request) -> JSONResponse:
    with handler.llm(LLMInvocation(request_model="fake-model", provider="fake")) as call:
        call.input_tokens, call.output_tokens = 12, 30
    session = get_session_context()  # the app can read the resolved ids too
    return JSONResponse({"session": session.session_id, "user": session.user_id})


app = Starlette(
    routes=[Route("/chat", chat, methods=["POST"])],
    middleware=[  # the first in this list is the outermost
        Middleware(AuthenticationMiddleware, backend=BearerTokens()),
        Middleware(
            GenAISessionMiddleware,
            extract=ids_from_auth,
            header_mapping={"X-Session-ID": "session_id"},
        ),
    ],
)

# (what the client sends, host, headers, the ids its spans must carry)
REQUESTS = [
    (
        "alice, authenticated, on acme",
        "acme.chat.example",
        {"Authorization": "Bearer token-alice", "X-Session-ID": "conv-1"},
        ("conv-1", "alice", "acme"),
    ),
    (
        "bob's token, claims to be alice on acme",
        "globex.chat.example",
        {
            "Authorization": "Bearer token-bob",
            "X-Session-ID": "conv-2",
            "X-User-ID": "alice",
            "X-Tenant-ID": "acme",
        },
        ("conv-2", "bob", "globex"),
    ),
    (
        "no token, claims X-User-ID: admin",
        "acme.chat.example",
        {"X-Session-ID": "conv-3", "X-User-ID": "admin"},
        ("conv-3", None, "acme"),
    ),
]


async def main() -> int:
    transport = httpx.ASGITransport(app=app)
    print(f"  {'request':<42} {'session.id':<11} {'user.id':<8} customer.id")
    failures = 0
    for label, host, headers, expected in REQUESTS:
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
            response = await client.post("/chat", headers=headers, json={"message": "hi"})
            response.raise_for_status()
        attributes = exporter.get_finished_spans()[-1].attributes or {}
        got = tuple(attributes.get(key) for key in ("session.id", "user.id", "customer.id"))
        mark = "ok" if got == expected else f"UNEXPECTED, wanted {expected}"
        print(f"  {label:<42} {got[0] or '-':<11} {got[1] or '-':<8} {got[2] or '-':<11} {mark}")
        failures += got != expected
    print(
        "\nThe user comes from the verified token and the tenant from the host name; the"
        "\nX-User-ID and X-Tenant-ID headers the clients sent were not read."
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
