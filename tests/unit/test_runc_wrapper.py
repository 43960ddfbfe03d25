"""The runc wrapper of the local provider: what it removes from an OCI spec, and when."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from testing import runc_wrapper
from testing.cluster.host_state import cleaned_table

WITHOUT_SYS_RESOURCE = "Name:\tx\nCapBnd:\t000001fffeffffff\n"
WITH_SYS_RESOURCE = "Name:\tx\nCapBnd:\t000001ffffffffff\n"


def test_wrapper_is_needed_only_where_root_lacks_cap_sys_resource() -> None:
    assert runc_wrapper.needs_wrapper(WITHOUT_SYS_RESOURCE) is True
    assert runc_wrapper.needs_wrapper(WITH_SYS_RESOURCE) is False


def _process() -> dict[str, object]:
    caps = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_KILL"]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {
        "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
        "oomScoreAdj": -998,
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": hard + 1000, "soft": hard + 1000}],
    }


def test_spec_loses_only_what_the_host_cannot_grant() -> None:
    own = int(Path("/proc/self/oom_score_adj").read_text())
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    process = runc_wrapper.adjust_process(_process())
    for caps in process["capabilities"].values():  # type: ignore[attr-defined]
        assert caps == ["CAP_CHOWN", "CAP_KILL"]
    assert process["oomScoreAdj"] == max(-998, own)
    assert process["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": hard, "soft": hard}]


def test_create_edits_the_bundle_and_exec_edits_the_process_file(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"process": _process()}))
    process_file = tmp_path / "process.json"
    process_file.write_text(json.dumps(_process()))
    untouched = json.dumps({"process": _process()})

    runc_wrapper.rewrite_for(["--root", "/x", "create", "--bundle", str(bundle), "id1"])
    edited = json.loads((bundle / "config.json").read_text())["process"]
    assert "CAP_SYS_RESOURCE" not in edited["capabilities"]["bounding"]

    runc_wrapper.rewrite_for(["exec", "--process", str(process_file), "id1"])
    assert (
        "CAP_SYS_RESOURCE" not in json.loads(process_file.read_text())["capabilities"]["effective"]
    )

    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(untouched)
    runc_wrapper.rewrite_for(["state", "id1"])
    assert (other / "config.json").read_text() == untouched


def test_down_drops_new_kubernetes_chains_and_keeps_everyone_elses() -> None:
    before = [":INPUT ACCEPT", ":DOCKER - [0:0]", ":KUBE-OLD - [0:0]", "-A INPUT -j KUBE-OLD"]
    current = [
        ":INPUT ACCEPT [5:300]",
        ":DOCKER - [0:0]",
        ":KUBE-OLD - [0:0]",
        ":KUBE-SERVICES - [0:0]",
        ":CNI-HOSTPORT-DNAT - [0:0]",
        "-A INPUT -j KUBE-OLD",
        "-A INPUT -j KUBE-SERVICES",
        "-A PREROUTING -j CNI-HOSTPORT-DNAT",
        "-A DOCKER -j RETURN",
    ]
    assert cleaned_table(current, before) == [
        ":INPUT ACCEPT [5:300]",
        ":DOCKER - [0:0]",
        ":KUBE-OLD - [0:0]",
        "-A INPUT -j KUBE-OLD",
        "-A DOCKER -j RETURN",
    ]


def test_the_written_script_edits_the_bundle_then_runs_the_real_runc_with_its_arguments(
    tmp_path: Path,
) -> None:
    """The script as runc's callers run it: a stand-in for the real runc records its argv."""
    recorded = tmp_path / "argv.json"
    real = tmp_path / "runc"
    real.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(recorded)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    real.chmod(0o755)
    wrapper = tmp_path / "runc-wrapper"
    wrapper.write_text(runc_wrapper.script(str(real), sys.executable))
    wrapper.chmod(0o755)
    assert wrapper.read_text().splitlines()[0] == f"#!{sys.executable} -I"
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"process": _process()}))
    argv = ["--root", "/x", "create", "--bundle", str(bundle), "id1"]
    subprocess.run([str(wrapper), *argv], timeout=30, check=True)
    assert json.loads(recorded.read_text()) == argv
    caps = json.loads((bundle / "config.json").read_text())["process"]["capabilities"]
    # Edited only where this host's root lacks the capability, as in a kind node.
    expected = ["CAP_CHOWN", "CAP_KILL"] if runc_wrapper.needs_wrapper() else None
    assert caps["bounding"] == (expected or ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_KILL"])
