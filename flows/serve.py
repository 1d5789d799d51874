"""Running the flows on Prefect: the three deployments (poll every 6 hours, the digest weekly at
the watchlist's time, the alerts the quiet hours held daily when they end) and, when PREFECT_API_URL is not set, a local Prefect server of our own,
started on a free port and stopped again (its whole process group) when we are done."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from hccwatch.watchlist import Watchlist
from store.errors import ConfigError
from store.schedule import POLL_ANCHOR, POLL_EVERY, WEEKDAYS

SERVER_START_TIMEOUT = 120.0
SERVER_STOP_TIMEOUT = 20.0


def digest_cron(watchlist: Watchlist) -> str:
    """'0 7 * * 1' for a Monday 07:00 digest (cron counts weekdays from Sunday = 0)."""
    weekday = (WEEKDAYS.index(watchlist.digest_weekday) + 1) % 7
    return f"0 {watchlist.digest_hour} * * {weekday}"


def quiet_end_cron(watchlist: Watchlist) -> str:
    """'0 7 * * *' when the watchlist's quiet hours end at 07:00 (in its timezone)."""
    end = watchlist.alerts.quiet_hours.rpartition("-")[2]
    hour, minute = end.split(":")
    return f"{int(minute)} {int(hour)} * * *"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(home: Path) -> dict[str, str]:
    """A Prefect server of our own: its files (SQLite database, logs) under `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_UI_ENABLED="false")
    return env


def wait_healthy(api_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until /api/health answers; fail with the server's log if it exits or never does."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(f"the local Prefect server exited; see {log}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.5)
    raise ConfigError(f"the local Prefect server did not become healthy; see {log}")


def stop_process_group(process: subprocess.Popen, timeout: float = SERVER_STOP_TIMEOUT) -> None:
    """Ctrl-C for the group we started (Prefect's worker ignores SIGTERM), then kill it if it
    lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def local_server(home: Path) -> Iterator[str]:
    """Start `prefect server start` (SQLite under `home`) on a free port; yield its API URL."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = home / "server.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port)],
            env=server_env(home), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)  # our own group: Ctrl-C reaches it only through us
    try:
        api_url = f"http://127.0.0.1:{port}/api"
        wait_healthy(api_url, process, log)
        yield api_url
    finally:
        stop_process_group(process)


@contextmanager
def prefect_api(home: Path, say: Callable[[str], Any]) -> Iterator[str]:
    """PREFECT_API_URL when set; otherwise a local server of ours (its files under `home`) for
    as long as we need it."""
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    say("hccwatch: PREFECT_API_URL is not set; starting a local Prefect server")
    with local_server(home) as api_url:
        os.environ["PREFECT_API_URL"] = api_url  # the flow runs we start inherit it
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        try:
            yield api_url
        finally:
            del os.environ["PREFECT_API_URL"]


def deployments(watchlist: Watchlist) -> list[Any]:
    """The same three deployments prefect.yaml declares, the digest's time and the end of the
    quiet hours from the watchlist."""
    from prefect.schedules import Cron, Interval

    from flows.alerting import alerts
    from flows.digest import digest
    from flows.poll import poll

    return [
        poll.to_deployment("poll", schedules=[Interval(POLL_EVERY, anchor_date=POLL_ANCHOR)],
                           concurrency_limit=1),
        digest.to_deployment("digest", concurrency_limit=1,
                             schedules=[Cron(digest_cron(watchlist), timezone=watchlist.timezone)]),
        alerts.to_deployment("alerts", concurrency_limit=1,
                             schedules=[Cron(quiet_end_cron(watchlist), timezone=watchlist.timezone)]),
    ]
