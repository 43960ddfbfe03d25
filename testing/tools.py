"""Pinned command-line tools built from source with ``go install`` into a per-user cache.

Tools such as actionlint, kind or kwokctl ship as GitHub release binaries, which
many CI systems (and this project's own machines) cannot download. The Go module
proxy is reachable almost everywhere, so the portable path is ``go install
module@version`` into ``<cache>/tools/<name>-<version>/``: the version is part of
the path, so a bump builds once and a warm cache builds nothing.

``python -m testing.tools path NAME`` prints the binary's path (building it if
needed); ``python -m testing.tools run NAME -- ARGS`` runs it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from testing import pins

CACHE_ENV = "TEST_CACHE_DIR"
BUILD_TIMEOUT_S = 1800
RUN_TIMEOUT_S = 900


class ToolError(RuntimeError):
    """A tool could not be found or built; the message says what to do."""


@dataclass(frozen=True)
class GoTool:
    """Binaries built by ``go install <package>@<version>`` into one cache directory.

    ``name`` is the main binary; ``extra_packages`` are other commands of the same
    module at the same version (containerd's shim and ``ctr``). ``cgo`` and ``tags``
    exist for runc, whose seccomp support links libseccomp.
    """

    name: str
    package: str
    version: str
    extra_packages: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    cgo: bool = False

    @property
    def module_spec(self) -> str:
        return f"{self.package}@{self.version}"

    @property
    def install_specs(self) -> list[str]:
        return [f"{package}@{self.version}" for package in (self.package, *self.extra_packages)]

    @property
    def binary_names(self) -> list[str]:
        return [self.name, *(package.rsplit("/", 1)[-1] for package in self.extra_packages)]

    @property
    def cache_name(self) -> str:
        return f"{self.name}-{self.version}"


def cache_dir() -> Path:
    """The per-user cache root: ``$TEST_CACHE_DIR``, else ``$XDG_CACHE_HOME``/``~/.cache``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "k8s-test-platform"


def known_tools() -> dict[str, GoTool]:
    """Tools this project builds, with versions from the pin file."""
    return {
        "actionlint": GoTool(
            "actionlint", "github.com/rhysd/actionlint/cmd/actionlint", pins.pin("actionlint")
        ),
        "kind": GoTool("kind", pins.pin("kind", "module"), pins.pin("kind")),
        "minio": GoTool("minio", pins.pin("minio", "module"), pins.pin("minio")),
        "mc": GoTool("mc", pins.pin("mc", "module"), pins.pin("mc")),
        "containerd": GoTool(
            "containerd",
            f"{pins.pin('containerd', 'module')}/cmd/containerd",
            pins.pin("containerd"),
            extra_packages=tuple(
                f"{pins.pin('containerd', 'module')}/cmd/{name}"
                for name in ("containerd-shim-runc-v2", "ctr")
            ),
        ),
        "runc": GoTool(
            "runc", pins.pin("runc", "module"), pins.pin("runc"), tags=("seccomp",), cgo=True
        ),
        "coredns": GoTool("coredns", pins.pin("coredns", "module"), pins.pin("coredns")),
        "local-path-provisioner": GoTool(
            "local-path-provisioner",
            pins.pin("local-path-provisioner", "module"),
            pins.pin("local-path-provisioner"),
        ),
        "kube-router": GoTool(
            "kube-router", pins.pin("kube-router", "module"), pins.pin("kube-router")
        ),
    }


def go_binary() -> str:
    go = shutil.which("go")
    if go is None:
        raise ToolError(
            "Go is not installed: install Go 1.26+ (https://go.dev/dl/ or your package manager) "
            "so pinned tools can be built from source"
        )
    return go


def tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def ensure_go_tool(tool: GoTool, *, timeout: float = BUILD_TIMEOUT_S) -> Path:
    """Return the cached binary for ``tool``, building it first if the cache lacks it."""
    target_dir = cache_dir() / "tools" / tool.cache_name
    binary = target_dir / tool.name
    if all(os.access(target_dir / name, os.X_OK) for name in tool.binary_names):
        return binary
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    # Build into a temporary sibling and rename, so an interrupted build leaves no
    # half-written binary that a later run would trust.
    staging = Path(tempfile.mkdtemp(prefix=f".{tool.name}-", dir=target_dir.parent))
    env = {**os.environ, "GOBIN": str(staging), "CGO_ENABLED": "1" if tool.cgo else "0"}
    tags = [f"-tags={','.join(tool.tags)}"] if tool.tags else []
    try:
        result = subprocess.run(
            [go_binary(), "install", "-trimpath", *tags, *tool.install_specs],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise ToolError(
                f"go install {tool.module_spec} failed (exit {result.returncode}):\n"
                + tail(result.stderr)
            )
        shutil.rmtree(target_dir, ignore_errors=True)
        staging.rename(target_dir)
    except subprocess.TimeoutExpired:
        raise ToolError(f"go install {tool.module_spec} took longer than {timeout:.0f}s") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return binary


def resolve(name: str) -> Path:
    tools = known_tools()
    if name not in tools:
        raise ToolError(f"unknown tool {name!r}; known: {', '.join(sorted(tools))}")
    return ensure_go_tool(tools[name])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testing.tools", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    path_cmd = sub.add_parser("path", help="print the binary's path, building it if needed")
    path_cmd.add_argument("name")
    run_cmd = sub.add_parser("run", help="run the tool with the arguments after --")
    run_cmd.add_argument("name")
    run_cmd.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    try:
        binary = resolve(options.name)
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if options.command == "path":
        print(binary)
        return 0
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    try:
        return subprocess.run([str(binary), *args], check=False, timeout=RUN_TIMEOUT_S).returncode
    except subprocess.TimeoutExpired:
        print(f"error: {options.name} ran longer than {RUN_TIMEOUT_S}s", file=sys.stderr)
        return 124


if __name__ == "__main__":
    raise SystemExit(main())
