"""`hccwatch alerts [--test]`: per destination of HCCWATCH_ALERT_URLS what is pending, sent and
failed, and the latest alerts; `--test` sends one test alert to every destination. Destinations
are shown only by their masked labels (the URLs hold tokens)."""

from __future__ import annotations

import sys
from typing import Any

import click

from hccwatch.app import App
from hccwatch.commands import fail_cleanly, pass_app
from hccwatch.settings import ConfigError
from hccwatch.showtext import destination_text
from hccwatch.terminal import json_text, printable
from store.db import session_scope
from store.vocab import local_minute

LATEST = 10


@click.command()
@click.option("--test", is_flag=True,
              help="Send one test alert to every destination now (quiet hours and the ledger left "
                   "alone) and say for each whether it was accepted. Exits 1 if any failed.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format.")
@pass_app
@fail_cleanly
def alerts(app: App, test: bool, fmt: str) -> None:
    """Immediate alerts: per destination (HCCWATCH_ALERT_URLS, shown masked) how many are
    pending, sent and failed, the last error, and the latest alerts.

    After every poll, a trial or paper whose changes cannot wait for the weekly digest (the
    watchlist's [alerts] kinds) gets one short alert in English and Chinese, sent once to
    each destination; one not accepted is retried at the next poll; during the quiet hours
    alerts wait until they end."""
    if test:
        sys.exit(run_test(app, fmt))
    data = listing(app)
    click.echo(json_text(data) if fmt == "json" else printable(table(data, app.watchlist.timezone)))


def listing(app: App) -> dict[str, Any]:
    from alerts.ledger import recent
    from store.health import alert_health

    watchlist = app.watchlist
    with session_scope(app.engine, write=False) as session:
        ledger, latest = alert_health(session), recent(session, LATEST)
    configured = {d.key for d in app.destinations if not d.problem}
    return {
        "destinations": [{**entry, "configured": entry["id"] in configured} for entry in ledger]
        + [{"destination": d.label, "id": d.key, "configured": True, "pending": 0, "sent": 0,
            "failed": 0, "last_sent_at": None, "last_error": None, "last_error_at": None}
           for d in app.destinations if not d.problem and d.key not in {e["id"] for e in ledger}],
        "problems": [d.problem for d in app.destinations if d.problem],
        "kinds": list(watchlist.alerts.kinds),
        "quiet_hours": app.quiet_hours.text,
        "alerts": latest,
    }


def table(data: dict[str, Any], timezone: str) -> str:
    lines = [f"Alert destinations (HCCWATCH_ALERT_URLS): {len(data['destinations']) or 'none set'}"]
    for entry in data["destinations"]:
        lines.append("  " + destination_text(entry, lambda value: local_minute(value, timezone))
                     + ("" if entry["configured"] else " (no longer in HCCWATCH_ALERT_URLS)"))
    lines += [f"  PROBLEM {problem}" for problem in data["problems"]]
    lines.append(f"Kinds: {', '.join(data['kinds']) or 'none'}; quiet hours {data['quiet_hours']}")
    if not data["alerts"]:
        lines.append("No alert yet: they come after a poll finds a change that cannot wait.")
    else:
        lines.append(f"Latest alerts (newest first, times in {timezone}):")
    for alert in data["alerts"]:
        lines.append(f"  {local_minute(alert['created_at'], timezone)}  {alert['title']}")
        lines += [f"      {d['destination']}: {delivery_state(d, timezone)}" for d in alert["deliveries"]]
    return "\n".join(lines)


def delivery_state(delivery: dict[str, Any], timezone: str) -> str:
    if delivery["status"] == "sent":
        return f"sent {local_minute(delivery['sent_at'], timezone)}"
    tries = f"{delivery['attempts']} attempt(s)" if delivery["attempts"] else "not tried yet"
    error = f": {delivery['last_error']}" if delivery["last_error"] else ""
    return f"{delivery['status']} ({tries}{error})"


def run_test(app: App, fmt: str) -> int:
    """Send the test alert everywhere; 0 when every destination accepted it, else 1."""
    from alerts.deliver import send_test

    if not app.destinations:
        raise ConfigError("HCCWATCH_ALERT_URLS: not set, so there is nothing to test "
                          "(one or more Apprise URLs, space- or comma-separated)")
    results = send_test(app.destinations, timeout=app.settings.http_timeout)
    if fmt == "json":
        click.echo(json_text([{"destination": d.label, "ok": error is None, "error": error}
                              for d, error in results]))
    for destination, error in results:
        if fmt == "table":
            click.echo(printable(f"{destination.label}: " + (
                "test alert accepted" if error is None else f"FAILED: {error}")),
                err=error is not None)
    return 0 if all(error is None for _, error in results) else 1
