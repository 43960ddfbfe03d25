"""Cluster, client and namespace fixtures; diagnostics on failure; the namespace leak check.

* ``cluster``: the selected provider's cluster. An existing one is reused and left
  alone; an absent one is created (under a file lock, so pytest-xdist workers do
  not race) and deleted when the run ends unless ``--keep-cluster`` or
  ``TEST_KEEP_CLUSTER=1``.
* ``k8s_client`` (alias ``api_client``): an ``ApiClient`` on the cluster's kubeconfig.
* ``namespace`` / ``namespace_factory``: namespaces made for one test (see
  :mod:`testing.k8s.namespaces`), deleted at teardown unless ``--keep-namespaces``.
  The deletion is not awaited there: the namespace controller takes its own 5 s
  before it even starts, which every test would pay. Each process (each xdist
  worker) awaits all its deletions together once, when its ``k8s_client`` closes.
* When a test that used a namespace fails, the events, statuses and every
  container's logs of its namespaces are attached to the report (section
  "k8s diagnostics") and written under ``artifacts/diagnostics/tests/``.
* At the end of the run (in the xdist controller) every namespace labelled with
  this run's id that is still there is deleted and the run FAILS, naming the test
  that made it: a leak is a bug. This also cleans up after Ctrl-C.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from testing.cluster import ClusterError, ClusterProvider, get_provider
from testing.envflags import FlagError, flag
from testing.k8s import diagnostics
from testing.k8s.client import api_client as make_api_client
from testing.k8s.namespaces import (
    RUN_LABEL,
    TEST_ANNOTATION,
    NamespaceError,
    NamespaceNamer,
    await_deletion,
    begin_deletion,
    create_namespace,
    new_run_id,
    tests_of_run,
    why_not_gone,
)
from testing.pins import REPO_ROOT
from testing.polling import WaitTimeoutError

RUN_ID_ENV = "TEST_RUN_ID"
KEEP_CLUSTER_ENV = "TEST_KEEP_CLUSTER"
DIAGNOSTICS_DIR = REPO_ROOT / "artifacts" / "diagnostics" / "tests"
_RUN_ID = pytest.StashKey[str]()
_NAMER = pytest.StashKey[NamespaceNamer]()
_ITEM_NAMESPACES = pytest.StashKey[list[str]]()
#: Namespaces this process asked to delete and has not seen gone yet.
_DELETING = pytest.StashKey[list[str]]()
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _keep_cluster_default() -> bool:
    """``TEST_KEEP_CLUSTER``, parsed as the noxfile parses it (testing.envflags)."""
    try:
        return flag(KEEP_CLUSTER_ENV)
    except FlagError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("k8s-test-platform cluster")
    group.addoption(
        "--keep-cluster",
        action="store_true",
        default=_keep_cluster_default(),
        help="keep a cluster this run created (default: delete it; env TEST_KEEP_CLUSTER=1)",
    )
    group.addoption(
        "--keep-namespaces",
        action="store_true",
        default=False,
        help="leave each test's namespaces for inspection (the leak check then only lists them)",
    )
    group.addoption(
        "--namespace-timeout",
        type=float,
        default=120.0,
        help="seconds to wait for a namespace deletion to finish (default 120)",
    )


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if _is_worker(config):
        run_id = str(config.workerinput["ktp_run_id"])  # type: ignore[attr-defined]
        worker = str(config.workerinput.get("workerid", "gw"))  # type: ignore[attr-defined]
    else:
        run_id = os.environ.get(RUN_ID_ENV) or new_run_id()
        worker = "main"
    config.stash[_RUN_ID] = run_id
    config.stash[_NAMER] = NamespaceNamer(run_id, worker)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: hand the controller's run id to every worker."""
    node.workerinput["ktp_run_id"] = node.config.stash[_RUN_ID]


def _ledger(run_id: str) -> Path:
    """A file the workers append namespace names to; its presence arms the leak check."""
    return Path(tempfile.gettempdir()) / f"ktp-run-{run_id}.namespaces"


def _created_marker(provider: ClusterProvider, run_id: str) -> Path:
    return provider.config.state_dir / f"{provider.config.name}.created-by-{run_id}"


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config) -> ClusterProvider:
    """The test cluster (reused if it exists, else created for this run)."""
    try:
        provider = get_provider()
        provider.config.state_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(provider.config.lock_path)):
            if provider.exists():
                provider.wait_until_ready(timeout=60)
            else:
                provider.create()
                _created_marker(provider, pytestconfig.stash[_RUN_ID]).touch()
    except (ClusterError, WaitTimeoutError) as exc:
        pytest.fail(f"test cluster unavailable: {str(exc).splitlines()[0]}", pytrace=False)
    return provider


