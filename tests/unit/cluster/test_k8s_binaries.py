"""Build and cache logic of testing.cluster.k8s_binaries, without network or a real build.

The full build from source is exercised by the kwok integration tier (its first run
builds every binary) and measured by benchmarks/kwok_bench.py.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from testing import pins
from testing.cluster import k8s_binaries as kb

# A go.mod shaped like k8s.io/kubernetes': staging modules required at v0.0.0 and
# replaced by ./staging paths, one local replace of a module it does not require,
# one non-local replace, comments and a single-line require.
KUBERNETES_STYLE_GOMOD = """\
// generated; see hack/pin-dependency.sh
module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
	github.com/blang/semver/v4 v4.0.0
	k8s.io/api v0.0.0
	k8s.io/apimachinery v0.0.0 // staging
	k8s.io/client-go v0.0.0
	k8s.io/component-base v0.0.0
)

require k8s.io/kubectl v0.0.0

require (
	github.com/x/indirect v1.2.3 // indirect
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/apimachinery => ./staging/src/k8s.io/apimachinery
	k8s.io/client-go => ./staging/src/k8s.io/client-go // comment
	k8s.io/component-base => ./staging/src/k8s.io/component-base
	k8s.io/kubectl => ./staging/src/k8s.io/kubectl
	k8s.io/sample-cli-plugin => ./staging/src/k8s.io/sample-cli-plugin
	github.com/blang/semver/v4 => github.com/fork/semver/v4 v4.0.1
)
"""

# Shaped like go.etcd.io/etcd/server/v3's: sibling modules by ../ paths, guards
# against forbidden modules by ./FORBIDDEN_DEPENDENCY.
ETCD_STYLE_GOMOD = """\
module go.etcd.io/etcd/server/v3

go 1.24

require (
	go.etcd.io/bbolt v1.4.3
	go.etcd.io/etcd/api/v3 v3.6.8
	go.etcd.io/etcd/client/v3 v3.6.8
	go.etcd.io/etcd/pkg/v3 v3.6.8
)

replace (
	go.etcd.io/etcd/api/v3 => ../api
	go.etcd.io/etcd/client/v3 => ../client/v3
	go.etcd.io/etcd/pkg/v3 => ../pkg
)

replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY

