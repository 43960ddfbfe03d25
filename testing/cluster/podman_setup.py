"""Rootful Podman for a kind cluster, set up by the cluster itself and removed by ``down``.

Podman asks runc for what this host's root may lack (CAP_SYS_RESOURCE, a hard
RLIMIT_NOFILE above the host's), so there every container fails, privileged or not.
Podman reads its engine and storage configuration from the files that
``CONTAINERS_CONF`` and ``CONTAINERS_STORAGE_CONF`` name, so the cluster writes its own:

* the runc wrapper (:mod:`testing.runc_wrapper`) as the default OCI runtime;
* its own storage (images, containers) in the cluster directory, and its run state
  under ``/run/ktp-podman-<hash>`` (conmon's sockets need a short path);
* its own network configuration directory, so kind's network leaves nothing in
  ``/etc/cni/net.d``.

Podman's CNI plugins also leave shared state that outlives any network: the
``CNI-FORWARD``/``CNI-HOSTPORT-*`` chains, ``net.ipv4.ip_forward``, and the
``libpod_parent`` cgroup. :func:`write` records the host first
(:class:`~testing.cluster.host_state.HostSnapshot`), and :func:`remove` takes away the
containers and the network, puts back what was recorded, and removes the storage and
the directories. Used only where :func:`testing.runc_wrapper.needs_wrapper`
is true; elsewhere a user's Podman is used as it is.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from testing import runc_wrapper
from testing.cluster.host_state import (
    HostSnapshot,
    remove_cgroups,
    restore,
    run_dir,
    unmount_below,
)
from testing.cluster.kind_cli import ContainerRuntimeUnavailableError

COMMAND_TIMEOUT_S = 120
WRAPPER_RUNTIME = "ktp-runc"


@dataclass(frozen=True)
class PodmanPaths:
    data: Path
    run: Path

    @property
    def containers_conf(self) -> Path:
        return self.data / "containers.conf"

    @property
    def storage_conf(self) -> Path:
        return self.data / "storage.conf"

    @property
    def host_before(self) -> Path:
        return self.data / "host-before.json"

    @property
    def env(self) -> dict[str, str]:
        return {
            "CONTAINERS_CONF": str(self.containers_conf),
            "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
        }


def cluster_podman_paths(cluster_dir: Path) -> PodmanPaths:
    return PodmanPaths(data=cluster_dir / "podman", run=run_dir(cluster_dir, "ktp-podman"))


#: Where Podman puts its containers' cgroups with the cgroupfs manager.
CGROUP_PARENT = "libpod_parent"


def write(paths: PodmanPaths) -> None:
    """Record the host, then write the cluster's Podman configuration."""
    runc = shutil.which("runc")
    if runc is None:
        raise ContainerRuntimeUnavailableError(
            "runc is not installed, and Podman needs it here behind the runc wrapper: "
            "`apt-get install runc`"
        )
    try:
        _write(paths, runc)
    except BaseException:
        for directory in (paths.run, paths.data):
            shutil.rmtree(directory, ignore_errors=True)
        raise


def _write(paths: PodmanPaths, runc: str) -> None:
    for directory in (paths.data, paths.run):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not paths.host_before.is_file():
        HostSnapshot.take().save(paths.host_before)
    wrapper = paths.run / "runc-wrapper"
    interpreter = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    wrapper.write_text(runc_wrapper.script(runc, interpreter), encoding="utf-8")
    wrapper.chmod(0o700)
    networks = paths.data / "networks"
    networks.mkdir(mode=0o700, exist_ok=True)
    paths.containers_conf.write_text(
        "# Written by testing.cluster.podman_setup for one kind cluster; removed by `down`.\n"
        "[engine]\n"
        f'runtime = "{WRAPPER_RUNTIME}"\n'
        "[engine.runtimes]\n"
        f'{WRAPPER_RUNTIME} = ["{wrapper}"]\n'
        "[network]\n"
        f'network_config_dir = "{networks}"\n',
        encoding="utf-8",
    )
    paths.storage_conf.write_text(
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{paths.data / "storage"}"\n'
        f'runroot = "{paths.run / "storage"}"\n',
        encoding="utf-8",
    )


def configured(paths: PodmanPaths) -> bool:
    """Written and still usable (the wrapper lives under /run, which a reboot empties)."""
    return (
        paths.containers_conf.is_file()
        and paths.storage_conf.is_file()
        and (paths.run / "runc-wrapper").is_file()
    )


def remove(paths: PodmanPaths, environ: Mapping[str, str]) -> None:
    """Containers, networks, storage and directories of the cluster's Podman; ``environ``
    is the one kind ran Podman with."""
    podman = shutil.which("podman", path=environ.get("PATH"))
    if podman is not None and configured(paths):
        env = {**environ, **paths.env}
        for args in (["rm", "--all", "--force"], ["network", "prune", "--force"]):
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(
                    [podman, *args],
                    env=env,
                    capture_output=True,
                    timeout=COMMAND_TIMEOUT_S,
                    check=False,
                )
    before = HostSnapshot.load(paths.host_before)
    try:
        if before is not None:
            restore(before)
            if not any(name.endswith(f"/{CGROUP_PARENT}") for name in before.cgroups):
                remove_cgroups(CGROUP_PARENT)
    finally:
        for directory in (paths.run, paths.data):
            unmount_below(directory)
            shutil.rmtree(directory, ignore_errors=True)
