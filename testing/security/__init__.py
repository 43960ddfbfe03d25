"""Security scanners that can fail: bandit, pip-audit, Kubernetes manifests, committed secrets.

Each scanner writes a JSON report (and SARIF where the tool or this package can
produce it) into one reports folder and returns a :class:`~testing.security.report.ScanResult`.
A scanner that could not check what it was asked to check raises
:class:`~testing.security.report.ScanError` instead of reporting "clean".
``python -m testing.security <scanner>`` is the command-line entry.
"""
