"""``SessionContext`` is a value: it copies, pickles and compares like one (issue 13, item 12).

Jobs carry a captured session across threads and processes and put it back
with ``session_context.resume``; the attributes derive from the ids.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys

import pytest

from otel_genai_session import session_context
from otel_genai_session.privacy import disable_user_id_hashing, enable_user_id_hashing
from otel_genai_session.session import EMPTY_SESSION, SessionContext, get_session_context

SESSION = SessionContext(session_id="conv-1", user_id="alice", customer_id="acme")


def test_fields_are_the_three_ids_and_the_properties() -> None:
    assert [f.name for f in dataclasses.fields(SessionContext)] == [
        "session_id",
        "user_id",
        "customer_id",
        "properties",
    ]
    assert dataclasses.asdict(SESSION) == {
        "session_id": "conv-1",
        "user_id": "alice",
        "customer_id": "acme",
        "properties": {},
    }
    assert dataclasses.astuple(SESSION) == ("conv-1", "alice", "acme", {})
    assert repr(SESSION) == (
        "SessionContext(session_id='conv-1', user_id='alice', customer_id='acme')"
    )
    with_properties = SessionContext("conv-1", properties={"arm": "b"})
    assert repr(with_properties) == (
        "SessionContext(session_id='conv-1', user_id=None, customer_id=None, "
        "properties={'arm': 'b'})"
    )


@pytest.mark.parametrize(
    "clone",
    [
        pytest.param(copy.copy, id="copy"),
        pytest.param(copy.deepcopy, id="deepcopy"),
        pytest.param(lambda s: pickle.loads(pickle.dumps(s)), id="pickle"),
        pytest.param(lambda s: pickle.loads(pickle.dumps(s, protocol=2)), id="pickle-2"),
        pytest.param(lambda s: copy.deepcopy({"job": [s]})["job"][0], id="deepcopy-nested"),
    ],
)
@pytest.mark.parametrize(
    "session",
    [
        pytest.param(SESSION, id="full"),
        pytest.param(SessionContext(user_id="bob"), id="partial"),
        pytest.param(EMPTY_SESSION, id="empty"),
    ],
)
def test_copies_are_equal_values(clone: object, session: SessionContext) -> None:
    copied = clone(session)  # type: ignore[operator]
    assert type(copied) is SessionContext
    assert copied == session and hash(copied) == hash(session)
    assert dict(copied.attributes) == dict(session.attributes)
    assert copied.is_empty() is session.is_empty()


def test_replace_validates_like_the_constructor() -> None:
    changed = dataclasses.replace(SESSION, user_id="bad\r\nid")
    assert (changed.session_id, changed.user_id) == ("conv-1", None)
    assert dict(changed.attributes) == {"session.id": "conv-1", "customer.id": "acme"}


def test_long_ids_a_middleware_accepted_survive_pickling() -> None:
    """A middleware's ``max_id_length`` can exceed the default: the ids stay."""
    long_id = "x" * 500
    session = SessionContext._validated(long_id, None, None)
    assert pickle.loads(pickle.dumps(session)).session_id == long_id


def test_attributes_are_rebuilt_under_the_current_hashing() -> None:
    pickled = pickle.dumps(SESSION)
    enable_user_id_hashing(key="k")
    try:
        loaded = pickle.loads(pickled)
        assert "user.id" not in loaded.attributes
        assert len(loaded.attributes["user.hash"]) == 64
    finally:
        disable_user_id_hashing()
    assert pickle.loads(pickled).attributes["user.id"] == "alice"


def test_a_session_crosses_a_process_and_is_resumed_there() -> None:
    """Another interpreter loads the pickle and runs a job inside it."""
    program = (
        "import pickle, sys\n"
        "from otel_genai_session import get_session_context, session_context\n"
        "session = pickle.loads(sys.stdin.buffer.read())\n"
        "with session_context.resume(session):\n"
        "    current = get_session_context()\n"
        "print(current == session, sorted(current.attributes.items()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        input=pickle.dumps(SESSION),
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.decode().strip() == (
        "True [('customer.id', 'acme'), ('session.id', 'conv-1'), ('user.id', 'alice')]"
    )


def test_a_deep_copied_job_resumes_its_session() -> None:
    job = {"prompt": "hi", "session": SESSION}
    copied = copy.deepcopy(job)
    with session_context.resume(copied["session"]):  # type: ignore[arg-type]
        assert get_session_context() == SESSION
    assert get_session_context() is EMPTY_SESSION


def test_attributes_refuse_every_change_and_copy_as_plain_dicts() -> None:
    attributes = SESSION.attributes
    expected = {"session.id": "conv-1", "user.id": "alice", "customer.id": "acme"}
    changes = [
        lambda: attributes.__setitem__("session.id", "x"),  # type: ignore[attr-defined]
        lambda: attributes.__delitem__("session.id"),  # type: ignore[attr-defined]
        lambda: attributes.update({"x": "y"}),  # type: ignore[attr-defined]
        lambda: attributes.pop("session.id"),  # type: ignore[attr-defined]
        lambda: attributes.popitem(),  # type: ignore[attr-defined]
        lambda: attributes.setdefault("x", "y"),  # type: ignore[attr-defined]
        lambda: attributes.clear(),  # type: ignore[attr-defined]
    ]
    for change in changes:
        with pytest.raises(TypeError, match="read-only"):
            change()
    with pytest.raises(TypeError, match="read-only"):
        merged = attributes
        merged |= {"x": "y"}  # type: ignore[operator]
    assert attributes == expected
    for copied in (copy.copy(attributes), copy.deepcopy(attributes), dict(attributes),
                   pickle.loads(pickle.dumps(attributes)), attributes | {}):  # fmt: skip
        assert type(copied) is dict and copied == expected
        copied["x"] = "y"  # a copy is the caller's own
    assert SESSION.attributes == expected
