"""The Starlette scenario app, wrapped whole, for ASGI servers (``server_asgi:app``)."""

from __future__ import annotations

from . import starlette_app, tracing

app = starlette_app.build(tracing.configure(), wrap=True)
