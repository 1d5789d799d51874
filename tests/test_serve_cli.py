"""`hccwatch run` (one poll and digest, exit codes like poll) and `hccwatch serve` (a local
Prefect server of its own, both deployments on their schedules, Ctrl-C stops everything)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import func, select

from flows.serve import stop_process_group
from replay.server import Fault
from store.db import session_scope
from store.models import Finding

HCCWATCH = [sys.executable, "-m", "hccwatch.cli"]


def hcc(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([*HCCWATCH, *args], capture_output=True, text=True, timeout=120, env=env)


def test_run_polls_then_mails_the_digest_once(env, ctgov, settings):
    first = hcc("run", env=env)
    second = hcc("run", env=env)

    assert first.returncode == 0, first.stderr
    assert "16 new" in first.stdout and "sent " in first.stdout
    assert second.returncode == 0 and "already sent" in second.stdout
    assert len(list(Path(settings.outbox).glob("*.eml"))) == 1


def test_run_exits_1_when_a_source_fails_and_still_mails(env, ctgov, replay, settings):
    replay.inject("/ctgov/studies", Fault(status=500, body=b"maintenance"), times=100)
    result = hcc("run", env=env)
    assert result.returncode == 1
    assert "FAILED ctgov" in result.stderr
    assert len(list(Path(settings.outbox).glob("*.eml"))) == 1


class Output:
    """Lines a child process prints, collected in the background (its pipe never fills)."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.lines.append(line)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} in output:\n{''.join(self.lines)}")


def api(url: str, path: str, body: dict | None = None) -> dict | list:
    """Call the Prefect API; a 503 (its SQLite database busy on a loaded machine) is retried,
    as Prefect's own client does."""
    for _ in range(10):
        response = httpx.post(f"{url}{path}", json=body or {}, timeout=10) if body is not None \
            else httpx.get(f"{url}{path}", timeout=10)
        if response.status_code != 503:
            break
        time.sleep(1)
    response.raise_for_status()
    return response.json()


def wait_for_run(url: str, run_id: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    state = "SCHEDULED"
    while time.monotonic() < deadline:
        state = api(url, f"/flow_runs/{run_id}")["state"]["type"]
        if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return state
        time.sleep(1)
    return state


@pytest.mark.slow
def test_serve_starts_its_own_server_serves_both_schedules_and_stops_on_ctrl_c(
        env, engine, ctgov, tmp_path):
    environ = {k: v for k, v in env.items() if not k.startswith("PREFECT_API")}
    environ.update(XDG_DATA_HOME=str(tmp_path / "data"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    serve = subprocess.Popen([*HCCWATCH, "serve"], env=environ, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = Output(serve)
    try:
        output.wait_for(r"polling once now", 60)
        output.wait_for(r"ctgov: \d+ fetched", 120)  # the first poll, before any schedule
        output.wait_for(r"next poll .* \(Asia/Shanghai\), then every 6 hours; next digest Mon", 30)
        url = output.wait_for(r"Prefect API (http://127\.0\.0\.1:\d+/api)", 180).group(1)
        output.wait_for(r"being served", 60)
        deployments = {d["name"]: d for d in api(url, "/deployments/filter", {})}
        poll_id = deployments["poll"]["id"]
        run = api(url, f"/deployments/{poll_id}/create_flow_run",
                  {"parameters": {"sources": ["ctgov"]}})
        state = wait_for_run(url, run["id"])
    finally:
        stop_process_group(serve, timeout=60)
    assert serve.returncode == 0, "".join(output.lines)
    assert "hccwatch: stopped" in "".join(output.lines)
    assert deployments["poll"]["schedules"][0]["schedule"]["interval"] == 6 * 3600
    digest = deployments["digest"]["schedules"][0]["schedule"]
    assert (digest["cron"], digest["timezone"]) == ("0 7 * * 1", "Asia/Shanghai")
    held = deployments["alerts"]["schedules"][0]["schedule"]  # when the quiet hours end
    assert (held["cron"], held["timezone"]) == ("0 7 * * *", "Asia/Shanghai")
    assert state == "COMPLETED"
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Finding)).one() == 16
    with pytest.raises(httpx.TransportError):  # the server it started is gone too
        httpx.get(f"{url}/health", timeout=2)
    assert (tmp_path / "data" / "hccwatch" / "prefect" / "prefect.db").exists()
