"""Requirement traceability: the registry, which tests cover each requirement, and the gate.

``python -m testing.traceability`` (``nox -s traceability``) collects every tier
with pytest (no cluster needed), joins the collected tests with the registry in
``tests/requirements.yaml`` and the last recorded results, writes Markdown and
JSON under ``artifacts/traceability/`` and exits non-zero when a registered
requirement has no test, a test names an unknown id, or an integration or e2e
test names none.

Decisions: tests are found by pytest's own collection (markers on classes and
modules, parametrisation and conftest hooks count), not by a static scan. Unit
tests may carry ``@pytest.mark.requirement`` and then count for coverage, but
only integration and e2e tests must. The last result of each test comes from the
results file the pytest plugin merges after every run; without it the report
says "not run" instead of guessing.
"""
