"""Live at real size: the first real poll of a big topic succeeds within bounded memory, and
later polls miss nothing (lookback), see corrections of stored papers and say when PubMed
ignored part of a query."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import fixture_bytes
from sqlmodel import func, select

from replay.server import CtgovHandler, cloned_studies, studies_from_recordings
from store.db import session_scope
from store.models import Finding

FULL_RECORDS = [f"ctgov/aact_{nct}.json" for nct in
                ("NCT00763412", "NCT02210780", "NCT03630471", "NCT04207047")]
# `hccwatch ...` in a child process that reports its own peak resident memory when it ends
# (VmHWM: getrusage's ru_maxrss would keep the forking test process's size across exec).
MEASURED = [sys.executable, "-c",
            "import re, runpy, sys\n"
            "try:\n"
            "    runpy.run_module('hccwatch.cli', run_name='__main__')\n"
            "finally:\n"
            "    status = open('/proc/self/status').read()\n"
            "    print('peak_rss_kb', re.search(r'VmHWM:\\s*(\\d+)', status).group(1), file=sys.stderr)\n"]


@pytest.fixture
def watchlist_text() -> str:
    return """
[[topics]]
id = "hcc"
label = "Hepatocellular carcinoma"
terms = ["hepatocellular carcinoma"]
ctgov = { cond = "Hepatocellular Carcinoma OR Liver Cancer OR HCC" }
"""


def peak_rss_mb(stderr: str) -> float:
    line = next(line for line in stderr.splitlines() if line.startswith("peak_rss_kb"))
    return int(line.split()[1]) / 1024


def test_first_poll_of_1500_full_trial_records_stores_all_in_bounded_memory(env, engine, replay):
    full = studies_from_recordings(fixture_bytes(f) for f in FULL_RECORDS)
    handler = CtgovHandler(cloned_studies(full, 1500, shared=True), filter_queries=False)
    replay.route("/ctgov", handler)
    polled = subprocess.run([*MEASURED, "poll", "--source", "ctgov"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert polled.returncode == 0, polled.stderr
    with session_scope(engine) as s:
        stored = s.exec(select(func.count()).select_from(Finding).where(
            Finding.kind == "trial", Finding.placeholder == False)).one()  # noqa: E712
    assert stored == 1500
    requests = replay.requests("/ctgov/studies")
    assert all(r.params["fields"] and int(r.params["pageSize"]) <= 200 for r in requests)
    assert len(requests) == 8  # 1,500 in pages of 200
    assert peak_rss_mb(polled.stderr) < 300, polled.stderr
