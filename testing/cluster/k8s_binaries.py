"""The control-plane binaries of the kwok provider, built from source and cached per user.

Release binaries of Kubernetes, etcd and kwok are downloads from hosts that many CI
systems (and this project's machines) cannot reach; the Go module proxy is reachable
almost everywhere, so this module builds them from source at the versions pinned in
``k8s/versions.toml``:

* ``k8s.io/kubernetes`` requires its staging modules (``k8s.io/api``, ...) at
  ``v0.0.0`` and points them at ``./staging/...`` with replace directives, which is
  why ``go install`` refuses it. A small wrapper module requires it and replaces
  every staging module by its published ``v0.<minor>.<patch>``; the list is read
  from kubernetes' own go.mod, never written by hand, so a version bump needs no edit.
* ``go.etcd.io/etcd/server/v3`` has relative replace directives too: same wrapper.
* kwok and kwokctl install with ``go install``; kwok's stage files (node and pod
  lifecycle, and the chaos stages) are copied from the same module version.

The result lives in ``<cache>/k8s/<versions key>/``: built into a temporary sibling
and renamed, so an interrupted build leaves nothing a later run would trust. Set
``TEST_K8S_BINARIES`` to a directory that holds every pre-built binary (and kwok's
stages) to build nothing at all. envtest's ``KUBEBUILDER_ASSETS`` is not read: its
folder holds only etcd, kube-apiserver and kubectl, never enough for a cluster.

``python -m testing.cluster.k8s_binaries`` builds (if needed) and prints the directory.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from testing import pins, tools
from testing.cluster.base import ClusterError

BINARIES_ENV = "TEST_K8S_BINARIES"
#: Everything the kwok provider starts or drives, the local provider's node, and the
#: kubeadm that the kind node image built here carries.
BINARY_NAMES = (
    "etcd",
    "kubeadm",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "kube-proxy",
    "kwok",
    "kwokctl",
)
#: kubelet and kube-proxy are what the ``local`` provider adds to this control plane;
#: kubeadm is what the kind node image adds (testing.images.kind_node).
KUBE_COMMANDS = (
    "kubeadm",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "kube-proxy",
)
STAGES_DIR = "kwok-stages"
MANIFEST = "versions.json"
#: kwok's stage directories (under ``kustomize/stage`` of its module) that the provider loads.
STAGE_SOURCES = ("node/fast", "node/heartbeat-with-lease", "pod/fast", "pod/chaos")
#: One step (module download, a go build) may take this long on a slow 2-core machine.
STEP_TIMEOUT_S = 3600.0

_REQUIRE_LINE = re.compile(r"^\s*(?:require\s+)?([^\s()]+)\s+(v\S+)")
_REPLACE_LINE = re.compile(r"^\s*(?:replace\s+)?([^\s()]+)(?:\s+v\S+)?\s+=>\s+(\S+)(?:\s+(v\S+))?")
_GO_LINE = re.compile(r"^go\s+(\d+\.\d+(?:\.\d+)?)\s*$", re.MULTILINE)


class BuildError(ClusterError):
    """A binary could not be found or built; the message says where to look."""


class GoMissingError(BuildError):
    """Go is not installed, so nothing can be built from source."""


@dataclass(frozen=True)
class Versions:
    """The pinned versions that decide which binaries a cache entry holds."""

    kubernetes: str
    etcd: str
    kwok: str

    @classmethod
    def from_pins(cls) -> Versions:
        return cls(pins.pin("kubernetes"), pins.pin("etcd"), pins.pin("kwok"))

    @property
    def key(self) -> str:
        """Cache directory name; the platform is part of it because binaries are native."""
        system = platform.system().lower()
        machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(
            platform.machine().lower(), platform.machine().lower()
        )
        return f"kubernetes-{self.kubernetes}_etcd-{self.etcd}_kwok-{self.kwok}_{system}-{machine}"


@dataclass(frozen=True)
class K8sBinaries:
    """A directory holding every binary in :data:`BINARY_NAMES` (and kwok's stages)."""

    directory: Path
    #: Where the binaries came from: "cache", "built" or the override variable's name.
    origin: str = "cache"

    def path(self, name: str) -> Path:
        if name not in BINARY_NAMES:
            raise KeyError(f"{name!r} is not one of {', '.join(BINARY_NAMES)}")
        return self.directory / name

    @property
    def stages_dir(self) -> Path:
        return self.directory / STAGES_DIR


# --- pure helpers (unit-tested on real go.mod text) ------------------------------------


def _strip_comment(line: str) -> str:
    return line.split("//", 1)[0].rstrip()


def _blocks(gomod: str, keyword: str) -> Iterator[str]:
    """Lines of every ``keyword (...)`` block and every single-line ``keyword x``."""
    inside = False
    for raw in gomod.splitlines():
        line = _strip_comment(raw)
        stripped = line.strip()
        if inside:
            if stripped == ")":
                inside = False
            elif stripped:
                yield stripped
        elif stripped == f"{keyword} (":
            inside = True
        elif stripped.startswith(f"{keyword} "):
            yield stripped


def required_modules(gomod: str) -> dict[str, str]:
    """Module path -> version for every ``require`` in a go.mod text."""
    found: dict[str, str] = {}
    for line in _blocks(gomod, "require"):
        match = _REQUIRE_LINE.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def local_replacements(gomod: str) -> list[str]:
    """Required modules that go.mod replaces with a local directory (``=> ./...``).

    These are the modules a wrapper must map to published versions. Local replaces
    of modules the go.mod does not require (etcd's ``FORBIDDEN_DEPENDENCY`` guards,
    kubernetes' sample modules) are left out: Go would never resolve them.
    """
    required = required_modules(gomod)
    modules = []
    for line in _blocks(gomod, "replace"):
        match = _REPLACE_LINE.match(line)
        if not match:
            continue
        module, target, target_version = match.groups()
        is_local = target_version is None and (target.startswith(("./", "../")) or target == ".")
        if is_local and module in required:
            modules.append(module)
    return sorted(modules)


def go_directive(gomod: str) -> str | None:
    match = _GO_LINE.search(gomod)
    return match.group(1) if match else None


def staging_version(kubernetes_version: str) -> str:
    """``v1.36.1`` -> ``v0.36.1``: the published version of the staging modules."""
    match = re.fullmatch(r"v1\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?", kubernetes_version)
    if not match:
        raise BuildError(
            f"Kubernetes version {kubernetes_version!r} is not v1.MINOR.PATCH: fix [kubernetes] "
            "version in k8s/versions.toml"
        )
    minor, patch, suffix = match.groups()
    return f"v0.{minor}.{patch}{suffix or ''}"


def wrapper_gomod(
    *, module: str, version: str, replace_with: Mapping[str, str], go: str | None
) -> str:
    """go.mod text of a module that requires ``module@version`` with the given replaces."""
    lines = ["module ktp.local/build", ""]
    if go:
        lines += [f"go {go}", ""]
    lines += [f"require {module} {version}", ""]
    if replace_with:
        lines.append("replace (")
        lines += [f"\t{name} => {name} {ver}" for name, ver in sorted(replace_with.items())]
        lines.append(")")
    return "\n".join(lines) + "\n"


def kubernetes_ldflags(version: str) -> str:
    """Stamp the version the binaries report (``kubectl version``, ``/version``)."""
    match = re.fullmatch(r"v(\d+)\.(\d+)\..*", version)
    major, minor = match.groups() if match else ("", "")
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def missing_binaries(directory: Path) -> list[str]:
    return [
        name
        for name in BINARY_NAMES
        if not (directory / name).is_file() or not os.access(directory / name, os.X_OK)
    ]


def override_dir(environ: Mapping[str, str] | None = None) -> tuple[str, Path] | None:
    """``(variable, directory)`` of pre-built binaries, if the user named one."""
    env = os.environ if environ is None else environ
    value = env.get(BINARIES_ENV)
    return (BINARIES_ENV, Path(value).expanduser()) if value else None


def cache_root() -> Path:
    return tools.cache_dir() / "k8s"


def cached_dir(versions: Versions) -> Path:
    return cache_root() / versions.key


# --- the build --------------------------------------------------------------------------


@dataclass
class _Builder:
    """Runs the go commands of one build, appending everything to one log file."""

    go: str
    log_path: Path
    env: dict[str, str]
    say: Callable[[str], None]

    def run(
        self, step: str, argv: list[str], *, cwd: Path, env: dict[str, str] | None = None
    ) -> str:
        self.say(f"  {step}")
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"\n$ (cd {cwd} && {' '.join(argv)})\n")
            log.flush()
            try:
                result = subprocess.run(
                    argv,
                    cwd=cwd,
                    env={**self.env, **(env or {})},
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                    timeout=STEP_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise BuildError(
                    f"{step} took longer than {STEP_TIMEOUT_S:.0f}s; full log: {self.log_path}"
                ) from None
            log.write(result.stdout)
        if result.returncode != 0:
            log_tail = tools.tail(self.log_path.read_text(encoding="utf-8", errors="replace"))
            raise BuildError(
                f"{step} failed (exit {result.returncode}); full log: {self.log_path}\n{log_tail}"
            )
        return result.stdout

    def module_info(self, spec: str, cwd: Path) -> dict[str, str]:
        out = self.run(f"download {spec}", [self.go, "mod", "download", "-json", spec], cwd=cwd)
        info: dict[str, str] = json.loads(out)
        return info

    def build_wrapped(
        self,
        *,
        module: str,
        version: str,
        replace_version: str,
        packages: list[str],
        output: Path,
        ldflags: str,
        workdir: Path,
        label: str,
    ) -> None:
        """Build ``packages`` of a module whose go.mod has local replace directives."""
        workdir.mkdir(parents=True)
        info = self.module_info(f"{module}@{version}", workdir)
        gomod = Path(info["GoMod"]).read_text(encoding="utf-8")
        replaced = dict.fromkeys(local_replacements(gomod), replace_version)
        (workdir / "go.mod").write_text(
            wrapper_gomod(
                module=module, version=version, replace_with=replaced, go=go_directive(gomod)
            ),
            encoding="utf-8",
        )
        # -mod=mod lets go fill go.sum for the wrapper; it is generated, never committed.
        goflags = {"GOFLAGS": " ".join(filter(None, [self.env.get("GOFLAGS"), "-mod=mod"]))}
        self.run(
            f"resolve {module}@{version} ({len(replaced)} replaced modules)",
            [self.go, "get", *(f"{package}@{version}" for package in packages)],
            cwd=workdir,
            env=goflags,
        )
        self.run(
            f"build {label}",
            [self.go, "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(output), *packages],
            cwd=workdir,
            env=goflags,
        )


def _go_binary() -> str:
    go = shutil.which("go")
    if go is None:
        raise GoMissingError(
            "Go is not installed: install Go 1.26+ (https://go.dev/dl/ or your package "
            "manager) to build the kwok control plane from source, or set "
            f"{BINARIES_ENV} to a directory with pre-built {', '.join(BINARY_NAMES)}"
        )
    return go


def _copy_stages(module_dir: Path, target: Path) -> int:
    """Copy kwok's stage YAML (not tests, not kustomizations) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    copied = 0
    for source in STAGE_SOURCES:
        for path in sorted((module_dir / "kustomize" / "stage" / source).glob("*.yaml")):
            if path.name == "kustomization.yaml":
                continue
            shutil.copyfile(path, target / path.name)
            copied += 1
    if copied == 0:
        raise BuildError(f"no kwok stage files found under {module_dir}/kustomize/stage")
    return copied


def build_into(
    staging: Path, versions: Versions, *, log_path: Path, say: Callable[[str], None]
) -> None:
    """Build every binary into ``staging`` (a fresh directory)."""
    go = _go_binary()
    env = {**os.environ, "CGO_ENABLED": "0", "GOWORK": "off"}
    builder = _Builder(go=go, log_path=log_path, env=env, say=say)
    work = staging / ".work"
    builder.build_wrapped(
        module="k8s.io/kubernetes",
        version=versions.kubernetes,
        replace_version=staging_version(versions.kubernetes),
        packages=[f"k8s.io/kubernetes/cmd/{name}" for name in KUBE_COMMANDS],
        output=staging,
        ldflags=kubernetes_ldflags(versions.kubernetes),
        workdir=work / "kubernetes",
        label=", ".join(KUBE_COMMANDS),
    )
    builder.build_wrapped(
        module="go.etcd.io/etcd/server/v3",
        version=versions.etcd,
        replace_version=versions.etcd,
        packages=["go.etcd.io/etcd/server/v3"],
        output=staging / "etcd",
        ldflags="-s -w",
        workdir=work / "etcd",
        label="etcd",
    )
    kwok_specs = [f"sigs.k8s.io/kwok/cmd/{name}@{versions.kwok}" for name in ("kwok", "kwokctl")]
    builder.run(
        "install kwok, kwokctl",
        [go, "install", "-trimpath", "-ldflags=-s -w", *kwok_specs],
        cwd=work,
        env={"GOBIN": str(staging)},
    )
    kwok_module = builder.module_info(f"sigs.k8s.io/kwok@{versions.kwok}", work)
    count = _copy_stages(Path(kwok_module["Dir"]), staging / STAGES_DIR)
    say(f"  copied {count} kwok stage files")
    shutil.rmtree(work)
    (staging / MANIFEST).write_text(
        json.dumps(
            {"kubernetes": versions.kubernetes, "etcd": versions.etcd, "kwok": versions.kwok}
        )
        + "\n",
        encoding="utf-8",
    )


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One build per cache at a time: parallel test workers wait for the first."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _complete(directory: Path) -> bool:
    return not missing_binaries(directory) and (directory / STAGES_DIR).is_dir()


def ensure_binaries(
    versions: Versions | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    say: Callable[[str], None] | None = None,
) -> K8sBinaries:
    """The binaries directory: the user's override, the cache, or a fresh build."""
    speak = say or (lambda message: print(message, file=sys.stderr, flush=True))
    override = override_dir(environ)
    if override is not None:
        variable, directory = override
        missing = missing_binaries(directory)
        if missing:
            raise BuildError(
                f"{variable}={directory} lacks executable {', '.join(missing)}: put them there "
                f"or unset {variable} to build them from source"
            )
        if not (directory / STAGES_DIR).is_dir():
            raise BuildError(
                f"{variable}={directory} has no {STAGES_DIR}/ directory: copy kwok's stage "
                f"files there (python -m testing.cluster.k8s_binaries builds a complete set)"
            )
        return K8sBinaries(directory, origin=variable)

    versions = versions or Versions.from_pins()
    target = cached_dir(versions)
    if _complete(target):
        return K8sBinaries(target)
    with _exclusive(cache_root() / ".build.lock"):
        if _complete(target):  # another process built it while we waited
            return K8sBinaries(target)
        # Holding the lock, no build is running: staging dirs left by a killed one can go.
        for stale in cache_root().glob(f".{versions.key}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        logs = cache_root() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{versions.key}-{time.strftime('%Y%m%d-%H%M%S')}.log"
        staging = Path(tempfile.mkdtemp(prefix=f".{versions.key}-", dir=cache_root()))
        speak(
            f"building the kwok control plane from source ({versions.kubernetes}, etcd "
            f"{versions.etcd}, kwok {versions.kwok}); first run only, log: {log_path}"
        )
        started = time.monotonic()
        try:
            build_into(staging, versions, log_path=log_path, say=speak)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        speak(f"built in {time.monotonic() - started:.0f}s: {target}")
        return K8sBinaries(target, origin="built")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testing.cluster.k8s_binaries",
        description="Build (if needed) the kwok provider's binaries and print their directory.",
    )
    parser.parse_args(argv)
    try:
        binaries = ensure_binaries()
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(binaries.directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
