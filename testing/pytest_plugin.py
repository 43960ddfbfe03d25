"""The project's pytest plugin, registered through the ``pytest11`` entry point.

It only gathers the plugin modules under ``testing.plugins``; each owns one concern
(requirement markers and gates, cluster and namespace fixtures, service fixtures).
"""

from __future__ import annotations

pytest_plugins: list[str] = [
    "testing.plugins.sharding",
    "testing.plugins.privileges",
    "testing.plugins.requirements",
    "testing.plugins.k8s_fixtures",
    "testing.plugins.services",
]
