"""ExistingProvider: reading the user's kubeconfig, one-line config errors, local files only.

The contract against a real API server is proven in tests/integration/cluster
(parametrized over kwok and existing). Here the server is the local stand-in of
fake_kind.ready_api, because these tests are about kubeconfig handling.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from fake_kind import kubeconfig_for, ready_api

from testing.cluster import get_provider
from testing.cluster.base import ClusterConfig, ClusterError, ConfigError
from testing.cluster.existing import ExistingProvider


def _provider(tmp_path: Path, **env: str) -> ExistingProvider:
    return ExistingProvider(ClusterConfig(name="ext", state_dir=tmp_path / "state"), env=env)


def _kubeconfig(path: Path, contexts: dict[str, str], current: str = "") -> Path:
    """A kubeconfig with one cluster/user per context, each cluster at the given server."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": f"{n}-c", "cluster": {"server": s, "certificate-authority": "ca.crt"}}
                    for n, s in contexts.items()
                ],
                "users": [{"name": f"{n}-u", "user": {"token": "t"}} for n in contexts],
                "contexts": [
                    {"name": n, "context": {"cluster": f"{n}-c", "user": f"{n}-u"}}
                    for n in contexts
                ],
                "current-context": current,
            }
        )
    )
    return path


def _one_line_config_error(provider: ExistingProvider) -> str:
    with pytest.raises(ConfigError) as info:
        provider.exists()
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.requirement("CLU-009")
def test_kubeconfig_unset_says_what_to_set(tmp_path: Path) -> None:
    message = _one_line_config_error(_provider(tmp_path))
    assert message.startswith("KUBECONFIG is not set: point it at the kubeconfig")


@pytest.mark.requirement("CLU-009")
def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    message = _one_line_config_error(_provider(tmp_path, KUBECONFIG=str(missing)))
    assert message == f"KUBECONFIG names {missing}, which does not exist"


@pytest.mark.requirement("CLU-009")
def test_unreadable_file_is_named(tmp_path: Path) -> None:
    # A directory stands in for an unreadable file: root (CI) reads any mode-000 file.
    message = _one_line_config_error(_provider(tmp_path, KUBECONFIG=str(tmp_path)))
    assert message.startswith(f"cannot read kubeconfig {tmp_path}: ")


