"""Lists packed into one text for `string_to_array` (pure; the store's integration tests send
them to PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from interventions_eventstore import packed


def test_texts_join_by_the_unit_separator() -> None:
    assert packed.texts(["a", "", "b c"]) == "a\x1f\x1fb c"
    assert packed.texts(["", ""]) == "\x1f"


def test_texts_that_would_not_split_back_are_refused() -> None:
    assert packed.texts(["key\x1fwith separator", "b"]) is None
    assert packed.texts([]) is None  # splits to no element: same as [""]
    assert packed.texts([""]) is None


def test_ints_and_times_pack_with_none_as_an_empty_text() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert packed.ints([1, -2, 30]) == "1,-2,30"
    assert packed.times([None, at]) == "\x1f2026-01-02T03:04:05.000006+00:00"


def test_split_names_the_cast_and_the_null_text_for_times() -> None:
    assert packed.split("$2") == "string_to_array($2, E'\\x1f')"
    assert packed.split("$3", "int") == "string_to_array($3, ',')::int[]"
    assert packed.split("$9", "timestamptz") == ("string_to_array($9, E'\\x1f', '')::timestamptz[]")
