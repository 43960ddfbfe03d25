"""PersistentVolumes for clusters whose nodes are simulated (kwok).

A StatefulSet's claims stay Pending without a storage provisioner, and the scheduler
will not place a pod whose claim is unbound, so on kwok nothing would ever become
Ready. There is no disk behind a simulated node either, so deploy pre-binds one
PersistentVolume per claim (``claimRef``) whose source is never mounted: the API
objects go through the real binding controller, and no data is pretended to exist.
The claims themselves are created up front too (the StatefulSet controller adopts a
claim of the expected name) and awaited until Bound, so the scheduler never sees
the pod before its claim is bound (it would mark it Unschedulable for a moment, which
the fail-fast waits rightly treat as a failure). Clusters that run containers use
their default StorageClass and never get these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from testing.platform import PlatformError
from testing.polling import wait_for_condition

SIMULATED_LABEL = {"ktp.dev/simulated-volume": "true"}
#: The namespace of the claim a simulated volume is reserved for, to clean up by.
CLAIM_NAMESPACE_LABEL = "ktp.dev/claim-namespace"


def claims_of(objects: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(namespace, claim name, claim spec)`` for every claim the StatefulSets will make."""
    claims: list[tuple[str, str, dict[str, Any]]] = []
    for obj in objects:
        if obj.get("kind") != "StatefulSet":
            continue
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        for template in spec.get("volumeClaimTemplates") or []:
            template_name = (template.get("metadata") or {}).get("name", "")
            for ordinal in range(int(spec.get("replicas", 1))):
                claims.append(
                    (
                        str(meta.get("namespace", "default")),
                        f"{template_name}-{meta.get('name')}-{ordinal}",
                        dict(template.get("spec") or {}),
                    )
                )
    return claims


def volume_name(namespace: str, claim: str) -> str:
    return f"ktp-sim-{namespace}-{claim}"


def simulated_volume(namespace: str, claim: str, claim_spec: Mapping[str, Any]) -> dict[str, Any]:
    """A PersistentVolume reserved for exactly one claim."""
    storage = ((claim_spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": volume_name(namespace, claim),
            "labels": {**SIMULATED_LABEL, CLAIM_NAMESPACE_LABEL: namespace},
        },
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": list(claim_spec.get("accessModes") or ["ReadWriteOnce"]),
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": claim_spec.get("storageClassName") or "",
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": namespace,
                "name": claim,
            },
            # Never mounted: kwok's nodes run no kubelet. A reserved .invalid host makes
            # any accidental mount fail loudly instead of touching a real server.
            "nfs": {"server": "simulated-volume.invalid", "path": "/"},
        },
    }


def claim(namespace: str, name: str, claim_spec: Mapping[str, Any]) -> dict[str, Any]:
    """The claim the StatefulSet controller would create, bound to its simulated volume."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(SIMULATED_LABEL)},
        "spec": {
            **claim_spec,
            "storageClassName": claim_spec.get("storageClassName") or "",
            "volumeName": volume_name(namespace, name),
        },
    }


def _create(create: Any, what: str, *args: Any) -> None:
    try:
        create(*args)
    except ApiException as exc:
        if exc.status != 409:  # there already: kept as it is
            raise PlatformError(f"creating {what} failed: {exc.status} {exc.reason}") from None


def ensure_simulated_volumes(
    api: k8s_client.ApiClient, objects: Iterable[Mapping[str, Any]], *, timeout: float = 60
) -> list[str]:
    """Create the missing volumes and claims for ``objects``; wait until every claim is Bound."""
    core = k8s_client.CoreV1Api(api)
    claims = claims_of(objects)
    for namespace, name, spec in claims:
        volume = simulated_volume(namespace, name, spec)
        _create(
            core.create_persistent_volume,
            f"PersistentVolume {volume_name(namespace, name)}",
            volume,
        )
        _create(
            core.create_namespaced_persistent_volume_claim,
            f"PersistentVolumeClaim {namespace}/{name}",
            namespace,
            claim(namespace, name, spec),
        )

    def phase(namespace: str, name: str) -> str | None:
        status = core.read_namespaced_persistent_volume_claim(name, namespace).status
        return status.phase if status is not None else None

    def all_bound() -> bool:
        return all(phase(namespace, name) == "Bound" for namespace, name, _ in claims)

    wait_for_condition(all_bound, timeout=timeout, description="simulated volumes to be bound")
    return [volume_name(namespace, name) for namespace, name, _ in claims]


def delete_simulated_volumes(api: k8s_client.ApiClient, namespace: str) -> list[str]:
    """Delete the simulated volumes reserved for claims in ``namespace``; return their names."""
    core = k8s_client.CoreV1Api(api)
    selector = f"{CLAIM_NAMESPACE_LABEL}={namespace}"
    listed = core.list_persistent_volume(label_selector=selector).items
    names = [str(pv.metadata.name) for pv in listed if pv.metadata is not None]
    for name in names:
        try:
            core.delete_persistent_volume(name)
        except ApiException as exc:
            if exc.status != 404:
                raise PlatformError(
                    f"deleting PersistentVolume {name} failed: {exc.reason}"
                ) from None
    return names
