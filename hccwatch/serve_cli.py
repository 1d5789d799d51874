"""`hccwatch serve` (the poll and digest deployments on their schedules, with a local Prefect
server when PREFECT_API_URL is not set) and `hccwatch run` (one poll and digest, no schedules)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import httpx

from hccwatch.app import App
from hccwatch.commands import do_poll, fail_cleanly, pass_app
from hccwatch.settings import ConfigError, data_dir
from hccwatch.watchlist import Watchlist
from store.db import session_scope, utcnow
from store.schedule import POLL_ANCHOR, POLL_EVERY, WEEKDAYS, local_text, polled_recently

SERVER_START_TIMEOUT = 120.0
SERVER_STOP_TIMEOUT = 20.0


def digest_cron(watchlist: Watchlist) -> str:
    """'0 7 * * 1' for a Monday 07:00 digest (cron counts weekdays from Sunday = 0)."""
    weekday = (WEEKDAYS.index(watchlist.digest_weekday) + 1) % 7
    return f"0 {watchlist.digest_hour} * * {weekday}"


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
def prefect_api() -> Iterator[str]:
    """PREFECT_API_URL when set; otherwise a local server of ours for as long as we need it."""
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    click.echo("hccwatch: PREFECT_API_URL is not set; starting a local Prefect server")
    with local_server(data_dir() / "prefect") as api_url:
        os.environ["PREFECT_API_URL"] = api_url  # the flow runs we start inherit it
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        try:
            yield api_url
        finally:
            del os.environ["PREFECT_API_URL"]


def deployments(watchlist: Watchlist) -> list[Any]:
    """The same two deployments prefect.yaml declares, the digest's time from the watchlist."""
    from prefect.schedules import Cron, Interval

    from flows.digest import digest
    from flows.poll import poll

    return [
        poll.to_deployment("poll", schedules=[Interval(POLL_EVERY, anchor_date=POLL_ANCHOR)],
                           concurrency_limit=1),
        digest.to_deployment("digest", concurrency_limit=1,
                             schedules=[Cron(digest_cron(watchlist), timezone=watchlist.timezone)]),
    ]


@click.command()
@pass_app
@fail_cleanly
def serve(app: App) -> None:
    """Run the schedules: poll once now (unless a poll finished within the last hour), then
    every 6 hours, the digest weekly (the watchlist's digest_weekday and digest_hour, in its
    timezone); says when the next poll and digest come. Stop with Ctrl-C.

    Uses the Prefect server at PREFECT_API_URL if set; otherwise starts a local one
    (SQLite, under the hccwatch data folder) and stops it again on exit."""
    serve_schedules(app)


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM (systemd, docker stop) both stop serving cleanly, even when started
    from a shell that ignores SIGINT for background jobs."""
    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)


def first_poll(app: App, now: datetime) -> None:
    """Poll once at start, unless a poll finished within the last hour (say which)."""
    with session_scope(app.engine, write=False) as session:
        recent = polled_recently(session, now)
    if recent is not None:
        click.echo(f"hccwatch: the last poll finished {local_text(recent, app.watchlist.timezone)}; "
                   f"not polling again now")
        return
    click.echo("hccwatch: polling once now (no poll finished in the last hour)")
    do_poll(app)


def serve_schedules(app: App) -> None:
    _ = app.engine  # a bad HCCWATCH_DB fails now (exit 2), not at the first scheduled run
    stop_on_signals()
    first_poll(app, utcnow())
    click.echo(f"hccwatch: {app.watchlist.next_runs(utcnow())['text']}")
    with prefect_api() as api_url:
        from prefect import serve as serve_deployments
        from prefect.settings import PREFECT_API_URL, temporary_settings

        click.echo(f"hccwatch: Prefect API {api_url}; serving 'poll' (every 6 hours) and "
                   f"'digest' ({digest_cron(app.watchlist)} {app.watchlist.timezone})")
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            serve_deployments(*deployments(app.watchlist))
    click.echo("hccwatch: stopped")


@click.command()
@pass_app
@fail_cleanly
def run(app: App) -> None:
    """Poll every source once, then make this period's digest (no schedules, no Prefect
    server).

    Exits 1 if any source failed (everything else is still stored and the digest is still
    made: its sources line says what failed) or if sending the digest failed."""
    run_once(app)


def run_once(app: App) -> None:
    from digests.deliver import make_digest
    from hccwatch.digest_cli import echo_report

    polled = do_poll(app)
    digest = make_digest(app.post())
    echo_report(digest)
    sys.exit(0 if polled.ok and digest.ok else 1)
