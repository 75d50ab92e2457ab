"""The session middleware in front of every FastAPI, Starlette, Flask and Django app.

Each framework's application class gets a ``__call__`` that runs our
middleware around the original one. That is outside everything the framework
builds inside its ``__call__``: FastAPIInstrumentor's and
StarletteInstrumentor's ``OpenTelemetryMiddleware`` (added to the middleware
stack), FlaskInstrumentor's (wrapped around ``app.wsgi_app``) and
DjangoInstrumentor's (the first entry of ``settings.MIDDLEWARE``). So the
server span starts inside the session, and a sampler deciding on it sees the
session, whichever instrumentor ran first. The original base class is patched
(found in the MRO), so the subclasses those instrumentors put in place of
``fastapi.FastAPI``, ``starlette.applications.Starlette`` and ``flask.Flask``
inherit it, before or after us.

Each application decides once, on its first request, when its own code is
complete: one that adds our middleware itself (``app.add_middleware``,
``app.wsgi_app = SessionWSGIMiddleware(...)``) is left alone, and a request
that already passed through one of ours (the app wrapped in code, or a mounted
sub-application) is passed straight on: code wins, no request is handled twice.

Usage::

    patches = patch_frameworks(asgi_factory, wsgi_factory)
    ...
    for patch in patches:
        patch.undo()
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from otel_genai_session._validation import logger
from otel_genai_session.middleware._keys import SESSION_KEY
from otel_genai_session.middleware.asgi import GenAISessionMiddleware
from otel_genai_session.middleware.wsgi import SessionWSGIMiddleware

__all__ = ["FRAMEWORKS", "Framework", "Patch", "original_class", "patch_frameworks"]

Factory = Callable[[Any], Any]
"""The bound original ``__call__`` -> our middleware around it."""

_HANDLER: Final = "_otel_genai_session_handler"
"""Where an application keeps (generation, what handles its requests)."""
_generation = itertools.count(1)
CODE_WINS: Final = (
    "%s adds %s in its own code: the OTEL_GENAI_SESSION_* options are not used for it"
)


@dataclass(frozen=True)
class Framework:
    """An application class to patch: where it lives and how to look into it."""

    name: str
    module: str
    qualname: str
    asgi: bool
    adds_ours: Callable[[Any], bool]
    """Whether the app's own code added our middleware (checked on its first request)."""


@dataclass(frozen=True)
class Patch:
    """One patched ``__call__``; :meth:`undo` puts the original back."""

    owner: type
    original: Any
    replacement: Any

    def undo(self) -> None:
        if self.owner.__dict__.get("__call__") is self.replacement:  # not re-patched since
            self.owner.__call__ = self.original  # type: ignore[method-assign]


def _starlette_adds_ours(app: Any) -> bool:
    return any(
        isinstance(cls := getattr(entry, "cls", None), type)
        and issubclass(cls, GenAISessionMiddleware)
        for entry in getattr(app, "user_middleware", ())
    )


def _wsgi_chain(app: Any) -> Iterator[Any]:
    """``app.wsgi_app`` and what it wraps (``.wsgi_app``/``.app``), ProxyFix-style."""
    current = getattr(app, "wsgi_app", None)
    for _ in range(32):  # bounded: a chain that loops ends here
        if current is None:
            return
        yield current
        current = getattr(current, "wsgi_app", None) or getattr(current, "app", None)


def _flask_adds_ours(app: Any) -> bool:
    return any(isinstance(layer, SessionWSGIMiddleware) for layer in _wsgi_chain(app))


def _never(app: Any) -> bool:  # Django: our middleware can only wrap its handler
    return False


FRAMEWORKS: Final = (
    Framework(
        "Starlette/FastAPI", "starlette.applications", "Starlette", True, _starlette_adds_ours
    ),
    Framework("Flask", "flask.app", "Flask", False, _flask_adds_ours),
    Framework("Django (WSGI)", "django.core.handlers.wsgi", "WSGIHandler", False, _never),
    Framework("Django (ASGI)", "django.core.handlers.asgi", "ASGIHandler", True, _never),
)


def patch_frameworks(asgi: Factory, wsgi: Factory) -> list[Patch]:
    """Patch every framework that can be imported; returns the patches to undo."""
    generation = next(_generation)
    patches = []
    for framework in FRAMEWORKS:
        owner = original_class(framework)
        if owner is None:
            continue
        factory = asgi if framework.asgi else wsgi
        patch = (_patch_asgi if framework.asgi else _patch_wsgi)(
            owner, framework, factory, generation
        )
        patches.append(patch)
        logger.debug("genai_session: session middleware in front of every %s app", framework.name)
    return patches


def original_class(framework: Framework) -> type | None:
    """The framework's own class, even when an instrumentor has put a subclass
    in its place; None when the framework is not installed or does not import."""
    try:
        if importlib.util.find_spec(framework.module.partition(".")[0]) is None:
            return None
        found = getattr(importlib.import_module(framework.module), framework.qualname)
    except Exception as error:  # a broken framework install must not stop the app
        logger.debug("genai_session: %s not patched (%r)", framework.name, error)
        return None
    for cls in found.__mro__:
        if cls.__module__ == framework.module and "__call__" in vars(cls):
            return cls  # type: ignore[no-any-return]
    return None


def _handler(app: Any, framework: Framework, factory: Factory, generation: int, call: Any) -> Any:
    """What handles ``app``'s requests: decided on its first one, kept on the app."""
    state = app.__dict__.get(_HANDLER)
    if state is not None and state[0] == generation:
        return state[1]
    bound = call.__get__(app, type(app))
    if framework.adds_ours(app):
        logger.info(CODE_WINS, type(app).__name__, "the session middleware")
        handler = bound
    else:
        handler = factory(bound) or bound
    app.__dict__[_HANDLER] = (generation, handler)
    return handler


def _patch_asgi(owner: type, framework: Framework, factory: Factory, generation: int) -> Patch:
    original = owner.__dict__["__call__"]

    async def __call__(self: Any, scope: Any, receive: Any, send: Any) -> None:
        if SESSION_KEY in scope:  # already in a session middleware of ours
            await original(self, scope, receive, send)
            return
        await _handler(self, framework, factory, generation, original)(scope, receive, send)

    return _install(owner, original, __call__)


def _patch_wsgi(owner: type, framework: Framework, factory: Factory, generation: int) -> Patch:
    original = owner.__dict__["__call__"]

    def __call__(self: Any, environ: Any, start_response: Any) -> Any:
        if SESSION_KEY in environ:  # already in a session middleware of ours
            return original(self, environ, start_response)
        return _handler(self, framework, factory, generation, original)(environ, start_response)

    return _install(owner, original, __call__)


def _install(owner: type, original: Any, replacement: Any) -> Patch:
    replacement.__wrapped__ = original
    replacement.__qualname__ = f"{owner.__qualname__}.__call__"
    owner.__call__ = replacement  # type: ignore[method-assign]
    return Patch(owner, original, replacement)
