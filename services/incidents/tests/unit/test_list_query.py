"""The list's fast path reads a query exactly as the route's declared parameters would, and
leaves every query the route might refuse or read differently to the route."""

from __future__ import annotations

import pytest
from incidents.api import _list_query
from incidents.queries import Filters


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", (Filters(), 50, None)),
        (b"status=open&limit=50", (Filters(status=["open"]), 50, None)),
        (
            b"status=open&status=resolved&severity=sev1&kind=budget&key=INV_a%20b&team=t&cursor=0",
            (Filters(["open", "resolved"], ["sev1"], ["budget"], "INV_a b", "t"), 50, 0),
        ),
        (b"key=a&key=b&limit=7&limit=9", (Filters(key="b"), 9, None)),  # the last one wins
        (b"key=&team=", (Filters(key="", team=""), 50, None)),
        (b"cursor=123456789012345678&limit=500", (Filters(), 500, 123456789012345678)),
        (b"unknown=1&limit=1", (Filters(), 1, None)),  # ignored, as by the route
    ],
)
def test_plain_queries_are_read_as_the_route_reads_them(
    query: bytes, expected: tuple[Filters, int, int | None]
) -> None:
    assert _list_query(query) == expected


@pytest.mark.parametrize(
    "query",
    [
        b"status=bogus",
        b"status=",
        b"status=open&status=OPEN",
        b"severity=sev9",
        b"kind=x",
        b"limit=0",
        b"limit=501",
        b"limit=",
        b"limit=abc",
        b"limit=050",
        b"limit=%EF%BC%95",  # a fullwidth digit
        b"limit=-1",
        b"cursor=",
        b"cursor=abc",
        b"cursor=1234567890123456789",
        b"cursor=007",
    ],
)
def test_anything_else_is_left_to_the_route(query: bytes) -> None:
    assert _list_query(query) is None