def test_invalid_yaml_is_named_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nclusters: [\n  - name: x\n  oops: {\n")
    message = _one_line_config_error(_provider(tmp_path, KUBECONFIG=str(bad)))
    assert message.startswith(f"kubeconfig {bad} is not valid YAML (line ")


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            'clusters: [{name: x, cluster: "notamapping"}]\n',
            "clusters entry 'x' has a cluster that is not a mapping",
        ),
        ("users: [{name: u, user: [1, 2]}]\n", "users entry 'u' has a user that is not a mapping"),
        ("contexts: 7\n", "contexts is not a list"),
    ],
)
def test_malformed_entry_names_the_file_and_the_entry(
    tmp_path: Path, document: str, expected: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(document)
    message = _one_line_config_error(_provider(tmp_path, KUBECONFIG=str(bad)))
    assert message == f"kubeconfig {bad}: {expected}"


@pytest.mark.requirement("CLU-009")
def test_unknown_context_lists_the_known_ones(tmp_path: Path) -> None:
    kc = _kubeconfig(tmp_path / "kc", {"a": "https://a", "b": "https://b"}, current="a")
    provider = _provider(tmp_path, KUBECONFIG=str(kc), TEST_KUBECONTEXT="prod")
    message = _one_line_config_error(provider)
    assert message == f"context 'prod' is not in KUBECONFIG={kc} (contexts: a, b)"


def test_no_current_context_asks_for_one(tmp_path: Path) -> None:
    kc = _kubeconfig(tmp_path / "kc", {"a": "https://a"})
    message = _one_line_config_error(_provider(tmp_path, KUBECONFIG=str(kc)))
    assert message.endswith("has no current-context: set TEST_KUBECONTEXT to one of a")


def test_status_names_the_context_and_its_source(tmp_path: Path) -> None:
    kc = _kubeconfig(tmp_path / "kc", {"a": "https://a"}, current="a")
    assert _provider(tmp_path, KUBECONFIG=str(kc)).status() == (
        f"existing cluster 'ext': context 'a' from KUBECONFIG={kc}"
    )


@pytest.mark.requirement("CLU-009")
def test_create_writes_one_pinned_context_and_waits_for_the_api(tmp_path: Path) -> None:
    first = tmp_path / "one" / "kc"
    first.parent.mkdir()
    second = tmp_path / "two" / "kc"
    second.parent.mkdir()
    with ready_api() as (server, seen):
        _kubeconfig(first, {"a": "https://first-wins"}, current="a")
        _kubeconfig(second, {"a": "https://ignored", "b": server}, current="b")
        provider = _provider(tmp_path, KUBECONFIG=f"{first}:{second}", TEST_KUBECONTEXT="b")
        path = provider.create(wait_seconds=20)
    local = yaml.safe_load(path.read_text())
    assert path == tmp_path / "state" / "ext" / "kubeconfig"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local["current-context"] == "b"
    assert [c["name"] for c in local["contexts"]] == ["b"]
    assert local["clusters"][0]["cluster"] == {
        "server": server,
        "certificate-authority": str(second.parent / "ca.crt"),  # made absolute
    }
    assert "/api/v1/namespaces/default/serviceaccounts/default" in seen


def test_merging_follows_kubectl_first_file_wins(tmp_path: Path) -> None:
    first = _kubeconfig(tmp_path / "a.yaml", {"a": "https://first"}, current="a")
    second = _kubeconfig(tmp_path / "b.yaml", {"a": "https://second"}, current="a")
    provider = _provider(tmp_path, KUBECONFIG=f"{first}:{second}")
    _, context, document = provider._selected()
    assert context == "a"
    assert document["clusters"][0]["cluster"]["server"] == "https://first"


def test_create_against_an_unreachable_server_fails_in_one_line(tmp_path: Path) -> None:
    kc = tmp_path / "kc"
    kc.write_text(kubeconfig_for("http://127.0.0.1:9", context="dead"))
    with pytest.raises(ClusterError) as info:
        _provider(tmp_path, KUBECONFIG=str(kc)).create(wait_seconds=1)
    assert "127.0.0.1:9" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.requirement("CLU-009")
def test_delete_removes_only_local_files(tmp_path: Path) -> None:
    with ready_api() as (server, _):
        kc = tmp_path / "kc"
        kc.write_text(kubeconfig_for(server))
        provider = _provider(tmp_path, KUBECONFIG=str(kc))
        local = provider.create(wait_seconds=20)
    before = kc.read_text()
    provider.delete()
    assert not local.exists()
    assert kc.read_text() == before


def test_images_cannot_be_loaded_into_a_cluster_it_does_not_own(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="push it to a registry"):
        _provider(tmp_path).load_image("app:1")
    with pytest.raises(ConfigError, match="push it to a registry"):
        _provider(tmp_path).load_image_archive(tmp_path / "x.tar")


def test_get_provider_selects_existing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CLUSTER_PROVIDER", "existing")
    provider = get_provider()
    assert isinstance(provider, ExistingProvider)
    assert provider.name == "existing"


def test_export_logs_without_kubectl_says_so(tmp_path: Path) -> None:
    provider = _provider(tmp_path, PATH=str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="kubectl is needed to export logs"):
        provider.export_logs(tmp_path / "logs")


def test_export_logs_failure_is_one_line_with_kubectls_words(tmp_path: Path) -> None:
    """Real kubectl against the stand-in server, which answers 404 to the dump's requests."""
    with ready_api() as (server, _):
        kc = tmp_path / "kc"
        kc.write_text(kubeconfig_for(server))
        provider = _provider(tmp_path, KUBECONFIG=str(kc))
        provider.create(wait_seconds=20)
        with pytest.raises(ClusterError) as info:
            provider.export_logs(tmp_path / "logs")
    assert str(info.value).startswith("kubectl cluster-info dump failed: ")
    assert "\n" not in str(info.value)
