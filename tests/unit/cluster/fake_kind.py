"""A scripted stand-in for ``kind`` (and ``docker``/``podman``) that unit tests put on PATH.

Unit tests cannot create real clusters, so this executable plays back what the real
binaries print for each situation (the texts were captured from kind v0.32.0 and
Docker 20.10 on this project's machines) and records every argv it was called
with. The real binaries are exercised in tests/integration/cluster/test_kind_real.py.

A rule matches when the call's arguments start with ``match``. It may print
``stdout``/``stderr``, exit with ``exit``, copy ``write_file`` to the path after
``--kubeconfig``, send SIGINT to its parent (a user's Ctrl-C reaching the caller)
and then wait to be killed, hang for ``hang_seconds``, or be used only ``once``.
Unmatched calls exit 99.
"""

from __future__ import annotations

import http.server
import json
import os
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_PROGRAM = r"""#!{python}
import json, os, signal, sys, threading
from pathlib import Path

here = Path(__file__)
scenario = json.loads(here.with_name(here.name + ".json").read_text())
state_file = here.with_name(here.name + ".used")
used = set(json.loads(state_file.read_text())) if state_file.exists() else set()
args = sys.argv[1:]
with open(scenario["log"], "a") as log:
    log.write(json.dumps({{"tool": here.name, "argv": args,
        "provider": os.environ.get("KIND_EXPERIMENTAL_PROVIDER", ""),
        "containers_conf": os.environ.get("CONTAINERS_CONF", ""),
        "docker_host": os.environ.get("DOCKER_HOST", ""), "cwd": os.getcwd()}}) + "\n")
for index, rule in enumerate(scenario["rules"]):
    if index in used or args[: len(rule["match"])] != rule["match"]:
        continue
    if rule.get("once"):
        used.add(index)
        state_file.write_text(json.dumps(sorted(used)))
    if rule.get("write_file") is not None and "--kubeconfig" in args:
        Path(args[args.index("--kubeconfig") + 1]).write_text(rule["write_file"])
    sys.stdout.write(rule.get("stdout", ""))
    sys.stderr.write(rule.get("stderr", ""))
    sys.stdout.flush()
    sys.stderr.flush()
    if rule.get("hang_seconds"):
        threading.Event().wait(rule["hang_seconds"])  # a stuck kind, for timeout tests
    if rule.get("interrupt_parent"):
        os.kill(os.getppid(), signal.SIGINT)
        threading.Event().wait(60)  # the caller kills us, as subprocess.run does on Ctrl-C
    sys.exit(rule.get("exit", 0))
sys.stderr.write("fake {name}: no rule for " + " ".join(args) + "\n")
sys.exit(99)
"""


@dataclass
class FakeCommand:
    """One fake executable ``bin_dir/name`` and its scenario."""

    bin_dir: Path
    name: str
    rules: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.bin_dir / f"{self.name}.calls.jsonl"
        self.path.write_text(_PROGRAM.format(python=sys.executable, name=self.name))
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR)
        self._save()

    @property
    def path(self) -> Path:
        return self.bin_dir / self.name

    def on(self, *match: str, **behaviour: Any) -> FakeCommand:
        """Add a rule: calls whose argv starts with ``match`` get ``behaviour``."""
        self.rules.append({"match": list(match), **behaviour})
        self._save()
        return self

    def calls(self) -> list[list[str]]:
        """Every argv this fake was called with, in order."""
        return [entry["argv"] for entry in self.entries()]

    def entries(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def _save(self) -> None:
        scenario = {"log": str(self.log), "rules": self.rules}
        self.path.with_name(self.name + ".json").write_text(json.dumps(scenario))


def path_with(bin_dir: Path) -> str:
    """PATH with ``bin_dir`` first, so the fakes shadow any real kind or docker."""
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


KIND_VERSION_OUT = "kind v0.32.0 go1.26.8 linux/amd64\n"

#: What kind v0.32.0 printed on this machine when the node image could not be pulled.
PULL_FAILED = (
    'Creating cluster "{name}" ...\n'
    " ✗ Ensuring node image (kindest/node:v1.36.1) 🖼\n"
    'ERROR: failed to create cluster: failed to pull image "{image}": command "docker pull '
    '{image}" failed with error: exit status 1\n\nCommand Output: Error response from daemon: '
    'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host\n'
)
#: ... when the Docker daemon was not running.
DAEMON_DOWN = (
    'ERROR: failed to list clusters: command "docker ps -a --filter label=io.x-k8s.kind.cluster '
    '--format \'{{.Label "io.x-k8s.kind.cluster"}}\'" failed with error: exit status 1\n\n'
    "Command Output: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?\n"
)
#: ... when nodes of a cluster with that name already existed (create/create.go).
NAME_TAKEN = (
    'ERROR: failed to create cluster: node(s) already exist for a cluster with the name "{name}"\n'
)
#: ... when --wait ran out: kind exits 0 with only a warning.
WAIT_RAN_OUT = (
    'Creating cluster "{name}" ...\n'
    " ✗ Waiting ≤ 3m0s for control-plane = Ready ⏳\n"
    " • WARNING: Timed out waiting for Ready ⚠️\n"
)


def kubeconfig_for(server: str, context: str = "kind-test") -> str:
    """A kubeconfig text whose only context points at ``server``."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": server}}],
            "users": [{"name": context, "user": {"token": "fake-token"}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }
    )


@dataclass
class ApiState:
    """What the local API stand-in answers: ``/readyz`` status and body, and the SA."""

    readyz: tuple[int, str] = (200, "ok")
    service_account: bool = True
    seen: list[str] = field(default_factory=list)


@contextmanager
def fake_api(state: ApiState) -> Iterator[str]:
    """A local HTTP server answering the two readiness requests as ``state`` says.

    Yields its URL. The states a unit test needs (an etcd check failing, ``/readyz`` ok
    before the ``default`` service account exists) cannot be produced on demand by a
    real control plane; the ready path against one is proven in tests/integration/cluster.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append(self.path)
            if self.path.startswith("/readyz"):
                status, body = state.readyz
                self._answer(status, "text/plain", body)
            elif self.path == "/api/v1/namespaces/default/serviceaccounts/default":
                if state.service_account:
                    sa = {
                        "apiVersion": "v1",
                        "kind": "ServiceAccount",
                        "metadata": {"name": "default", "namespace": "default"},
                    }
                    self._answer(200, "application/json", json.dumps(sa))
                else:
                    self._answer(404, "application/json", json.dumps({"kind": "Status"}))
            else:
                self._answer(404, "text/plain", "not found")

        def _answer(self, status: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def ready_api() -> Iterator[tuple[str, list[str]]]:
    """A ready API server stand-in; yields its URL and the list of paths requested.

    The fake kind writes kubeconfigs that point here, so ``create`` runs the real
    readiness wait (testing.cluster.readiness) end to end without a control plane.
    """
    state = ApiState()
    with fake_api(state) as url:
        yield url, state.seen
