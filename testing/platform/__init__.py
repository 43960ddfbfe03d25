"""The platform under test: PostgreSQL, MinIO and the demo dashboard in one namespace.

``python -m testing.platform deploy`` creates the credentials, applies
``k8s/platform`` in dependency order with the pinned images, waits until every
service is healthy and prints how long each took.
"""

from __future__ import annotations

import os

#: The namespace the platform is deployed to and read from (one answer for deploy, the
#: demo Jobs' runner and the fixtures that port-forward to the platform's services).
NAMESPACE_ENV = "TEST_PLATFORM_NAMESPACE"
DEFAULT_NAMESPACE = "ktp-platform"


def platform_namespace() -> str:
    return os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE


class PlatformError(RuntimeError):
    """An expected deploy failure: one actionable line, shown without a traceback."""
