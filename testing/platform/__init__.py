"""The platform under test: PostgreSQL, MinIO and the demo dashboard in one namespace.

``python -m testing.platform deploy`` creates the credentials, applies
``k8s/platform`` in dependency order with the pinned images, waits until every
service is healthy and prints how long each took.
"""

from __future__ import annotations


class PlatformError(RuntimeError):
    """An expected deploy failure: one actionable line, shown without a traceback."""