replace go.etcd.io/tests/v3 v3.0.0 => ./FORBIDDEN_DEPENDENCY
"""


def test_kubernetes_staging_modules_are_read_from_gomod() -> None:
    assert kb.local_replacements(KUBERNETES_STYLE_GOMOD) == [
        "k8s.io/api",
        "k8s.io/apimachinery",
        "k8s.io/client-go",
        "k8s.io/component-base",
        "k8s.io/kubectl",
    ]


def test_etcd_sibling_modules_kept_and_forbidden_guards_dropped() -> None:
    assert kb.local_replacements(ETCD_STYLE_GOMOD) == [
        "go.etcd.io/etcd/api/v3",
        "go.etcd.io/etcd/client/v3",
        "go.etcd.io/etcd/pkg/v3",
    ]


def test_required_modules_include_single_line_and_block_requires() -> None:
    required = kb.required_modules(KUBERNETES_STYLE_GOMOD)
    assert required["k8s.io/kubectl"] == "v0.0.0"
    assert required["github.com/x/indirect"] == "v1.2.3"
    assert "k8s.io/sample-cli-plugin" not in required


def test_go_directive() -> None:
    assert kb.go_directive(KUBERNETES_STYLE_GOMOD) == "1.26.0"
    assert kb.go_directive(ETCD_STYLE_GOMOD) == "1.24"
    assert kb.go_directive("module x\n") is None


def test_wrapper_gomod_maps_every_staging_module_to_the_published_version() -> None:
    replaced = dict.fromkeys(kb.local_replacements(KUBERNETES_STYLE_GOMOD), "v0.36.1")
    text = kb.wrapper_gomod(
        module="k8s.io/kubernetes", version="v1.36.1", replace_with=replaced, go="1.26.0"
    )
    assert text == (
        "module ktp.local/build\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v1.36.1\n\n"
        "replace (\n"
        "\tk8s.io/api => k8s.io/api v0.36.1\n"
        "\tk8s.io/apimachinery => k8s.io/apimachinery v0.36.1\n"
        "\tk8s.io/client-go => k8s.io/client-go v0.36.1\n"
        "\tk8s.io/component-base => k8s.io/component-base v0.36.1\n"
        "\tk8s.io/kubectl => k8s.io/kubectl v0.36.1\n"
        ")\n"
    )


@pytest.mark.parametrize(
    ("kubernetes", "staging"),
    [("v1.36.1", "v0.36.1"), ("v1.30.12", "v0.30.12"), ("v1.37.0-rc.1", "v0.37.0-rc.1")],
)
def test_staging_version(kubernetes: str, staging: str) -> None:
    assert kb.staging_version(kubernetes) == staging


@pytest.mark.parametrize("bad", ["1.36.1", "v2.0.0", "v1.36", "latest"])
def test_staging_version_rejects_non_kubernetes_versions(bad: str) -> None:
    with pytest.raises(kb.BuildError, match=r"k8s/versions\.toml"):
        kb.staging_version(bad)


def test_ldflags_stamp_version_for_server_and_kubectl() -> None:
    flags = kb.kubernetes_ldflags("v1.36.1")
    assert "-X k8s.io/component-base/version.gitVersion=v1.36.1" in flags
    assert "-X k8s.io/client-go/pkg/version.gitVersion=v1.36.1" in flags
    assert "-X k8s.io/component-base/version.gitMinor=36" in flags
    assert "-X k8s.io/component-base/version.gitMajor=1" in flags


def test_cache_key_changes_with_every_pinned_version() -> None:
    base = kb.Versions("v1.36.1", "v3.6.8", "v0.8.0")
    keys = {
        base.key,
        kb.Versions("v1.36.2", "v3.6.8", "v0.8.0").key,
        kb.Versions("v1.36.1", "v3.6.9", "v0.8.0").key,
        kb.Versions("v1.36.1", "v3.6.8", "v0.8.1").key,
    }
    assert len(keys) == 4
    assert base.key.startswith("kubernetes-v1.36.1_etcd-v3.6.8_kwok-v0.8.0_")
    assert "/" not in base.key


def test_versions_come_from_the_pin_file() -> None:
    versions = kb.Versions.from_pins()
    assert versions.kubernetes == pins.pin("kubernetes")
    assert versions.etcd == pins.pin("etcd")
    assert versions.kwok == pins.pin("kwok")


def _complete_dir(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in kb.BINARY_NAMES:
        binary = directory / name
        binary.write_text("#!/bin/sh\nexit 0\n")
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    (directory / kb.STAGES_DIR).mkdir(exist_ok=True)
    return directory


@pytest.fixture
def no_go(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """PATH without go and an empty cache: any attempt to build fails loudly."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    cache = tmp_path / "cache"
    monkeypatch.setenv("TEST_CACHE_DIR", str(cache))
    return cache


def test_prebuilt_directory_is_used_and_nothing_is_built(tmp_path: Path, no_go: Path) -> None:
    prebuilt = _complete_dir(tmp_path / "prebuilt")
    binaries = kb.ensure_binaries(environ={kb.BINARIES_ENV: str(prebuilt)})
    assert binaries.directory == prebuilt
    assert binaries.origin == kb.BINARIES_ENV
    assert binaries.path("kube-apiserver") == prebuilt / "kube-apiserver"
    assert not no_go.exists()  # no cache entry, no build log


