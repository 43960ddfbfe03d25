"""Namespace names: valid DNS labels, unique per worker and run, readable."""

from __future__ import annotations

import re

from testing.k8s.namespaces import RUN_LABEL, WORKER_LABEL, NamespaceNamer, slug

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_names_are_unique_valid_and_carry_worker_counter_and_hint() -> None:
    gw0, gw1 = NamespaceNamer("run1", "gw0"), NamespaceNamer("run1", "gw1")
    names = [n.next_name("test_apply[case A]") for n in (gw0, gw1) for _ in range(200)]
    assert len(set(names)) == 400
    assert all(DNS_LABEL.match(name) and len(name) <= 63 for name in names)
    assert names[0].startswith("ktp-gw0-1-")
    assert names[0].endswith("-test-apply-case-a")
    assert names[200].startswith("ktp-gw1-1-")


def test_a_long_hint_is_cut_to_63_characters_without_a_trailing_dash() -> None:
    name = NamespaceNamer("r", "gw12").next_name("x" * 29 + "-" + "y" * 100)
    assert len(name) <= 63
    assert DNS_LABEL.match(name)


def test_labels_name_the_run_and_worker() -> None:
    labels = NamespaceNamer("abc123", "gw3").labels()
    assert labels[RUN_LABEL] == "abc123"
    assert labels[WORKER_LABEL] == "gw3"


def test_slug() -> None:
    assert slug("Test_Foo[bar-1]") == "test-foo-bar-1"
    assert slug("---") == ""
