"""Where a middleware of ours keeps a request's state: its ASGI scope or WSGI environ.

Named after the package (as Werkzeug names ``"werkzeug.proxy_fix.orig"``) and
defined once for both adapters. Read the session with ``session_from_scope``
or ``session_from_environ``; the options are for a nested instance to compare
its own with.
"""

from __future__ import annotations

from typing import Final

__all__ = ["OPTIONS_KEY", "SESSION_KEY"]

SESSION_KEY: Final = "otel_genai_session.session"
"""The request's :class:`SessionContext` in the scope or environ; also marks the
request as handled, so a second instance of a middleware passes it through."""

OPTIONS_KEY: Final = "otel_genai_session.options"
"""The handling instance's options (a nested one warns when its own differ)."""
