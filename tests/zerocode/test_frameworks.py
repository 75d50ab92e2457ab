"""Every span of a request carries its ids, with no change to the app.

Each app of tests/zerocode/apps (none imports otel_genai_session) runs under
its real server, instrumented the zero-code way only: by ``opentelemetry-instrument``
(CLI) or by the Operator's injected directory (Operator), exporting OTLP/HTTP to
the test's receiver. Three requests with ids and one without: each trace's
spans (server span, the app's own span, ASGI send/receive spans) carry exactly
their request's ids, and the app's log records too.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from .layouts import needs_cli
from .receiver import Receiver
from .serving import (
    APPS,
    NO_SESSION,
    App,
    Session,
    request_sessions,
    serve,
    sessions_of,
    where,
)

pytestmark = [needs_cli, pytest.mark.servers]

SESSIONS: list[Session] = [
    ("conv-1", "alice", "acme"),
    ("conv-2", "bob", "globex"),
    NO_SESSION,
    ("conv-3", "alice", None),
]


@pytest.mark.parametrize("layout", ["cli", "operator"])
@pytest.mark.parametrize("app", APPS, ids=[app.id for app in APPS])
def test_every_span_of_a_request_carries_its_ids(
    app: App, layout: str, receiver: Receiver, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    where_ = where(layout, request)
    env = {
        **receiver.environment(app.id, logs=True),
        "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
    }
    with serve(app, where_, env, tmp_path) as server:
        request_sessions(server.base_url, SESSIONS)
        by_session = sessions_of(receiver, app.id, len(SESSIONS))
        log = server.log()

    assert set(by_session) == set(SESSIONS), log
    for session, spans in by_session.items():
        kinds = sorted(span.kind for span in spans)
        assert "SERVER" in kinds and "app work" in {span.name for span in spans}, (session, spans)
        if app.server == "uvicorn" and not app.id.startswith("django"):
            assert any(span.name.endswith("http send") for span in spans), spans
    records = receiver.wait_for_logs(lambda record: record.body == "chat handled", len(SESSIONS))
    assert Counter(record.session() for record in records) == Counter(SESSIONS), log
    assert "Traceback" not in log, log
