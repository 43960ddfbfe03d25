"""Is the API server really serving? ``/readyz`` and the ``default`` service account.

Provider tools report "ready" too early: ``kwokctl``'s own wait exits 0 even when the
cluster never came up, and a fresh API server answers ``/readyz`` before the
service-account controller has created ``default/default``, so the first test that
creates a pod is refused. Every provider therefore ends ``create`` with
:func:`wait_for_api_ready`, which waits for both and, on timeout, says in one line
what it saw last.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import urllib3.exceptions
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from testing.cluster.base import ClusterError
from testing.polling import Backoff, WaitTimeoutError, wait_for_condition

#: Upper bound for one HTTP request, so a hung connection cannot eat the whole wait.
REQUEST_TIMEOUT_S = 5.0
_BACKOFF = Backoff(initial=0.1, factor=1.5, maximum=1.0)
#: What a server that is down or starting can make a request raise (urllib3's errors
#: are not ``OSError`` subclasses).
_TRANSPORT_ERRORS = (OSError, ValueError, urllib3.exceptions.HTTPError)
_DEFAULT_SA = "/api/v1/namespaces/default/serviceaccounts/default"


class ApiNotReadyError(ClusterError):
    """The API server did not become ready in time; the message says what was seen last."""


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _describe_error(exc: BaseException) -> str:
    """A short cause: urllib3 wraps connection errors several times over."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return _describe_error(reason)
    return _one_line(f"{type(exc).__name__}: {exc}")


def _failed_checks(body: str) -> str:
    """The ``[-]name failed`` lines of a verbose readyz answer, or the body itself."""
    failed = [line.strip() for line in body.splitlines() if line.strip().startswith("[-]")]
    return _one_line("; ".join(failed) if failed else body or "(empty body)")


def load_api_client(kubeconfig: Path, context: str | None = None) -> Any:
    """An ``ApiClient`` for ``kubeconfig`` without urllib3's silent retries."""
    if not kubeconfig.is_file():
        raise ApiNotReadyError(
            f"kubeconfig {kubeconfig} does not exist: create the cluster first "
            "(python -m testing.cluster up)"
        )
    configuration = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig),
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, OSError, ValueError) as exc:
        raise ApiNotReadyError(
            f"kubeconfig {kubeconfig} cannot be used: {_one_line(str(exc))}"
        ) from None
    # The wait loop retries with a deadline; urllib3's own retries would only hide time.
    configuration.retries = 0
    return client.ApiClient(configuration)


def api_get(
    api_client: Any, path: str, *, accept: str = "application/json", timeout: float = 5.0
) -> tuple[int, str]:
    """``GET path`` with the client's credentials: (HTTP status, body text).

    Raw on purpose: importing ``CoreV1Api`` costs seconds (hundreds of pydantic
    models), which would dominate a re-``up`` of a ready cluster.
    """
    params = api_client.param_serialize(
        method="GET",
        resource_path=path,
        header_params={"Accept": accept},
        auth_settings=["BearerToken"],
    )
    response = api_client.call_api(*params, _request_timeout=timeout)
    body = response.read()
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    return int(response.status), text


def wait_for_api_ready(kubeconfig: Path, *, timeout: float, context: str | None = None) -> None:
    """Return once ``GET /readyz`` is ``ok`` and ServiceAccount ``default/default`` exists.

    Raises :class:`ApiNotReadyError` with one line naming the last thing seen
    (connection refused, the failing readyz checks, the missing service account).
    """
    api_client = load_api_client(kubeconfig, context)
    server = api_client.configuration.host
    last_seen = ["no answer yet"]

    def probe() -> bool:
        try:
            status, body = api_get(
                api_client, "/readyz", accept="text/plain", timeout=REQUEST_TIMEOUT_S
            )
        except _TRANSPORT_ERRORS as exc:
            last_seen[0] = f"GET {server}/readyz: {_describe_error(exc)}"
            return False
        if status != 200 or body.strip() != "ok":
            last_seen[0] = f"/readyz answered HTTP {status}: {_failed_checks(body)}"
            return False
        try:
            status, body = api_get(api_client, _DEFAULT_SA, timeout=REQUEST_TIMEOUT_S)
        except _TRANSPORT_ERRORS as exc:
            last_seen[0] = f"reading ServiceAccount default/default: {_describe_error(exc)}"
            return False
        if status == 404:
            last_seen[0] = "/readyz is ok but ServiceAccount default/default does not exist yet"
            return False
        if status != 200:
            last_seen[0] = (
                f"reading ServiceAccount default/default: HTTP {status} {_one_line(body)}"
            )
            return False
        return True

    try:
        wait_for_condition(
            probe,
            timeout=timeout,
            description=f"API server {server} ready",
            backoff=_BACKOFF,
        )
    except WaitTimeoutError:
        raise ApiNotReadyError(
            f"API server {server} (kubeconfig {kubeconfig}) not ready after {timeout:g}s; "
            f"last seen: {last_seen[0]}"
        ) from None
    finally:
        api_client.close()
