"""CI runs every test: a skip there is a failure."""

import os
import subprocess
import sys

import pytest

from tests.database_setup import PROJECT_ROOT

SKIPPING = """
import pytest

def test_runs():
    assert True

@pytest.mark.skip(reason="no Chromium on this machine")
def test_needs_chromium():
    pass
"""


@pytest.mark.parametrize(("ci", "exit_code"), [("1", 1), ("", 0)])
def test_a_skip_fails_only_in_ci(tmp_path, ci, exit_code):
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.ci_plugin",
            "-c",
            os.devnull,
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        env={**os.environ, "MASTERPLAN_CI": ci, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == exit_code, result.stdout
    if ci:
        assert "skipped in CI, where every test must run: " in result.stdout
        assert "no Chromium on this machine" in result.stdout
