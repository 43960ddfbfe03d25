# /// script
# dependencies = ["nox>=2025.2.9", "uv>=0.5"]
# ///
"""Sessions that compose the repository's checks, tiers and cluster lifecycle.

Each session is a few lines: sync a locked environment, then call pytest or
``python -m testing...``. Inputs that cross sessions are environment variables
(``TEST_CLUSTER_PROVIDER``, ``TEST_CLUSTER_NAME``, ...), never posargs, because
nox hands posargs to every required session as well.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import nox

# nox runs this file from its own interpreter, where the project is not installed; the
# flag parser is stdlib-only and shared with the pytest plugin.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from testing.envflags import FlagError, flag

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"

#: Interpreters for the unit tier. GitHub Actions provides all of them; elsewhere the
#: sessions are limited to those that run here, so a one-Python machine (where nox
#: treats a missing interpreter as an error under CI=true) is not a failure.
ALL_PYTHONS = ["3.11", "3.12", "3.13"]


def _pyenv_selected() -> list[str]:
    """Versions pyenv would run here, read from its files (``nox -l`` starts no process)."""
    names = os.environ.get("PYENV_VERSION", "").split(":")
    directory = Path.cwd()
    for folder in (directory, *directory.parents):
        local = folder / ".python-version"
        if local.is_file():
            names += local.read_text(encoding="utf-8").split()
            break
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    if (root / "version").is_file():
        names += (root / "version").read_text(encoding="utf-8").split()
    return [name for name in names if name]


def _runs(version: str) -> bool:
    """Whether ``python<version>`` would start, decided without starting it: a pyenv shim
    exists for every installed version but fails unless that version is selected."""
    exe = shutil.which(f"python{version}")
    if exe is None:
        return False
    if f"{os.sep}shims{os.sep}" not in exe:
        return True
    return any(name == version or name.startswith(f"{version}.") for name in _pyenv_selected())


PYTHONS = (
    ALL_PYTHONS
    if os.environ.get("GITHUB_ACTIONS") == "true"
    else [v for v in ALL_PYTHONS if _runs(v)] or ALL_PYTHONS[:1]
)
PYTHON = PYTHONS[0]


def sync(session: nox.Session, *groups: str) -> None:
    """Install the project and ``groups`` into the session venv, exactly as ``uv.lock`` says.

    ``--locked`` fails when pyproject.toml changed without a re-lock; the message
    below says what to do instead of leaving a uv traceback to decode.
    """
    args = ["uv", "sync", "--locked", "--no-default-groups"]
    args += [f"--group={group}" for group in groups]
    # Compile bytecode at install time: with PYTHONDONTWRITEBYTECODE set (common in CI
    # images) every CLI call would otherwise recompile the kubernetes client (~2-3 s).
    env = {"UV_PROJECT_ENVIRONMENT": session.virtualenv.location, "UV_COMPILE_BYTECODE": "1"}
    try:
        session.run_install(*args, env=env, external=True, silent=True)
    except nox.command.CommandFailed:
        stale = session.run_install(
            "uv", "lock", "--check", external=True, silent=True, success_codes=[0, 1, 2]
        )
        if stale and "needs to be updated" in str(stale):
            session.error("uv.lock is out of date with pyproject.toml: run `uv lock` and commit it")
        session.error("installing the locked environment failed; uv's output is above")


@nox.session(python=PYTHON, tags=["ci", "offline"], default=True)
def lint(session: nox.Session) -> None:
    """Ruff lint and format check, and actionlint on the GitHub workflows."""
    sync(session, "lint")
    # No posargs: `nox -- -k x` is meant for pytest and would break ruff.
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "-m", "testing.tools", "run", "actionlint", "--", "-color")


@nox.session(python=PYTHON, tags=["ci", "offline"], default=True)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the testing and demo packages and this noxfile."""
    sync(session, "typecheck", "demo")
    session.run("mypy", "testing", "demo", "noxfile.py")


@nox.session(python=PYTHONS, tags=["ci", "offline"], default=True)
def unit(session: nox.Session) -> None:
    """Unit tests in parallel (pytest -n auto); no cluster, no network."""
    sync(session, "test", "security")
    session.run("pytest", "-n", "auto", "tests/unit", *session.posargs)


