"""A griffe extension for the API reference: the middlewares' real option defaults.

The middlewares take their options as ``**options: Unpack[SessionOptions]``; griffe's
``unpack_typeddict`` extension turns them into keyword parameters, but a TypedDict
has no defaults, so the reference would show ``= ...``. This extension, listed after
it in mkdocs.yml, gives each parameter the default that validation applies
(``MiddlewareOptions.from_keywords``), the same source as docs/configuration.md.
"""

from __future__ import annotations

import inspect
from typing import Any

import griffe

from otel_genai_session.middleware._options import MiddlewareOptions

MIDDLEWARES = (
    "otel_genai_session.middleware.asgi.GenAISessionMiddleware.__init__",
    "otel_genai_session.middleware.wsgi.SessionWSGIMiddleware.__init__",
)
DEFAULTS = {
    name: repr(parameter.default)
    for name, parameter in inspect.signature(MiddlewareOptions.from_keywords).parameters.items()
}


class OptionDefaults(griffe.Extension):
    def on_function(self, *, func: griffe.Function, **kwargs: Any) -> None:
        if func.path not in MIDDLEWARES:
            return
        for parameter in func.parameters:
            if parameter.name in DEFAULTS:
                parameter.default = DEFAULTS[parameter.name]
