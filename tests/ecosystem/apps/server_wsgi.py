"""The Flask scenario app for WSGI servers (``server_wsgi:app``)."""

from __future__ import annotations

from . import flask_app, tracing

app = flask_app.build(tracing.configure())
