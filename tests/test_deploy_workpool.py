"""The path beyond one machine, on one machine: a local Prefect server, a process work pool,
`prefect deploy --all` from prefect.yaml, a worker, and a triggered `poll` run that stores
findings in the SQLite file named by the deployment's job variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlmodel import func, select

from flows.serve import local_server, stop_process_group
from store.db import session_scope
from store.models import Finding, PollRun

ROOT = Path(__file__).resolve().parents[1]
PREFECT = [sys.executable, "-m", "prefect"]


def prefect_env(api_url: str, home: Path) -> dict[str, str]:
    """A client and worker environment whose own hccwatch settings lead nowhere (a closed port,
    no retries, a scratch data folder): the run's settings must come from its job variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HCCWATCH_", "PREFECT_"))}
    env.update(PREFECT_API_URL=api_url, PREFECT_HOME=str(home),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", XDG_DATA_HOME=str(home / "data"),
               HCCWATCH_CTGOV_URL="http://127.0.0.1:9/closed", HCCWATCH_RETRY_ATTEMPTS="1",
               HCCWATCH_RETRY_BASE="0.01")
    return env


def prefect(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([*PREFECT, *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, f"prefect {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result




@pytest.mark.slow
def test_deployment_runs_on_a_process_worker_and_stores_findings(env, engine, ctgov, tmp_path):
    settings_env = {k: v for k, v in env.items() if k.startswith("HCCWATCH_")}
    with local_server(tmp_path / "server") as api_url:
        client = prefect_env(api_url, tmp_path / "client")
        prefect(client, "work-pool", "create", "local", "--type", "process")
        deployed = prefect(client, "--no-prompt", "deploy", "--all")
        assert "poll/poll" in deployed.stdout and "digest/digest" in deployed.stdout
        worker = subprocess.Popen([*PREFECT, "worker", "start", "--pool", "local"], cwd=tmp_path,
                                  env=client, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            run = prefect(client, "deployment", "run", "poll/poll",
                          "--params", json.dumps({"sources": ["ctgov"]}),
                          "--job-variable", "env=" + json.dumps(settings_env),
                          "--watch", "--watch-timeout", "150")
        finally:
            stop_process_group(worker)
    assert "Completed" in run.stdout, run.stdout
    with pytest.raises(ProcessLookupError):  # the worker and every process it started are gone
        os.killpg(worker.pid, 0)
    with session_scope(engine) as session:
        stored = session.exec(select(func.count()).select_from(Finding)).one()
        runs = session.exec(select(PollRun)).all()
    assert stored == 16  # every recorded study the three watchlist queries find
    assert len(runs) == 1 and runs[0].ok and runs[0].counts["ctgov"]["new"] == 16


def server_files(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


@pytest.mark.slow
def test_a_poll_with_one_upstream_down_ends_failed_with_a_readable_message(
        env, engine, replay, tmp_path):
    """ClinicalTrials.gov unreachable, PubMed answering: the run ends Failed (not Crashed),
    its message names the failed source, PubMed's findings are stored, and the NCBI key is
    nowhere in Prefect's database."""
    from test_hostile import KEY
    from test_pubmed_poll import LITERATURE_WATCHLIST, RECORDED, recorded_articles

    from replay.literature import EutilsHandler

    replay.route("/eutils", EutilsHandler(recorded_articles(*RECORDED), rate_limit=None))
    watchlist = tmp_path / "literature.toml"
    watchlist.write_text(LITERATURE_WATCHLIST, encoding="utf-8")
    settings_env = {**{k: v for k, v in env.items() if k.startswith("HCCWATCH_")},
                    "HCCWATCH_WATCHLIST": str(watchlist), "HCCWATCH_CTGOV_URL": "http://127.0.0.1:9/down"}
    with local_server(tmp_path / "server") as api_url:
        client = prefect_env(api_url, tmp_path / "client")
        prefect(client, "work-pool", "create", "local", "--type", "process")
        prefect(client, "--no-prompt", "deploy", "--all")
        worker = subprocess.Popen([*PREFECT, "worker", "start", "--pool", "local"], cwd=tmp_path,
                                  env={**client, "NCBI_API_KEY": KEY},  # secrets: worker only
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            subprocess.run([*PREFECT, "deployment", "run", "poll/poll",
                            "--params", json.dumps({"sources": ["ctgov", "pubmed"]}),
                            "--job-variable", "env=" + json.dumps(settings_env),
                            "--watch", "--watch-timeout", "150"],
                           cwd=ROOT, env=client, capture_output=True, text=True, timeout=180)
        finally:
            stop_process_group(worker)
        runs = [run for run in httpx.post(f"{api_url}/flow_runs/filter", json={}).json()
                if run["state"]["type"] != "SCHEDULED"]  # not the schedule's future runs
        logs = httpx.post(f"{api_url}/logs/filter", json={}).json()
    assert len(runs) == 1
    assert {r.params.get("api_key") for r in replay.requests("/eutils")} == {KEY}  # the key was used
    state = runs[0]["state"]
    assert state["type"] == "FAILED" and state["name"] == "Failed", state
    assert "ctgov" in state["message"] and "connection failed" in state["message"]
    assert "pubmed" not in state["message"] and "TypeError" not in state["message"]
    with session_scope(engine) as session:
        run = session.exec(select(PollRun)).one()
    assert run.finished_at and not run.ok and run.counts["pubmed"]["new"] >= 3
    assert [log["message"] for log in logs if KEY in log["message"]] == []
    assert KEY.encode() not in server_files(tmp_path / "server")