@pytest.fixture(scope="session")
def k8s_client(pytestconfig: pytest.Config, cluster: ClusterProvider) -> Iterator[ApiClient]:
    """An ``ApiClient`` on the test cluster's kubeconfig (its use arms the leak check)."""
    run_id = pytestconfig.stash[_RUN_ID]
    _ledger(run_id).touch()
    client = make_api_client(cluster.kubeconfig_path())
    pytestconfig.stash[_DELETING] = []
    try:
        yield client
    finally:
        # One wait for every deletion this process started; what is still there then is
        # for the end-of-run leak check to name and fail on.
        try:
            await_deletion(
                client,
                pytestconfig.stash[_DELETING],
                timeout=pytestconfig.getoption("--namespace-timeout"),
                label_selector=f"{RUN_LABEL}={run_id}",
            )
        finally:
            client.close()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="session")
def api_client(k8s_client: ApiClient) -> ApiClient:
    """Alias of ``k8s_client``."""
    return k8s_client


@pytest.fixture
def namespace_factory(
    request: pytest.FixtureRequest, cluster: ClusterProvider, k8s_client: ApiClient
) -> Generator[Callable[[str], str], None, None]:
    """``make(hint="") -> name``: a new namespace for this test; all deleted at teardown."""
    config = request.config
    namer = config.stash[_NAMER]
    made: list[str] = []
    request.node.stash[_ITEM_NAMESPACES] = made
    ledger = _ledger(namer.run_id)

    def make(hint: str = "") -> str:
        name = namer.next_name(hint or request.node.name)
        with ledger.open("a") as handle:
            handle.write(name + "\n")
        create_namespace(
            k8s_client,
            name,
            labels=namer.labels(),
            annotations={TEST_ANNOTATION: request.node.nodeid[-250:]},
        )
        made.append(name)
        return name

    yield make
    if made and not config.getoption("--keep-namespaces"):
        begin_deletion(k8s_client, made, force_pods=not cluster.runs_containers)
        config.stash[_DELETING].extend(made)


@pytest.fixture
def namespace(namespace_factory: Callable[[str], str]) -> str:
    """A fresh namespace for this test, labelled with the run id; gone after the test."""
    return namespace_factory("")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    names = item.stash.get(_ITEM_NAMESPACES, [])
    if not report.failed or report.when == "teardown" or not names:
        return
    client = item.funcargs.get("k8s_client") if hasattr(item, "funcargs") else None
    if client is None:
        return
    target = DIAGNOSTICS_DIR / _UNSAFE.sub("_", item.nodeid)[-150:]
    for name in names:
        try:
            diag = diagnostics.collect(client, name)
        except Exception as exc:  # a report must not hide the test's own failure
            report.sections.append((f"k8s diagnostics {name}", f"could not collect: {exc}"))
            continue
        path = diag.write(target)
        report.sections.append((f"k8s diagnostics {name}", f"(also in {path})\n{diag.to_text()}"))


def _fail(session: pytest.Session) -> None:
    """Turn a passing run into a failed one (an interrupted or failed run keeps its code)."""
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(trylast=True)  # after pytest's own teardown of the last test's fixtures
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _is_worker(config):
        return
    run_id = config.stash.get(_RUN_ID, "")
    ledger = _ledger(run_id)
    if not run_id or not ledger.exists():
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    api: ApiClient | None = None
    try:
        provider = get_provider()
        api = make_api_client(provider.kubeconfig_path())
        made_by = tests_of_run(api, run_id)
        left = sorted(made_by)
        if left and config.getoption("--keep-namespaces"):
            if reporter is not None:
                reporter.write_line(f"kept namespaces of run {run_id}: {', '.join(left)}")
        elif left:
            timeout = config.getoption("--namespace-timeout")
            begin_deletion(api, left)
            stuck = await_deletion(
                api, left, timeout=timeout, label_selector=f"{RUN_LABEL}={run_id}"
            )
            if reporter is not None:
                named = ", ".join(f"{n} (made by {made_by[n] or 'no test'})" for n in left)
                outcome = "now deleted" if not stuck else f"{len(stuck)} will not go away"
                reporter.write_line(
                    f"NAMESPACE LEAK: run {run_id} left {len(left)} namespace(s) "
                    f"({outcome}): {named}",
                    red=True,
                )
                for name in stuck:
                    reporter.write_line(
                        f"NAMESPACE LEAK: {name} is still there after {timeout:.0f}s: "
                        f"{why_not_gone(api, name)}",
                        red=True,
                    )
            _fail(session)
        marker = _created_marker(provider, run_id)
        if marker.exists() and not config.getoption("--keep-cluster"):
            provider.delete()
            marker.unlink(missing_ok=True)
            provider.config.lock_path.unlink(missing_ok=True)
    except (
        ClusterError,
        NamespaceError,
        WaitTimeoutError,
        ApiException,
        HTTPError,
        OSError,
    ) as exc:
        # An unreachable API server must fail the run with one line, not an INTERNALERROR.
        if reporter is not None:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            reporter.write_line(f"namespace leak check failed: {first}", red=True)
        _fail(session)
    finally:
        if api is not None:
            api.close()  # type: ignore[no-untyped-call]
        ledger.unlink(missing_ok=True)
