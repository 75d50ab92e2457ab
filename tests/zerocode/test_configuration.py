"""The traps the issue names, before and after, and the instrumentor's configuration:
``OTEL_GENAI_SESSION_*`` variables, the hashing key (variable and file), code
winning over the environment, ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``, and a
bad variable (one log line naming it; the app still starts).

All run by the real ``opentelemetry-instrument``, exporting to the test's receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.sampling._support import child_environment

from .layouts import APPS_ROOT, CLI, needs_cli
from .receiver import Receiver
from .serving import FASTAPI, NO_SESSION, App, Environment, Session, request_sessions, serve

pytestmark = [needs_cli, pytest.mark.servers]

ALICE: Session = ("conv-1", "alice", "acme")


def _one_request(
    app: App, env: dict[str, str], receiver: Receiver, tmp_path: Path
) -> tuple[list[tuple[object, ...]], str]:
    """One request with ALICE's ids in the default headers: (each span's ids, the server log)."""
    with serve(app, Environment("cli"), env, tmp_path) as server:
        request_sessions(server.base_url, [ALICE])
        receiver.wait_for_spans(lambda span: span.kind == "SERVER", 1)
        log = server.log()
    return [span.session() for span in receiver.spans()], log


@pytest.mark.parametrize("quick_start", ["instrument", "own-provider"])
def test_the_quick_start_under_the_cli(quick_start: str, receiver: Receiver) -> None:
    """Trap 1: a processor on the app's own provider is lost under the CLI;
    ``otel_genai_session.instrument()`` puts it on the provider in use."""
    env = {**receiver.environment("quick-start"), "PYTHONPATH": APPS_ROOT}
    if quick_start == "own-provider":  # the instrumentor off: the quick start as it was
        env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "genai_session"
    result = subprocess.run(
        [sys.executable, str(CLI), sys.executable, "-m", "apps.quick_start", quick_start],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_environment(env),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (span,) = receiver.wait_for_spans(lambda span: span.name == "chat gpt-4o", 1)
    expected = ("conv-123", "user-456", "acme") if quick_start == "instrument" else NO_SESSION
    assert span.session() == expected


def test_every_variable_reaches_the_middleware(receiver: Receiver, tmp_path: Path) -> None:
    env = {
        **receiver.environment("configured"),
        "OTEL_GENAI_SESSION_HEADER_MAPPING": "X-Conversation=session_id",
        "OTEL_GENAI_SESSION_COOKIE_MAPPING": "uid=user_id",
        "OTEL_GENAI_SESSION_QUERY_MAPPING": "tenant=customer_id",
        "OTEL_GENAI_SESSION_GENERATE_SESSION_ID": "true",
        "OTEL_GENAI_SESSION_RESPONSE_HEADER": "X-Conversation",
        "OTEL_GENAI_SESSION_EXCLUDE_PATHS": "/health,/docs*",
    }
    with serve(FASTAPI, Environment("cli"), env, tmp_path) as server:
        with httpx.Client(base_url=server.base_url, timeout=30, trust_env=False) as client:
            given = client.get(
                "/chat?tenant=acme", headers={"X-Conversation": "conv-9", "Cookie": "uid=alice"}
            )
            generated = client.get("/chat", headers={"X-Session-ID": "ignored"})
            excluded = client.get("/docs", headers={"X-Conversation": "conv-10"})
        receiver.wait_for_spans(lambda span: span.kind == "SERVER", 3)
        log = server.log()
    assert given.headers["X-Conversation"] == "conv-9", log
    new_id = generated.headers["X-Conversation"]
    assert new_id and new_id != "ignored"
    assert excluded.status_code == 200 and "X-Conversation" not in excluded.headers
    carried = {span.session() for span in receiver.spans()}
    assert carried == {("conv-9", "alice", "acme"), (new_id, None, None), NO_SESSION}, log


def test_a_bad_variable_is_named_once_and_the_app_still_starts(
    receiver: Receiver, tmp_path: Path
) -> None:
    env = {
        **receiver.environment("misconfigured"),
        "OTEL_GENAI_SESSION_MAX_BODY_SIZE": "lots",
        "OTEL_GENAI_SESSION_COOKIE_MAPPING": "sid=conversation",
        "OTEL_GENAI_SESSION_RESPONSE_HEADER": "X-Session-ID",
    }
    carried, log = _one_request(FASTAPI, env, receiver, tmp_path)
    assert set(carried) == {ALICE}, log  # the defaults, and the good variable, still work
    for variable in ("OTEL_GENAI_SESSION_MAX_BODY_SIZE", "OTEL_GENAI_SESSION_COOKIE_MAPPING"):
        lines = [line for line in log.splitlines() if variable in line]
        assert len(lines) == 1, log
        assert "is ignored" in lines[0] and "stays at its default" in lines[0]
    assert "OTEL_GENAI_SESSION_RESPONSE_HEADER" not in log


CODE_APPS = [
    App("fastapi-add-middleware", "apps.fastapi_code:app", "uvicorn", {}),
    App("fastapi-wrapped", "apps.fastapi_code:wrapped", "uvicorn", {}),
    App("flask-wsgi-app", "apps.flask_code:app", "gunicorn", {}),
]


@pytest.mark.parametrize("code", CODE_APPS, ids=[app.id for app in CODE_APPS])
def test_an_app_that_adds_the_middleware_in_code_keeps_its_options(
    code: App, receiver: Receiver, tmp_path: Path
) -> None:
    """Code wins: the app's own header, not the environment's, and one session middleware."""
    env = {
        **receiver.environment("code"),
        "OTEL_GENAI_SESSION_HEADER_MAPPING": "X-Other=session_id",
        "OTEL_GENAI_SESSION_RESPONSE_HEADER": "X-Handled-By-Env",
    }
    with serve(code, Environment("cli"), env, tmp_path) as server:
        with httpx.Client(base_url=server.base_url, timeout=30, trust_env=False) as client:
            by_code = client.get("/chat", headers={"X-Conversation": "conv-code"})
            by_env = client.get("/chat", headers={"X-Other": "conv-env"})
        receiver.wait_for_spans(lambda span: span.kind == "SERVER", 2)
        log = server.log()
    assert by_code.status_code == by_env.status_code == 200, log
    assert "X-Handled-By-Env" not in by_code.headers and "X-Handled-By-Env" not in by_env.headers
    by_trace: dict[str, set[object]] = {}
    for span in receiver.spans():
        by_trace.setdefault(span.trace_id, set()).add(span.session()[0])
    assert sorted(map(sorted, by_trace.values()), key=str) == [["conv-code"], [None]], log
    assert "differ" not in log  # no nested instance with other options saw the request


def test_disabled_by_the_standard_variable(receiver: Receiver, tmp_path: Path) -> None:
    env = {
        **receiver.environment("disabled"),
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "redis,genai_session",
    }
    carried, log = _one_request(FASTAPI, env, receiver, tmp_path)
    assert set(carried) == {NO_SESSION}, log


def _hash(key: bytes, user_id: str) -> str:
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("source", ["variable", "file"])
def test_user_ids_are_hashed_with_the_key_from_the_environment(
    source: str, receiver: Receiver, tmp_path: Path
) -> None:
    secret = tmp_path / "secret" / "hash-key"  # as a Kubernetes secret is mounted
    secret.parent.mkdir()
    secret.write_bytes(b"s3cret\n")
    env = receiver.environment("hashed")
    if source == "file":
        env["OTEL_GENAI_SESSION_USER_ID_HASH_KEY_FILE"] = str(secret)
    else:
        env["OTEL_GENAI_SESSION_USER_ID_HASH_KEY"] = "s3cret"
    with serve(FASTAPI, Environment("cli"), env, tmp_path / "app") as server:
        request_sessions(server.base_url, [ALICE])
        spans = receiver.wait_for_spans(lambda span: span.kind == "SERVER", 1)
        log = server.log()
    for span in receiver.spans():
        assert "user.id" not in span.attributes, log
        assert span.attributes["user.hash"] == _hash(b"s3cret", "alice")
        assert span.attributes["session.id"] == "conv-1"
    assert spans


def test_an_unreadable_key_file_exports_no_ids_at_all(receiver: Receiver, tmp_path: Path) -> None:
    """Better no ids than raw user ids the operator asked to be hashed."""
    missing = tmp_path / "no-such-secret"
    env = {
        **receiver.environment("no-key"),
        "OTEL_GENAI_SESSION_USER_ID_HASH_KEY_FILE": str(missing),
    }
    carried, log = _one_request(FASTAPI, env, receiver, tmp_path)
    assert set(carried) == {NO_SESSION}, log
    lines = [
        line for line in log.splitlines() if "OTEL_GENAI_SESSION_USER_ID_HASH_KEY_FILE" in line
    ]
    assert len(lines) == 1 and "instrumented nothing" in lines[0], log
