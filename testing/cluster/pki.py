"""The certificates of a cluster the project runs itself, made with the ``openssl`` CLI.

The ``local`` provider starts etcd, the API server and a kubelet as host processes,
so it needs what kubeadm would make: one CA, serving certificates with the right
SANs (the API server is reached as ``10.96.0.1`` from pods and as the node IP from
the host), client certificates whose subject carries the identity RBAC and the Node
authorizer expect, and the service-account signing key. ``openssl`` is on every
Linux machine that can run a kubelet, so no Python crypto dependency is needed.
Every key is written 0600 inside a 0700 directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testing.cluster.base import ClusterError

OPENSSL_TIMEOUT_S = 60
DAYS = "30"


@dataclass(frozen=True)
class Identity:
    """A certificate to issue: file stem, subject, SANs and whether it serves or is a client."""

    stem: str
    common_name: str
    organisation: str = ""
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    server: bool = False
    client: bool = True


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        raise ClusterError("openssl is not installed: `apt-get install openssl`")
    return found


def _run(argv: list[str], cwd: Path) -> None:
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=OPENSSL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise ClusterError(f"openssl {argv[1]} ran longer than {OPENSSL_TIMEOUT_S}s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ClusterError(f"openssl {argv[1]} failed: {last}")


def _private(path: Path) -> None:
    path.chmod(0o600)


class Pki:
    """A directory of PEM files: ``ca.crt``/``ca.key``, ``<stem>.crt``/``<stem>.key``, ``sa.*``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def crt(self, stem: str) -> Path:
        return self.directory / f"{stem}.crt"

    def key(self, stem: str) -> Path:
        return self.directory / f"{stem}.key"

    def create(self, identities: list[Identity]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        openssl = _openssl()
        cwd = self.directory
        _run([openssl, "genrsa", "-out", "ca.key", "2048"], cwd)
        _private(self.key("ca"))
        _run(
            [
                openssl,
                "req",
                "-x509",
                "-new",
                "-key",
                "ca.key",
                "-days",
                DAYS,
                "-subj",
                "/CN=ktp-local-ca",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
                "-out",
                "ca.crt",
            ],
            cwd,
        )
        _run([openssl, "genrsa", "-out", "sa.key", "2048"], cwd)
        _private(self.key("sa"))
        _run([openssl, "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], cwd)
        for identity in identities:
            self._issue(openssl, identity)

    def _issue(self, openssl: str, who: Identity) -> None:
        cwd = self.directory
        subject = f"/CN={who.common_name}" + (f"/O={who.organisation}" if who.organisation else "")
        usages = [u for u, on in (("serverAuth", who.server), ("clientAuth", who.client)) if on]
        sans = [f"DNS:{d}" for d in who.dns] + [f"IP:{ip}" for ip in who.ips]
        extensions = [
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            f"extendedKeyUsage={','.join(usages)}",
        ]
        if sans:
            extensions.append(f"subjectAltName={','.join(sans)}")
        ext_file = cwd / f"{who.stem}.ext"
        ext_file.write_text("\n".join(extensions) + "\n", encoding="utf-8")
        _run([openssl, "genrsa", "-out", f"{who.stem}.key", "2048"], cwd)
        _private(self.key(who.stem))
        _run(
            [
                openssl,
                "req",
                "-new",
                "-key",
                f"{who.stem}.key",
                "-subj",
                subject,
                "-out",
                f"{who.stem}.csr",
            ],
            cwd,
        )
        _run(
            [
                openssl,
                "x509",
                "-req",
                "-in",
                f"{who.stem}.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                DAYS,
                "-extfile",
                ext_file.name,
                "-out",
                f"{who.stem}.crt",
            ],
            cwd,
        )
        for leftover in (ext_file, cwd / f"{who.stem}.csr"):
            leftover.unlink(missing_ok=True)


def kubeconfig_text(*, server: str, pki: Pki, stem: str, name: str) -> str:
    """A kubeconfig that authenticates with ``stem``'s client certificate (files by path)."""
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {name}\n  cluster:\n    server: {server}\n"
        f"    certificate-authority: {pki.crt('ca')}\n"
        f"users:\n- name: {stem}\n  user:\n    client-certificate: {pki.crt(stem)}\n"
        f"    client-key: {pki.key(stem)}\n"
        f"contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {stem}\n"
        f"current-context: {name}\n"
    )


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner only (created 0600, never briefly wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
