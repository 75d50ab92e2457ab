"""The ``OTEL_GENAI_SESSION_*`` variables, parsed: each to its middleware option,
each bad one logged once, naming it, and left at the middleware's default."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from otel_genai_session.instrumentor._environment import (
    OPTION_VARIABLES,
    BadHashKey,
    hash_key_from_environment,
    options_from_environment,
)
from otel_genai_session.middleware._options import MiddlewareOptions, SessionOptions


def hook(scope: object) -> None:
    return None


GOOD = {
    "OTEL_GENAI_SESSION_HEADER_MAPPING": (
        " X-Conversation = session_id , X-Account=user_id",
        {"X-Conversation": "session_id", "X-Account": "user_id"},
    ),
    "OTEL_GENAI_SESSION_COOKIE_MAPPING": ("sid=session_id", {"sid": "session_id"}),
    "OTEL_GENAI_SESSION_QUERY_MAPPING": ("none", {}),
    "OTEL_GENAI_SESSION_BODY_MAPPING": ("metadata.user=user_id", {"metadata.user": "user_id"}),
    "OTEL_GENAI_SESSION_BAGGAGE_MAPPING": ("session.id=session_id", {"session.id": "session_id"}),
    "OTEL_GENAI_SESSION_PROPAGATE_BAGGAGE": ("TRUE", True),
    "OTEL_GENAI_SESSION_GENERATE_SESSION_ID": ("false", False),
    "OTEL_GENAI_SESSION_RESPONSE_HEADER": ("X-Session-ID", "X-Session-ID"),
    "OTEL_GENAI_SESSION_EXCLUDE_PATHS": ("/health, /docs*", ["/health", "/docs*"]),
    "OTEL_GENAI_SESSION_MAX_BODY_SIZE": ("4096", 4096),
    "OTEL_GENAI_SESSION_MAX_VALUE_LENGTH": ("64", 64),
    "OTEL_GENAI_SESSION_EXTRACT": (f"{__name__}:hook", hook),
}
BAD = {
    "OTEL_GENAI_SESSION_HEADER_MAPPING": "X-Conversation",
    "OTEL_GENAI_SESSION_COOKIE_MAPPING": "sid=conversation",
    "OTEL_GENAI_SESSION_QUERY_MAPPING": "=session_id",
    "OTEL_GENAI_SESSION_BODY_MAPPING": "metadata..user=user_id",
    "OTEL_GENAI_SESSION_BAGGAGE_MAPPING": "session.id",
    "OTEL_GENAI_SESSION_PROPAGATE_BAGGAGE": "yes please",
    "OTEL_GENAI_SESSION_GENERATE_SESSION_ID": "1",
    "OTEL_GENAI_SESSION_RESPONSE_HEADER": "X Session",
    "OTEL_GENAI_SESSION_EXCLUDE_PATHS": "health",
    "OTEL_GENAI_SESSION_MAX_BODY_SIZE": "1 MB",
    "OTEL_GENAI_SESSION_MAX_VALUE_LENGTH": "0",
    "OTEL_GENAI_SESSION_EXTRACT": "no.such.module:hook",
}


def test_every_option_has_a_variable() -> None:
    assert sorted(option for option, _ in OPTION_VARIABLES.values()) == sorted(
        SessionOptions.__annotations__
    )
    assert set(GOOD) == set(BAD) == set(OPTION_VARIABLES)


def test_nothing_set_gives_the_middleware_defaults() -> None:
    assert options_from_environment({}) == {}
    assert options_from_environment(dict.fromkeys(OPTION_VARIABLES, " ")) == {}


def test_each_variable_sets_its_option() -> None:
    options = options_from_environment({name: raw for name, (raw, _) in GOOD.items()})
    expected = {OPTION_VARIABLES[name][0]: value for name, (_, value) in GOOD.items()}
    assert options == expected
    MiddlewareOptions.from_keywords(**options)  # accepted together


def test_a_pattern_among_excluded_paths() -> None:
    options = options_from_environment({"OTEL_GENAI_SESSION_EXCLUDE_PATHS": r"re:/v\d+/health"})
    (pattern,) = options["exclude_paths"]
    assert isinstance(pattern, re.Pattern) and pattern.fullmatch("/v2/health")


@pytest.mark.parametrize("variable", sorted(BAD))
def test_a_bad_variable_is_logged_once_naming_it_and_dropped(
    variable: str, caplog: pytest.LogCaptureFixture
) -> None:
    good = {name: raw for name, (raw, _) in GOOD.items() if name != variable}
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        options = options_from_environment({**good, variable: BAD[variable]})
    assert OPTION_VARIABLES[variable][0] not in options
    assert len(options) == len(GOOD) - 1  # the others are kept
    (record,) = caplog.records
    assert record.getMessage().startswith(f"{variable}={BAD[variable]!r} is ignored")
    assert record.getMessage().endswith(f"{OPTION_VARIABLES[variable][0]} stays at its default")


def test_the_hashing_key_from_the_variable_or_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_bytes(b"from-file\n")
    assert hash_key_from_environment({}) is None
    assert hash_key_from_environment({"OTEL_GENAI_SESSION_USER_ID_HASH_KEY": "k"}) == b"k"
    assert (
        hash_key_from_environment({"OTEL_GENAI_SESSION_USER_ID_HASH_KEY_FILE": str(secret)})
        == b"from-file"
    )


@pytest.mark.parametrize("content", [None, b"", b"\n"], ids=["missing", "empty", "newline"])
def test_a_key_file_that_gives_no_key_is_an_error(content: bytes | None, tmp_path: Path) -> None:
    secret = tmp_path / "key"
    if content is not None:
        secret.write_bytes(content)
    with pytest.raises(BadHashKey, match="OTEL_GENAI_SESSION_USER_ID_HASH_KEY_FILE"):
        hash_key_from_environment({"OTEL_GENAI_SESSION_USER_ID_HASH_KEY_FILE": str(secret)})