def test_envtest_assets_are_not_taken_for_a_complete_set(tmp_path: Path) -> None:
    """envtest's folder holds only etcd, kube-apiserver and kubectl: never an override."""
    envtest = _complete_dir(tmp_path / "envtest")
    assert kb.override_dir({"KUBEBUILDER_ASSETS": str(envtest)}) is None


def test_prebuilt_directory_missing_binaries_is_named(tmp_path: Path, no_go: Path) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("etcd", "kube-apiserver", "kubectl"):
        (partial / name).write_text("")
        (partial / name).chmod(0o755)
    with pytest.raises(kb.BuildError) as info:
        kb.ensure_binaries(environ={kb.BINARIES_ENV: str(partial)})
    message = str(info.value)
    assert "kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kwok, kwokctl" in message
    assert kb.BINARIES_ENV in message


def test_cached_binaries_are_reused_without_go(no_go: Path) -> None:
    versions = kb.Versions("v1.36.1", "v3.6.8", "v0.8.0")
    cached = _complete_dir(no_go / "k8s" / versions.key)
    binaries = kb.ensure_binaries(versions, environ={})
    assert binaries.directory == cached
    assert binaries.origin == "cache"


def test_go_missing_is_one_actionable_error(no_go: Path) -> None:
    versions = kb.Versions("v1.36.1", "v3.6.8", "v0.8.0")
    stale = no_go / "k8s" / f".{versions.key}-killed"  # left by a build that was SIGKILLed
    (stale / "kube-apiserver").mkdir(parents=True)
    with pytest.raises(kb.GoMissingError) as info:
        kb.ensure_binaries(versions, environ={}, say=lambda _: None)
    assert "Go is not installed" in str(info.value)
    assert kb.BINARIES_ENV in str(info.value)
    # The interrupted attempt left neither a cache entry nor a staging directory.
    leftovers = [p.name for p in (no_go / "k8s").iterdir() if p.name not in {"logs", ".build.lock"}]
    assert leftovers == []


def test_build_failure_shows_log_tail_and_log_path(tmp_path: Path) -> None:
    """A real ``go build`` of a broken package (no network; Go is a project prerequisite)."""
    module = tmp_path / "broken"
    module.mkdir()
    (module / "go.mod").write_text("module example.test/broken\n\ngo 1.22\n")
    (module / "main.go").write_text("package main\n\nfunc main() { undefinedThing() }\n")
    log = tmp_path / "build.log"
    go = shutil.which("go") or "go"
    builder = kb._Builder(
        go=go, log_path=log, env={**os.environ, "GOFLAGS": "-mod=mod"}, say=lambda _: None
    )
    with pytest.raises(kb.BuildError) as info:
        builder.run("build broken", [go, "build", "./..."], cwd=module)
    message = str(info.value)
    assert message.startswith("build broken failed (exit 1); full log: ")
    assert str(log) in message
    assert "undefined: undefinedThing" in message
    assert "undefined: undefinedThing" in log.read_text()


def test_stage_copy_takes_yaml_but_not_kustomizations_or_testdata(tmp_path: Path) -> None:
    module = tmp_path / "kwok"
    for source in kb.STAGE_SOURCES:
        folder = module / "kustomize" / "stage" / source
        (folder / "testdata").mkdir(parents=True)
        (folder / f"{source.replace('/', '-')}.yaml").write_text("kind: Stage\n")
        (folder / "kustomization.yaml").write_text("kind: Kustomization\n")
        (folder / "testdata" / "x.input.yaml").write_text("kind: Pod\n")
    target = tmp_path / "stages"
    count = kb._copy_stages(module, target)
    assert count == len(kb.STAGE_SOURCES)
    assert sorted(p.name for p in target.iterdir()) == sorted(
        f"{s.replace('/', '-')}.yaml" for s in kb.STAGE_SOURCES
    )


def test_stage_copy_without_any_stage_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(kb.BuildError, match="no kwok stage files"):
        kb._copy_stages(tmp_path, tmp_path / "stages")
