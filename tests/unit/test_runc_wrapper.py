"""The runc wrapper of the local provider: what it removes from an OCI spec, and when."""

from __future__ import annotations

import json
import resource
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


def test_script_runs_the_real_runc_through_the_named_interpreter(tmp_path: Path) -> None:
    text = runc_wrapper.script("/opt/real/runc", "/usr/bin/python3.11")
    lines = text.splitlines()
    assert lines[0] == "#!/usr/bin/python3.11 -I"
    future = lines.index("from __future__ import annotations")
    assert lines[future + 1] == "REAL_RUNC = '/opt/real/runc'"
    namespace: dict[str, object] = {"__name__": "wrapper"}
    exec(compile(text, "wrapper", "exec"), namespace)  # noqa: S102 - the file this module writes
    assert namespace["REAL_RUNC"] == "/opt/real/runc"
