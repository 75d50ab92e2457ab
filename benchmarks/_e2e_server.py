"""A hello-world Starlette app under uvicorn (1 worker): bare, with our middleware,
or with the hand-written floor (3 headers -> one contextvar set/reset).

Run by e2e_bench.py: ``python _e2e_server.py bare|ours|floor``. Binds 127.0.0.1 on
an OS-assigned port, prints the port and the HTTP implementation uvicorn chose
on one line, then serves until terminated.
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request: object) -> PlainTextResponse:
    return PlainTextResponse("Hello, world!")


def main(variant: str) -> None:
    middleware = []
    if variant == "ours":
        from otel_genai_session.middleware import GenAISessionMiddleware

        middleware.append(Middleware(GenAISessionMiddleware))
    elif variant == "floor":
        from _references import HeaderFloor

        middleware.append(Middleware(HeaderFloor))
    app = Starlette(routes=[Route("/", hello)], middleware=middleware)
    # proto=IPPROTO_TCP, as uvicorn's own bind gets from getaddrinfo: asyncio sets
    # TCP_NODELAY on accepted sockets only then (else Nagle + delayed ACK: 40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    config.load()
    http = getattr(config.http_protocol_class, "__module__", "?").rsplit(".", 1)[-1]
    print(sock.getsockname()[1], http, flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1])
