"""The test-quality gate: AST rules for tests that cannot fail, sleep, fake the system or skip.

``python -m testing.quality`` (``nox -s quality``) checks every Python file under
``tests/``, prints one line per finding (rule id, file:line, why, fix) and a
0-100 score per tier, and exits 1 on any finding. The pytest plugin runs the
same rules on each test module it collects, so a finding is also a collection
error. Rules: :mod:`testing.quality.rules`; what counts as an assertion:
:mod:`testing.quality.checker`; score weights: :mod:`testing.quality.score`.
"""
