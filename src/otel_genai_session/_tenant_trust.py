"""One warning: tenant sampling ratios configured while clients name the tenant.

``customer_ratios`` keeps a tenant's sessions at the tenant's own ratio, by
``customer.id``. When a middleware reads ``customer.id`` from what a client
sends (a header, cookie, query parameter, JSON body field or baggage entry), a
client picks its own ratio: ``X-Tenant-ID: acme`` is kept at acme's 1.0. The
sampler and the middlewares are built apart, in either order, so each says
what it is, and whichever comes second warns, once per process.

Usage::

    note_tenant_ratios()                        # a sampler with customer_ratios
    note_client_tenant(("header 'x-tenant-id'",))  # a middleware's client sources
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Final

from otel_genai_session._validation import warn_once

__all__ = ["TENANT_FROM_CLIENT", "note_client_tenant", "note_tenant_ratios"]

TENANT_FROM_CLIENT: Final = (
    "customer_ratios is configured and a session middleware reads customer_id from %s, "
    "which clients set: a client can choose its tenant's sampling ratio. Take the tenant "
    "from extract (and leave customer_id out of the mappings) or from a gateway that "
    "removes the client's copy; see docs/sampling.md, 'Who decides'"
)

_lock: Final = threading.Lock()
_ratios = False
_client_sources: list[str] = []


def note_tenant_ratios() -> None:
    """A sampler with ``customer_ratios`` was built."""
    global _ratios
    with _lock:
        _ratios = True
    _warn_if_both()


def note_client_tenant(sources: Iterable[str]) -> None:
    """A middleware reads ``customer_id`` from these client-controlled sources."""
    sources = list(sources)
    if not sources:
        return
    with _lock:
        _client_sources[:] = sources
    _warn_if_both()


def _warn_if_both() -> None:
    with _lock:
        if not (_ratios and _client_sources):
            return
        sources = ", ".join(_client_sources)
    warn_once(TENANT_FROM_CLIENT, sources)
