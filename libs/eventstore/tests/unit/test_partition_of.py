"""`publish.partition_of` picks the partition aiokafka's default partitioner picks, so a record
goes where `producer.send()` would put it, whichever way it is sent."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st
from interventions_eventstore import publish


@settings(max_examples=2000, deadline=None)
@given(key=st.binary(max_size=200))
def test_murmur2_is_aiokafkas(key: bytes) -> None:
    assert publish.murmur2(key) == aiokafka_murmur2(key)


@settings(max_examples=500, deadline=None)
@given(key=st.binary(max_size=80), count=st.integers(min_value=1, max_value=64))
def test_partition_of_is_the_default_partitioners_twice(key: bytes, count: int) -> None:
    parts = list(range(count))
    expected = DefaultPartitioner()(key, parts, parts)
    assert publish.partition_of(key, parts) == expected
    assert publish.partition_of(key, parts) == expected  # from the cache


def test_a_full_cache_starts_again() -> None:
    publish._HASHES.clear()
    for i in range(publish._HASHES_MAX + 5):
        publish.partition_of(f"key-{i}".encode(), [0, 1, 2, 3])
    assert 0 < len(publish._HASHES) <= publish._HASHES_MAX


def test_a_record_without_key_goes_to_one_of_the_partitions() -> None:
    assert publish.partition_of(None, [3, 5, 7]) in {3, 5, 7}