@nox.session(python=PYTHON, tags=["ci"], default=False)
@nox.parametrize("scanner", ["bandit", "pip-audit", "manifests", "secrets", "images"])
def security(session: nox.Session, scanner: str) -> None:
    """One security scanner; fails on findings or when it could not check (SECURITY_ADVISORY_DB)."""
    sync(session, "security")
    session.run("python", "-m", "testing.security", scanner, *session.posargs)


@nox.session(python=PYTHON, tags=["ci", "offline"], default=True)
def quality(session: nox.Session) -> None:
    """Test-quality gate: AST rules over tests/ with a score per tier; fails on any finding."""
    sync(session)
    session.run("python", "-m", "testing.quality", "--json", "artifacts/quality/quality.json")


@nox.session(python=PYTHON, tags=["ci", "offline"], default=True)
def traceability(session: nox.Session) -> None:
    """Requirement coverage against tests/requirements.yaml; TRACEABILITY_THRESHOLD (100)."""
    sync(session, "test")
    session.run("python", "-m", "testing.traceability")


@nox.session(python=PYTHON, tags=["cluster"], default=False)
def cluster(session: nox.Session) -> None:
    """Create or reuse the test cluster (TEST_CLUSTER_PROVIDER, TEST_CLUSTER_NAME)."""
    sync(session)
    session.run("python", "-m", "testing.cluster", "up")


@nox.session(python=PYTHON, tags=["cluster"], default=False)
def down(session: nox.Session) -> None:
    """Delete the test cluster and its local files (existing: only the local files)."""
    sync(session)
    session.run("python", "-m", "testing.cluster", "down")


@nox.session(python=PYTHON, requires=["cluster"], tags=["cluster"], default=False)
def deploy(session: nox.Session) -> None:
    """Platform services (PostgreSQL, MinIO, dashboard) on the cluster, awaited until healthy."""
    sync(session)
    session.run("python", "-m", "testing.platform", "deploy")


@contextlib.contextmanager
def on_the_cluster(session: nox.Session) -> Iterator[None]:
    """Export the cluster's logs if the tests fail; then `down` unless TEST_KEEP_CLUSTER=1."""
    try:
        yield
    except nox.command.CommandFailed:
        session.run("python", "-m", "testing.cluster", "export-logs", success_codes=[0, 1])
        raise
    finally:
        # `down` runs here rather than through session.notify, which raises under
        # --no-dependencies and would hide pytest's result.
        if not keep_cluster(session):
            try:
                session.run("python", "-m", "testing.cluster", "down")
            except nox.command.CommandFailed:
                session.warn("`down` failed; run `nox -s down` to remove the cluster")


def keep_cluster(session: nox.Session) -> bool:
    """``TEST_KEEP_CLUSTER``, parsed as the pytest plugin parses it."""
    try:
        return flag("TEST_KEEP_CLUSTER")
    except FlagError as exc:
        session.error(str(exc))


@nox.session(python=PYTHON, requires=["cluster"], tags=["cluster", "integration"], default=False)
def integration(session: nox.Session) -> None:
    """Integration tier with local PostgreSQL and MinIO; then `down` unless TEST_KEEP_CLUSTER=1."""
    sync(session, "test")
    with on_the_cluster(session):
        session.run(
            "pytest", "-n", "auto", "--local-services", "tests/integration", *session.posargs
        )


@nox.session(python=PYTHON, requires=["deploy"], tags=["cluster"], default=False)
def demo(session: nox.Session) -> None:
    """The three demo data products as Jobs on the cluster; summary table and dashboard URL."""
    sync(session, "demo")
    session.run("python", "-m", "demo.cluster")


@nox.session(python=PYTHON, requires=["demo"], tags=["cluster", "e2e"], default=False)
def e2e(session: nox.Session) -> None:
    """e2e suite from the host, then in the cluster as TEST_SHARDS shards; then `down`."""
    sync(session, "test", "demo")
    with on_the_cluster(session):
        session.run("pytest", "tests/e2e", *session.posargs)
        session.run("python", "-m", "testing.runner", "run")
