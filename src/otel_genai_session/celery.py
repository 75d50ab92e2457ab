"""Carry the session from the code that sends a Celery task to the worker that runs it.

A task runs in another process, often on another machine: context variables do
not travel with it. :func:`instrument_celery` connects three Celery signals, as
asgi-correlation-id's Celery extension does for its correlation id:

- ``before_task_publish`` (publisher): the ids of the session in effect go into
  the task message's headers, under :data:`HEADER`;
- ``task_prerun`` (worker): the task runs in exactly that session, or in an
  explicitly empty one when the message has none, so nothing is inherited
  from the task that ran before on the same process or thread;
- ``task_postrun`` (worker): the session from before the task is put back.

Tasks sent from a task (retries, chains, callbacks, subtasks) are sent inside
the resumed session, so they keep it. The worker's consumer span from
opentelemetry-instrumentation-celery carries the ids in either instrumentation
order: started after our ``task_prerun``, it is tagged at its start by
``SessionSpanProcessor``; started before it, ours tags it as the current span.

Usage (in the module both the publisher and the worker import)::

    from celery import Celery
    from otel_genai_session.celery import instrument_celery

    app = Celery("chat", broker="redis://localhost:6379/0")
    instrument_celery()

The session's properties travel with the ids (under the header's
``"properties"`` key; both ends run ``instrument_celery()``, and the worker
holds them to the same bounds as any other source).

The ids travel in clear in the message headers (the raw user id, as the task
needs it in ``get_session_context()``; spans still get ``user.hash`` when
hashing is on): the broker must be as trusted as the task arguments it holds.
Requires Celery's message protocol 2 (the default since Celery 4).
"""

from __future__ import annotations

import threading
from typing import Any, Final, cast

from celery import signals

from otel_genai_session._properties import SessionProperties
from otel_genai_session._validation import clean_id, warn_once
from otel_genai_session.middleware._span import tag_span
from otel_genai_session.privacy import UserHash
from otel_genai_session.session import (
    EMPTY_SESSION,
    SESSION_FIELDS,
    SessionContext,
    _current,
    clear_session_context,
)

__all__ = ["HEADER", "NOT_A_MAPPING", "instrument_celery", "is_instrumented", "uninstrument_celery"]

HEADER: Final = "otel_genai_session"
"""The task message header that holds the session: ``{field: id}`` of its set
fields, and ``"properties": {key: value}`` when it has any."""

_PROPERTIES_FIELD: Final = "properties"

_USER_HASH_FIELD: Final = "user_hash"
"""The header's key for a user id that is another service's ``user.hash``."""

NOT_A_MAPPING: Final = (
    "Celery task header %r is not a mapping (%s): the task runs without a session"
)

# Where task_prerun leaves its token for task_postrun: on the task's own request
# context, which Celery pushes for the task and pops after task_postrun.
_TOKEN_ATTRIBUTE: Final = "_otel_genai_session_token"
_lock: Final = threading.Lock()
_connected = False


def instrument_celery() -> None:
    """Connect the three signal handlers (idempotent; for every Celery app)."""
    global _connected
    with _lock:
        if _connected:
            return
        signals.before_task_publish.connect(_put_session_in_headers, weak=False)
        signals.task_prerun.connect(_enter_task_session, weak=False)
        signals.task_postrun.connect(_leave_task_session, weak=False)
        _connected = True


def uninstrument_celery() -> None:
    """Disconnect them: tasks are sent and run without the session again."""
    global _connected
    with _lock:
        signals.before_task_publish.disconnect(_put_session_in_headers)
        signals.task_prerun.disconnect(_enter_task_session)
        signals.task_postrun.disconnect(_leave_task_session)
        _connected = False


def is_instrumented() -> bool:
    """True between :func:`instrument_celery` and :func:`uninstrument_celery`."""
    return _connected


def _session_header(session: SessionContext) -> dict[str, Any]:
    """The header value for ``session``: its set fields (plain JSON)."""
    header: dict[str, Any] = {
        name: value for name in SESSION_FIELDS if (value := getattr(session, name))
    }
    if type(session.user_id) is UserHash:  # another service's user.hash: stays one
        header[_USER_HASH_FIELD] = header.pop("user_id")
    if session.properties:
        header[_PROPERTIES_FIELD] = dict(session.properties)
    return header


def _session_from_header(value: object) -> SessionContext:
    """The session a message's header holds; empty when there is none.

    The header passes the same validation as every other source (a bad id is
    dropped and logged once, without its value)."""
    if value is None:
        return EMPTY_SESSION
    if not isinstance(value, dict):
        warn_once(NOT_A_MAPPING, HEADER, type(value).__name__)
        return EMPTY_SESSION
    source = f"Celery task header {HEADER!r}"
    fields = {name: value.get(name) for name in SESSION_FIELDS}
    properties = value.get(_PROPERTIES_FIELD)
    session = EMPTY_SESSION.overlay(**fields, source=source, properties=properties)
    user_hash = value.get(_USER_HASH_FIELD)
    if session.user_id is None and user_hash is not None:
        user_hash = clean_id(user_hash, "user_id", source)
        if user_hash is not None:
            session = SessionContext._validated(
                session.session_id,
                UserHash(user_hash),
                session.customer_id,
                cast(SessionProperties, session.properties),
            )
    return session


def _put_session_in_headers(headers: dict[str, Any] | None = None, **_: Any) -> None:
    session = _current.get()
    if headers is not None and not session.is_empty():
        headers[HEADER] = _session_header(session)


def _enter_task_session(task: Any = None, **_: Any) -> None:
    request = getattr(task, "request", None)
    if request is None:
        return
    if getattr(request, "is_eager", False):
        session = _current.get()  # run in-process by apply(): the caller's session
    else:
        session = _session_from_header(getattr(request, HEADER, None))
    token = _current.set(session)
    setattr(request, _TOKEN_ATTRIBUTE, token)
    if not session.is_empty():
        from opentelemetry.trace import get_current_span  # the API, loaded on first use

        tag_span(get_current_span())  # a consumer span started before us


def _leave_task_session(task: Any = None, **_: Any) -> None:
    request = getattr(task, "request", None)
    token = getattr(request, _TOKEN_ATTRIBUTE, None)
    if token is None:
        _current.set(EMPTY_SESSION)  # never leave a task's session behind
        return
    delattr(request, _TOKEN_ATTRIBUTE)
    clear_session_context(token)
