"""Send a scenario step with httpx, in-process or over a socket, and get a Reply."""

from __future__ import annotations

import httpx

from .scenario import Reply, Step


def reply_of(response: httpx.Response) -> Reply:
    headers = {name.lower(): value for name, value in response.headers.items()}
    return Reply(response.status_code, headers, response.content)


async def send_async(client: httpx.AsyncClient, step: Step, tag: str | None = None) -> Reply:
    response = await client.request(
        step.method, step.path, headers=step.request_headers(tag), content=step.body
    )
    return reply_of(response)


def send(client: httpx.Client, step: Step, tag: str | None = None) -> Reply:
    response = client.request(
        step.method, step.path, headers=step.request_headers(tag), content=step.body
    )
    return reply_of(response)


def asgi_client(app: object) -> httpx.AsyncClient:
    """An in-process client; app errors become 500 replies as a server would send."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def wsgi_client(app: object) -> httpx.Client:
    transport = httpx.WSGITransport(app=app)  # type: ignore[arg-type]
    return httpx.Client(transport=transport, base_url="http://testserver")
