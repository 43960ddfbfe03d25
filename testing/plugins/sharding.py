"""``--shard-index`` / ``--shard-count``: run one deterministic slice of the collected tests.

Tests are ordered by node id and dealt round-robin, so every shard gets a near-equal
count, the union of all shards is the whole suite, no test runs twice, and the split
depends only on the collected node ids (not on file order, hash seeds or the machine).
The in-cluster test runner passes ``$JOB_COMPLETION_INDEX`` and ``$TEST_SHARDS``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sharding", "run one shard of the suite")
    group.addoption("--shard-index", type=int, default=0, help="this shard, 0-based")
    group.addoption("--shard-count", type=int, default=1, help="how many shards in total")


def shard_of(nodeids: Sequence[str], index: int, count: int) -> list[str]:
    """The node ids shard ``index`` of ``count`` runs (sorted order, every count-th one)."""
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard index {index} is not within 0..{count - 1}")
    return [nodeid for position, nodeid in enumerate(sorted(nodeids)) if position % count == index]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    index = int(config.getoption("--shard-index"))
    count = int(config.getoption("--shard-count"))
    try:
        keep = set(shard_of([item.nodeid for item in items], index, count))
    except ValueError as exc:
        raise pytest.UsageError(f"--shard-index/--shard-count: {exc}") from None
    if count == 1:
        return
    selected = [item for item in items if item.nodeid in keep]
    deselected = [item for item in items if item.nodeid not in keep]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = selected
