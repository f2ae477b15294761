"""Event ids drawn in blocks: version-4 UUID strings, never repeated."""

from __future__ import annotations

import itertools
import uuid

from incidents.writer import event_ids


def test_event_ids_are_distinct_version_4_uuids_across_blocks() -> None:
    ids = list(itertools.islice(event_ids(n=64), 10_000))  # many blocks of 64
    assert len(set(ids)) == len(ids)
    for text in ids[:500] + ids[-500:]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
