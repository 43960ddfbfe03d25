"""Credentials generated at deploy time and kept in Kubernetes Secrets.

Nothing secret is committed or templated into a manifest: workloads read these
Secrets through ``secretKeyRef``. A Secret that already exists is kept as it is, so a
second deploy does not rotate passwords under running services (and changes nothing).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, SecretStr

from testing.platform import PlatformError

MANAGED_BY = {"app.kubernetes.io/managed-by": "k8s-test-platform"}


class Credential(BaseModel):
    """One Secret's name and its keys; values never appear in repr or logs."""

    model_config = ConfigDict(frozen=True)

    secret_name: str
    values: dict[str, SecretStr]

    def value(self, key: str) -> str:
        return self.values[key].get_secret_value()


@dataclass(frozen=True)
class CredentialSpec:
    """What to generate for one Secret: fixed values and keys that get random tokens."""

    secret_name: str
    fixed: tuple[tuple[str, str], ...]
    generated: tuple[str, ...]


#: The Secrets the platform manifests reference. User names are not secret, passwords are.
SPECS: tuple[CredentialSpec, ...] = (
    CredentialSpec("postgres-credentials", (("username", "platform"),), ("password",)),
    CredentialSpec("minio-credentials", (("root-user", "platform-admin"),), ("root-password",)),
)

#: 32 random bytes -> 43 URL-safe characters: safe inside a URL (MinIO's MC_HOST_*,
#: PostgreSQL DSNs) without quoting, and far beyond guessing.
TOKEN_BYTES = 32


def generate(
    spec: CredentialSpec, token: Callable[[int], str] = secrets.token_urlsafe
) -> Credential:
    values = {key: SecretStr(value) for key, value in spec.fixed}
    values.update({key: SecretStr(token(TOKEN_BYTES)) for key in spec.generated})
    return Credential(secret_name=spec.secret_name, values=values)


def _decode(secret: k8s_client.V1Secret, spec: CredentialSpec, namespace: str) -> Credential:
    data = secret.data or {}
    wanted = [key for key, _ in spec.fixed] + list(spec.generated)
    missing = [key for key in wanted if key not in data]
    if missing:
        raise PlatformError(
            f"Secret {namespace}/{spec.secret_name} exists but lacks {', '.join(missing)}: "
            f"delete it (kubectl -n {namespace} delete secret {spec.secret_name}) and deploy again"
        )
    return Credential(
        secret_name=spec.secret_name,
        values={key: SecretStr(base64.b64decode(data[key]).decode()) for key in wanted},
    )


def ensure_credentials(
    api: k8s_client.ApiClient, namespace: str, specs: tuple[CredentialSpec, ...] = SPECS
) -> dict[str, Credential]:
    """Create each missing Secret with fresh random values; keep (and return) existing ones."""
    core = k8s_client.CoreV1Api(api)
    result: dict[str, Credential] = {}
    for spec in specs:
        try:
            existing = core.read_namespaced_secret(spec.secret_name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise PlatformError(
                    f"reading Secret {namespace}/{spec.secret_name} failed: "
                    f"{exc.status} {exc.reason}"
                ) from None
            existing = None
        if existing is not None:
            result[spec.secret_name] = _decode(existing, spec, namespace)
            continue
        fresh = generate(spec)
        body = k8s_client.V1Secret(
            metadata=k8s_client.V1ObjectMeta(
                name=spec.secret_name, namespace=namespace, labels=dict(MANAGED_BY)
            ),
            type="Opaque",
            string_data={key: value.get_secret_value() for key, value in fresh.values.items()},
        )
        try:
            core.create_namespaced_secret(namespace, body)
        except ApiException as exc:
            if exc.status == 409:  # created concurrently: the stored one wins
                stored = core.read_namespaced_secret(spec.secret_name, namespace)
                result[spec.secret_name] = _decode(stored, spec, namespace)
                continue
            raise PlatformError(
                f"creating Secret {namespace}/{spec.secret_name} failed: {exc.status} {exc.reason}"
            ) from None
        result[spec.secret_name] = fresh
    return result
