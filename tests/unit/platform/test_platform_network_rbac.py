"""The intended flows, read back from the NetworkPolicy and RBAC manifests.

Each allowed flow is stated once here as data and compared with what the policies
allow, in both directions (egress of the client and ingress of the server), so a
widened or a missing rule fails a test.
"""

from __future__ import annotations

from typing import Any

import pytest

from testing.platform.manifests import ROLE_LABEL, render_all

#: (client role, server role, port): exactly the flows the platform needs.
FLOWS = {
    ("demo-job", "postgres", 5432),
    ("demo-job", "minio", 9000),
    ("dashboard", "postgres", 5432),
    ("dashboard", "minio", 9000),
    ("test-runner", "postgres", 5432),
    ("test-runner", "minio", 9000),
    ("test-runner", "dashboard", 8080),
    ("postgres-init", "postgres", 5432),
    ("minio-init", "minio", 9000),
}
ROLES = {"demo-job", "dashboard", "test-runner", "postgres-init", "minio-init", "postgres", "minio"}


@pytest.fixture(scope="module")
def policies() -> list[dict[str, Any]]:
    return [o for o in render_all() if o["kind"] == "NetworkPolicy"]


def _selects(selector: dict[str, Any], role: str) -> bool:
    labels = {ROLE_LABEL: role}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        assert expr["operator"] == "In"
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def _allowed(
    policies: list[dict[str, Any]], direction: str, client: str, server: str, port: int
) -> bool:
    subject, peer_key = (client, "to") if direction == "egress" else (server, "from")
    peer = server if direction == "egress" else client
    for policy in policies:
        spec = policy["spec"]
        if direction.capitalize() not in spec["policyTypes"] or not _selects(
            spec["podSelector"], subject
        ):
            continue
        for rule in spec.get(direction, []):
            ports = {p["port"] for p in rule.get("ports", [])}
            if port not in ports:
                continue
            peers = rule.get(peer_key)
            if peers is None:  # no peer list: any source/destination on that port
                return True
            if any(
                "podSelector" in p
                and "namespaceSelector" not in p
                and _selects(p["podSelector"], peer)
                for p in peers
            ):
                return True
    return False


def test_default_deny_covers_every_pod_both_ways(policies: list[dict[str, Any]]) -> None:
    deny = next(p for p in policies if p["metadata"]["name"] == "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_each_intended_flow_is_open_both_ways(
    policies: list[dict[str, Any]], flow: tuple[str, str, int]
) -> None:
    client, server, port = flow
    assert _allowed(policies, "egress", client, server, port)
    assert _allowed(policies, "ingress", client, server, port)


def test_no_other_flow_between_platform_pods_is_open(policies: list[dict[str, Any]]) -> None:
    opened = {
        (client, server, port)
        for client in ROLES
        for server in ROLES | {"dashboard"}
        for port in (5432, 9000, 8080)
        if client != server
        and _allowed(policies, "egress", client, server, port)
        and _allowed(policies, "ingress", client, server, port)
    }
    assert opened == FLOWS


def test_dns_is_the_only_way_out_of_the_namespace_for_data_pods(
    policies: list[dict[str, Any]],
) -> None:
    external = [
        (p["metadata"]["name"], rule)
        for p in policies
        for rule in p["spec"].get("egress", [])
        if any("namespaceSelector" in peer for peer in rule.get("to", []))
    ]
    assert [name for name, _ in external] == ["allow-dns"]
    assert {port["port"] for _, rule in external for port in rule["ports"]} == {53}
    api = next(p for p in policies if p["metadata"]["name"] == "test-runner-egress")
    open_ports = [r for r in api["spec"]["egress"] if "to" not in r]
    assert [sorted(p["port"] for p in r["ports"]) for r in open_ports] == [[443, 6443]]


def test_test_runner_role_only_reads_and_never_secrets() -> None:
    objects = render_all()
    (role,) = [o for o in objects if o["kind"] == "Role"]
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    resources = {res for rule in role["rules"] for res in rule["resources"]}
    assert verbs == {"get", "list", "watch"}
    assert "secrets" not in resources
    assert "pods/exec" not in resources
    assert "*" not in resources
    (binding,) = [o for o in objects if o["kind"] == "RoleBinding"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "test-runner", "namespace": "ktp-platform"}
    ]
    assert not [o for o in objects if o["kind"] in {"ClusterRole", "ClusterRoleBinding"}]
