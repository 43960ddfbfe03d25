"""Requirement traceability: the registry, which tests cover each requirement, and the gate.

``python -m testing.traceability`` (``nox -s traceability``) collects every tier
with pytest (no cluster needed), joins the collected tests with the registry in
``tests/requirements.yaml`` and the last recorded results, writes Markdown and
JSON under ``artifacts/traceability/`` and exits non-zero when a registered
requirement has no test, a test names an unknown id, or an integration or e2e
test names none.
"""
