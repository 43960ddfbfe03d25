"""Deterministic shard selection: a partition of the suite, balanced, order-independent."""

from __future__ import annotations

import random

import pytest

from testing.plugins.sharding import shard_of

NODEIDS = [f"tests/e2e/test_{m}.py::test_{n}" for m in "abcde" for n in range(7)]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 40])
def test_shards_partition_the_suite(count: int) -> None:
    shards = [shard_of(NODEIDS, i, count) for i in range(count)]
    flat = [nodeid for shard in shards for nodeid in shard]
    assert sorted(flat) == sorted(NODEIDS)
    assert len(flat) == len(set(flat))
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1


def test_selection_does_not_depend_on_collection_order() -> None:
    shuffled = NODEIDS[:]
    random.Random(7).shuffle(shuffled)  # noqa: S311 - a fixed order, not a secret
    assert shard_of(shuffled, 2, 4) == shard_of(NODEIDS, 2, 4)
    assert shard_of(NODEIDS, 0, 3)[:2] == sorted(NODEIDS)[0:4:3]


@pytest.mark.parametrize(("index", "count"), [(3, 3), (-1, 2), (0, 0)])
def test_out_of_range_shards_are_refused(index: int, count: int) -> None:
    with pytest.raises(ValueError, match="is not within"):
        shard_of(NODEIDS, index, count)
