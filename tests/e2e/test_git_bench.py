"""`bench/git_bench.py --quick` keeps working: a 300-commit history cloned over git://
(and over HTTP and SSH, and its pages measured, where this code has them; otherwise the
row says it was skipped and why)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PAGES = (
    "summary",
    "tree (directory)",
    "blob page, 2,000 lines",
    "commit",
    "blame, 2,000 lines",
    "log, first page",
    "log, deep page",
)
PAGE_FIGURE = r"\s\d+\.\d\d\s+\d+\.\d\d\s+\d+$"  # p50 ms, p99 ms, bytes
PAGE_SKIPPED = r"\sskipped: /~bench/big\S* answers \d{3}"
FIGURE = r"\s+v[02]\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d{3}$"


def test_the_quick_git_benchmark_prints_its_table(tmp_path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILYARD_", "GIT_"))}
    env["BENCH_WORK"] = str(tmp_path / "work")
    r = subprocess.run(
        [sys.executable, str(REPO / "bench" / "git_bench.py"), "--quick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    lines = r.stdout.splitlines()

    def row(name: str) -> str:
        [found] = [ln for ln in lines if ln.startswith(f"{name} ")]  # its row of the table
        return found

    assert re.search(r"^git://" + FIGURE, row("git://"), re.M)
    assert re.search(r" 1\.00 ", row("git://"))
    for name in ("http", "plain ssh", "ssh"):
        # measured, or skipped with the reason
        assert re.search(rf"^{name}(\s+skipped: \S.*|{FIGURE})", row(name)), row(name)
    for page in PAGES:
        line = row(page)
        assert re.search(PAGE_FIGURE, line) or re.search(PAGE_SKIPPED, line), line
    assert "300 commits" in r.stdout
    assert (tmp_path / "work" / "results" / "mailyard_git_300.json").exists()
