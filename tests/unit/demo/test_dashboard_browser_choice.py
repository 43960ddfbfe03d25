"""Which browser the dashboard checks drive: the one TEST_BROWSER names, never a snap stub.

GitHub's Ubuntu runners have Google Chrome, and a ``chromium-browser`` that is only a
snap stub; Debian machines have ``chromium``. The stand-in executables here are empty
scripts on a PATH of this test's own: only the choice is under test, not a browser.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.dashboard_check import BROWSER_ENV, browser


def _on_path(directory: Path, *names: str) -> Path:
    directory.mkdir(exist_ok=True)
    for name in names:
        exe = directory / name
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(0o755)
    return directory


def test_the_browser_named_by_test_browser_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = _on_path(tmp_path / "bin", "chromium", "google-chrome")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv(BROWSER_ENV, "google-chrome")
    assert browser() == str(bin_dir / "google-chrome")


def test_without_a_setting_chromium_then_chrome_and_never_the_snap_stub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BROWSER_ENV, raising=False)
    only_stub = _on_path(tmp_path / "stub", "chromium-browser")
    monkeypatch.setenv("PATH", str(only_stub))
    with pytest.raises(AssertionError, match="no browser: one of chromium, google-chrome"):
        browser()
    chrome = _on_path(tmp_path / "chrome", "google-chrome")
    monkeypatch.setenv("PATH", f"{only_stub}:{chrome}")
    assert browser() == str(chrome / "google-chrome")


def test_a_named_browser_that_is_missing_is_one_line_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(_on_path(tmp_path / "bin", "chromium")))
    monkeypatch.setenv(BROWSER_ENV, "google-chrome")
    with pytest.raises(AssertionError) as caught:
        browser()
    assert str(caught.value) == (
        "no browser: TEST_BROWSER=google-chrome is not on PATH (Debian: apt-get install "
        "chromium; or set TEST_BROWSER to Chrome's path)"
    )
