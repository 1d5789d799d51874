"""The `hccwatch` command line (the contract in DESIGN.md). Exit codes: 0 all fine, 1 some
source failed (the rest still stored), 2 bad usage, bad configuration or an unusable database."""

from __future__ import annotations

import csv
import io
import sys
from datetime import datetime
from importlib import import_module
from typing import Any

import click

from hccwatch.app import App
from hccwatch.commands import do_poll, fail_cleanly, findings_table, pass_app
from hccwatch.terminal import csv_cell, json_text, printable
from sources.records import KINDS
from store.db import session_scope
from store.vocab import FILTER_SOURCES, POLL_SOURCES, SORTS, aware


def parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date like 2026-11-01, got {value!r}") from None
    return aware(parsed)


# Commands in modules of their own, loaded only when they run (or --help lists them): a
# `hccwatch show` need not load Prefect's client, the digest renderer or the web app.
LAZY_COMMANDS = {"serve": "hccwatch.serve_cli", "run": "hccwatch.serve_cli",
                 "digest": "hccwatch.digest_cli", "web": "hccwatch.web_cli",
                 "search": "hccwatch.web_cli", "check": "hccwatch.check_cli",
                 "install-service": "hccwatch.service_cli", "alerts": "hccwatch.alerts_cli"}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            return getattr(import_module(LAZY_COMMANDS[name]), name.replace("-", "_"))
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="hccwatch")
def cli() -> None:
    """hccwatch: watches ClinicalTrials.gov, PubMed, Europe PMC and news feeds for one
    patient's liver cancer (HCC) watchlist, stores every finding once in SQLite, and mails a
    weekly digest of what is new and what changed; the few changes that cannot wait go out at
    once as alerts (HCCWATCH_ALERT_URLS, `hccwatch alerts`).

    Settings come from HCCWATCH_* environment variables or a .env file (see README)."""


@cli.command()
@click.option("--source", "sources", multiple=True, type=click.Choice(POLL_SOURCES),
              help="Poll only this source (repeatable). Default: every source.")
@click.option("--topic", "topics", multiple=True, metavar="T",
              help="Poll only this watchlist topic id (repeatable). Default: every topic.")
@pass_app
@fail_cleanly
def poll(app: App, sources: tuple[str, ...], topics: tuple[str, ...]) -> None:
    """Poll the sources once and store what is new or changed.

    Then the changes that cannot wait (the watchlist's [alerts] kinds) are sent as immediate
    alerts to HCCWATCH_ALERT_URLS, outside the quiet hours; an alert that fails waits for the
    next poll and never fails this one (see `hccwatch alerts`).

    Exits 1 if any source failed (everything else is still stored)."""
    report = do_poll(app, sources=sources, topics=topics)
    sys.exit(0 if report.ok else 1)


@cli.command()
@click.option("--topic", metavar="T", help="Only findings tagged with this topic id.")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind of finding.")
@click.option("--source", type=click.Choice(FILTER_SOURCES), help="Only findings from this source.")
@click.option("--since", metavar="DATE", help="Only findings first seen on or after DATE (2026-11-01).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many findings.")
@click.option("--sort", type=click.Choice(SORTS), default="date", show_default=True,
              help="Newest first, or most relevant to the patient first.")
@click.option("--eligible", is_flag=True,
              help="Only trials the patient may fit or whose eligibility is unclear (questions to ask).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "atom"]), default="table",
              show_default=True, help="Output format.")
@pass_app
@fail_cleanly
def findings(app: App, topic: str | None, kind: str | None, source: str | None, since: str | None,
             limit: int | None, sort: str, eligible: bool, fmt: str) -> None:
    """List stored findings, newest first.

    With --sort relevance, the most relevant to the patient first; every finding says why."""
    from store.queries import describe, list_findings

    since_at = parse_since(since)
    watchlist = app.watchlist  # missing or broken: exit 2 naming it, as every command does
    if topic:
        watchlist.topic(topic)
    with session_scope(app.engine) as session:
        rows = list_findings(session, topic=topic, kind=kind, since=since_at, source=source,
                             limit=limit, sort=sort, eligible=eligible)
        data = describe(session, rows)
    click.echo(render_findings(data, fmt, app), nl=fmt != "atom")


def render_findings(data: list[dict[str, Any]], fmt: str, app: App) -> str:
    if fmt == "json":
        return json_text(data)
    if fmt == "csv":
        return findings_csv(data)
    if fmt == "atom":
        from web.atom import atom_feed

        return atom_feed(data, title="hccwatch: all findings", feed_id="urn:hccwatch:all")
    return printable(findings_table(data))


def findings_csv(data: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    columns = ["key", "kind", "title", "url", "status", "evidence", "published", "updated",
               "first_seen", "sources", "topics", "relevance", "why", "eligibility"]
    writer = csv.writer(out)
    writer.writerow(columns)
    for item in data:
        writer.writerow([csv_cell(";".join(v) if isinstance(v := item.get(c), list) else ("" if v is None else v))
                         for c in columns])
    return out.getvalue().rstrip("\n")


@cli.command()
@click.argument("key")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@pass_app
@fail_cleanly
def show(app: App, key: str, fmt: str) -> None:
    """Show one finding: fields, topics, locations, linked findings and change history.

    KEY is NCT01234567, pmid:..., doi:..., pmcid:... or url:..."""
    from store.queries import get_finding
    from store.queries import show as show_data

    timezone = app.watchlist.timezone  # missing or broken: exit 2, as every command does
    try:
        with session_scope(app.engine) as session:
            finding = get_finding(session, key)
            data = show_data(session, finding) if finding else None
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="KEY") from None
    if data is None:
        click.echo(f"hccwatch: no finding {key!r} is stored", err=True)
        sys.exit(1)
    if fmt == "json":
        click.echo(json_text(data))
    else:
        from hccwatch.showtext import finding_text

        click.echo(printable(finding_text(data, timezone)))


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format.")
@pass_app
@fail_cleanly
def status(app: App, fmt: str) -> None:
    """Per-source health: last success, last error, counts, the last poll, and when
    `hccwatch serve` polls and mails next (in the watchlist's timezone); per alert destination
    (masked) the alerts pending, sent and failed, and the last error."""
    from hccwatch.showtext import health_text
    from store.db import utcnow
    from store.health import health

    schedule = app.watchlist.next_runs(utcnow())  # a broken watchlist is a health problem too (exit 2)
    with session_scope(app.engine, write=False) as session:
        data = health(session)
    if fmt == "json":
        click.echo(json_text({**data, "next_poll": schedule["next_poll"],
                              "next_digest": schedule["next_digest"]}))
        return
    click.echo(printable(health_text(data, app.watchlist.timezone)) + f"\nwhile `hccwatch serve` runs: {schedule['text']}")


@cli.command()
@click.option("--keep", is_flag=True, help="Keep the demo database from an earlier demo run.")
@pass_app
@fail_cleanly
def demo(app: App, keep: bool) -> None:
    """Run the whole cycle offline on the bundled recordings (no network needed).

    Starts a local replay server, polls it twice (a week apart, so changes show), and prints
    what was found. The demo database is separate from your real one."""
    from hccwatch.demo import run_demo

    sys.exit(run_demo(keep=keep))


def main() -> None:
    cli(prog_name="hccwatch")


if __name__ == "__main__":
    main()
