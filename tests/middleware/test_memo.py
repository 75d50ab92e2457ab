"""SessionMemo: bounded in entries and key size (so in bytes), oldest out first, one hashing
generation at a time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_genai_session.middleware._memo import (
    ENTRY_OVERHEAD,
    LARGEST_KEY,
    MEMO_BYTES,
    MOST_ENTRIES,
    SessionMemo,
    key_bytes,
)
from otel_genai_session.privacy import (
    disable_user_id_hashing,
    enable_user_id_hashing,
    hashing_generation,
)


@pytest.fixture
def hashing_off_afterwards() -> Iterator[None]:
    yield
    disable_user_id_hashing()


def test_bounded_in_entries_and_oldest_out_first() -> None:
    memo: SessionMemo[int] = SessionMemo(most_entries=10, largest_key=100)
    generation = hashing_generation()
    keys = [(b"k%09d" % i,) for i in range(25)]
    for i, key in enumerate(keys):
        memo.put(key, i, generation)
        assert len(memo) <= 10
    assert len(memo) == 10
    assert [memo.get(key) for key in keys[-10:]] == list(range(15, 25))
    assert all(memo.get(key) is None for key in keys[:15])


def test_full_of_the_largest_keys_it_stays_within_its_bytes() -> None:
    assert MOST_ENTRIES * (LARGEST_KEY + ENTRY_OVERHEAD) <= MEMO_BYTES


def test_a_key_over_the_largest_is_never_kept_and_evicts_nothing() -> None:
    memo: SessionMemo[str] = SessionMemo(most_entries=1, largest_key=64)
    generation = hashing_generation()
    memo.put((b"small",), "kept", generation)
    memo.put((b"x" * 65,), "too large", generation)
    split = (b"x" * 30, "y" * 40, None)  # the values add up
    assert key_bytes(split) == 70
    memo.put(split, "too large too", generation)
    assert (memo.get((b"small",)), memo.get((b"x" * 65,)), memo.get(split)) == ("kept", None, None)
    assert len(memo) == 1


def test_a_replaced_value_is_kept_once() -> None:
    memo: SessionMemo[str] = SessionMemo()
    generation = hashing_generation()
    memo.put(("a", b"b", None), "first", generation)
    memo.put(("a", b"b", None), "second", generation)
    assert (len(memo), memo.get(("a", b"b", None))) == (1, "second")


@pytest.mark.usefixtures("hashing_off_afterwards")
def test_a_switch_of_user_id_hashing_starts_afresh_and_refuses_older_values() -> None:
    memo: SessionMemo[str] = SessionMemo()
    before = hashing_generation()
    memo.put((b"alice",), "built with hashing off", before)
    enable_user_id_hashing(key="k")
    assert memo.get((b"alice",)) is None and len(memo) == 0
    memo.put((b"alice",), "built before the switch, stored after", before)
    assert memo.get((b"alice",)) is None
    memo.put((b"alice",), "built after the switch", hashing_generation())
    assert memo.get((b"alice",)) == "built after the switch"
