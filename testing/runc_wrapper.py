"""A runc front end for hosts whose capability bounding set lacks CAP_SYS_RESOURCE.

Some sandboxes and CI machines run their root user without CAP_SYS_RESOURCE. The CRI
asks for it in privileged containers, for a hard RLIMIT_NOFILE above the host's, and
(for sandboxes) for an oom_score_adj below the caller's, and runc then fails with
"unable to apply caps: operation not permitted" or "setrlimit ... operation not
permitted". This wrapper edits the OCI spec that runc is about to read, removing only
what the host cannot grant, then execs the real runc with the same arguments:

* ``create``/``run``: the bundle's ``config.json``;
* ``exec --process FILE``: the process file.

:func:`script` makes this file an executable with two lines prepended (the
interpreter and ``REAL_RUNC``). The ``local`` provider points containerd's
``BinaryName`` at it, a private dockerd runs it as its default runtime, and the kind
node image built here installs it as ``runc``, all only where :func:`needs_wrapper`
is true; the node's copy checks at every call, as the same image runs on hosts that
need no edits. It uses the standard library only.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path
from typing import Any

CAP_SYS_RESOURCE = 24
CAP_NAME = "CAP_SYS_RESOURCE"
_LIMITS = {
    "RLIMIT_NOFILE": resource.RLIMIT_NOFILE,
    "RLIMIT_NPROC": resource.RLIMIT_NPROC,
    "RLIMIT_CORE": resource.RLIMIT_CORE,
    "RLIMIT_MEMLOCK": resource.RLIMIT_MEMLOCK,
    "RLIMIT_STACK": resource.RLIMIT_STACK,
}


def bounding_set(status: str) -> int:
    """The ``CapBnd`` mask of a ``/proc/<pid>/status`` text."""
    for line in status.splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    return 0


def needs_wrapper(status: str | None = None) -> bool:
    """Whether this host's root lacks CAP_SYS_RESOURCE (and runc needs the wrapper)."""
    text = status if status is not None else Path("/proc/self/status").read_text()
    return not bounding_set(text) & (1 << CAP_SYS_RESOURCE)


def _own_oom_score_adj() -> int:
    try:
        return int(Path("/proc/self/oom_score_adj").read_text().strip())
    except (OSError, ValueError):
        return 0


def adjust_process(process: dict[str, Any]) -> dict[str, Any]:
    """``process`` of an OCI spec, limited to what this host can grant (in place)."""
    caps = process.get("capabilities") or {}
    for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        if isinstance(caps.get(kind), list):
            caps[kind] = [c for c in caps[kind] if c != CAP_NAME]
    own = _own_oom_score_adj()
    if "oomScoreAdj" in process and int(process["oomScoreAdj"]) < own:
        process["oomScoreAdj"] = own
    for limit in process.get("rlimits") or []:
        which = _LIMITS.get(str(limit.get("type")))
        if which is None:
            continue
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            limit["hard"] = min(int(limit.get("hard", hard)), hard)
            limit["soft"] = min(int(limit.get("soft", hard)), limit["hard"])
    return process


def _rewrite(path: Path, spec_is_process: bool) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    if spec_is_process:
        adjust_process(data)
    elif isinstance(data.get("process"), dict):
        adjust_process(data["process"])
    path.write_text(json.dumps(data), encoding="utf-8")


def _option(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def rewrite_for(argv: list[str]) -> None:
    """Edit the spec file the runc command line ``argv`` (without argv[0]) will read."""
    words = [a for a in argv if not a.startswith("-")]
    if "create" in words or "run" in words:
        bundle = _option(argv, "--bundle", "-b") or "."
        config = Path(bundle) / "config.json"
        if config.is_file():
            _rewrite(config, spec_is_process=False)
    elif "exec" in words:
        process = _option(argv, "--process", "-p")
        if process and Path(process).is_file():
            _rewrite(Path(process), spec_is_process=True)


def script(real_runc: str, interpreter: str) -> str:
    """This file as an executable front end for ``real_runc``, run by ``interpreter``."""
    body = Path(__file__).read_text(encoding="utf-8")
    future = "from __future__ import annotations\n"
    body = body.replace(future, f"{future}REAL_RUNC = {real_runc!r}\n", 1)
    return f"#!{interpreter} -I\n{body}"


def main() -> None:  # pragma: no cover - exercised by real pods through containerd
    real = globals().get("REAL_RUNC")
    if not isinstance(real, str):
        sys.exit("runc wrapper: REAL_RUNC is not set")
    if needs_wrapper():  # the same file runs in kind nodes on hosts that need no edits
        rewrite_for(sys.argv[1:])
    os.execv(real, [real, *sys.argv[1:]])  # noqa: S606 - argv passed through unchanged


if __name__ == "__main__":  # pragma: no cover
    main()
