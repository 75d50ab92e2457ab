"""Sessions with no code: the ``genai_session`` OpenTelemetry instrumentor.

``opentelemetry-instrument`` and the Kubernetes Operator's ``sitecustomize``
load every ``opentelemetry_instrumentor`` entry point once the SDK's providers
are set. Ours, on :meth:`~GenAISessionInstrumentor.instrument`:

1. adds ``SessionSpanProcessor`` and ``SessionLogRecordProcessor`` to the
   global SDK providers (:func:`otel_genai_session.instrument`);
2. puts the session middleware, configured from ``OTEL_GENAI_SESSION_*``, in
   front of every FastAPI, Starlette, Flask and Django application, outside
   OpenTelemetry's server-span middleware (:mod:`._frameworks`);
3. runs :func:`~otel_genai_session.celery.instrument_celery` when Celery is
   installed.

It never raises (the CLI would stop the application): a bad variable is
logged, naming it, and the rest goes on. ``uninstrument()`` undoes all of it
(and switches user-id hashing off again if the instrumentor switched it on).
Needs ``opentelemetry-instrumentation`` (``pip install
'otel-genai-session[instrument]'``; the Operator's image has it).

Usage, with no change to the application (docs/zero-code.md)::

    pip install 'otel-genai-session[instrument]' opentelemetry-distro
    OTEL_GENAI_SESSION_COOKIE_MAPPING=chat_session=session_id \\
        opentelemetry-instrument uvicorn app:app
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Collection, Mapping
from typing import Any, Final

from opentelemetry.instrumentation.environment_variables import (
    OTEL_PYTHON_DISABLED_INSTRUMENTATIONS,
)
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from otel_genai_session import providers
from otel_genai_session._validation import logger
from otel_genai_session.instrumentor._environment import (
    BadHashKey,
    hash_key_from_environment,
    options_from_environment,
)
from otel_genai_session.instrumentor._frameworks import Patch, patch_frameworks
from otel_genai_session.instrumentor._report import report
from otel_genai_session.middleware._options import SessionOptions
from otel_genai_session.middleware.asgi import GenAISessionMiddleware
from otel_genai_session.middleware.wsgi import SessionWSGIMiddleware
from otel_genai_session.privacy import (
    disable_user_id_hashing,
    enable_user_id_hashing,
    user_id_hashing_enabled,
)

__all__ = ["ENTRY_POINT_NAME", "GenAISessionInstrumentor"]

ENTRY_POINT_NAME: Final = "genai_session"
"""The entry point's name: what ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` lists to turn it off."""
NOTHING_INSTRUMENTED: Final = (
    "%s: genai_session instrumented nothing, so that no raw user id is exported"
)
NO_MIDDLEWARE: Final = (
    "The OTEL_GENAI_SESSION_* options are refused together (%s): no session middleware"
)


class GenAISessionInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Processors, middleware and Celery, configured from the environment."""

    _patches: list[Patch]
    _celery = False
    _hashing = False

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()  # every framework is optional: each is patched when installed

    def _instrument(self, **kwargs: Any) -> None:
        self._patches = []
        try:
            self._instrument_from(os.environ, kwargs)
        except Exception:  # never stop the application from starting
            logger.exception("genai_session instrumentation failed; the app runs without it")

    def _instrument_from(self, environ: Mapping[str, str], kwargs: Mapping[str, Any]) -> None:
        """``kwargs``: ``tracer_provider`` and ``logger_provider``, as OpenTelemetry's
        instrumentors take them (default: the global ones)."""
        disabled = {
            name.strip()
            for name in environ.get(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, "").split(",")
        }
        if ENTRY_POINT_NAME in disabled or "*" in disabled:
            logger.debug("genai_session is listed in %s", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS)
            return
        try:
            key = hash_key_from_environment(environ)
        except BadHashKey as error:
            report(logging.ERROR, NOTHING_INSTRUMENTED, error)
            return
        if key is not None:
            self._hashing = not user_id_hashing_enabled()  # undo only what we did
            enable_user_id_hashing(key)
        providers.instrument(kwargs.get("tracer_provider"), kwargs.get("logger_provider"))
        options = options_from_environment(environ)
        self._patches = patch_frameworks(
            _factory(GenAISessionMiddleware, options), _factory(SessionWSGIMiddleware, options)
        )
        if importlib.util.find_spec("celery") is not None:
            try:
                from otel_genai_session.celery import instrument_celery, is_instrumented
            except ImportError as error:  # a broken Celery install: the rest still holds
                logger.warning("genai_session: Celery not instrumented (%r)", error)
            else:
                self._celery = not is_instrumented()  # undo only what we did
                instrument_celery()

    def _uninstrument(self, **kwargs: Any) -> None:
        for patch in getattr(self, "_patches", ()):
            patch.undo()
        self._patches = []
        if self._celery:
            from otel_genai_session.celery import uninstrument_celery

            uninstrument_celery()
            self._celery = False
        if self._hashing:
            disable_user_id_hashing()
            self._hashing = False
        providers.uninstrument()


def _factory(middleware: Any, options: SessionOptions) -> Any:
    """app -> ``middleware(app, **options)``; None (logged) if the options are refused."""

    def build(app: Any) -> Any:
        try:
            return middleware(app, **options)
        except (TypeError, ValueError) as error:
            report(logging.ERROR, NO_MIDDLEWARE, error)
            return None

    return build
