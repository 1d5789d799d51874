"""`hccwatch serve` (the poll, digest and alerts deployments on their schedules, with a local
Prefect server when PREFECT_API_URL is not set) and `hccwatch run` (one poll and digest, no schedules)."""

from __future__ import annotations

import signal
import sys
from datetime import datetime

import click

from flows.serve import deployments, digest_cron, prefect_api, quiet_end_cron
from hccwatch.app import App
from hccwatch.commands import do_poll, fail_cleanly, pass_app
from hccwatch.settings import data_dir
from store.db import session_scope, utcnow
from store.schedule import local_text, polled_recently


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
    with prefect_api(data_dir() / "prefect", click.echo) as api_url:
        from prefect import serve as serve_deployments
        from prefect.settings import PREFECT_API_URL, temporary_settings

        click.echo(f"hccwatch: Prefect API {api_url}; serving 'poll' (every 6 hours), "
                   f"'digest' ({digest_cron(app.watchlist)} {app.watchlist.timezone}) and "
                   f"'alerts' held by the quiet hours ({quiet_end_cron(app.watchlist)} "
                   f"{app.watchlist.timezone})")
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
