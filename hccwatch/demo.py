"""`hccwatch demo`: the whole cycle offline. A replay server serves the bundled recordings
(ClinicalTrials.gov, PubMed, Europe PMC, news feeds; plus constructed HCC sample trials and
news), hccwatch polls it twice, a "week" apart, shows what it found and what changed, and
writes this week's digest, all in a demo database separate from the real one."""

from __future__ import annotations

import dataclasses
import shlex
from datetime import UTC, datetime
from pathlib import Path

import click

from hccwatch.app import App
from hccwatch.commands import do_poll, hccwatch_command
from hccwatch.settings import data_dir, load_settings
from hccwatch.watchlist import Feed, load_watchlist
from replay.demo import add_feed_routes, add_literature_routes, ctgov_studies
from replay.server import CtgovHandler, ReplayServer
from store.db import session_scope

FEED_KINDS = {"demo-regulator": "regulator"}


def reset(db: Path) -> None:
    """Remove the demo's database (with its WAL files) from an earlier run."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def demo_app(server: ReplayServer, db: Path, feeds: list[tuple[str, str, str]]) -> App:
    """The user's settings pointed at the replay server, with the bundled watchlist's feeds
    replaced by the demo's (no mail server, no alert destinations: the demo never sends anything)."""
    base = load_settings()
    settings = base.replaced(
        db=str(db), ctgov_url=f"{server.url}/ctgov", eutils_url=f"{server.url}/eutils",
        europepmc_url=f"{server.url}/europepmc", smtp_host=None, alert_urls=None, outbox=str(db.parent / "demo-outbox"),
        mail_from="hccwatch-demo@example.org", mail_to=("family@example.org",),
        ctgov_rate=20.0, ncbi_rate=3.0, feed_rate=20.0, retry_base=0.2)
    watchlist = dataclasses.replace(
        load_watchlist(settings.watchlist),
        feeds=tuple(Feed(name, url, lang, FEED_KINDS.get(name)) for name, url, lang in feeds))
    return App(settings, watchlist)


def heading(text: str) -> None:
    click.echo(f"\n== {text}")


def run_demo(*, keep: bool = False, db: Path | None = None) -> int:
    db = db or data_dir() / "demo.sqlite3"
    if not keep:
        reset(db)
    today = datetime.now(UTC).date()
    handler = CtgovHandler(ctgov_studies("week1", today=today))
    with ReplayServer() as server:
        server.route("/ctgov", handler)
        add_literature_routes(server, today=today)
        app = demo_app(server, db, add_feed_routes(server))
        click.echo("hccwatch demo: offline, on recorded responses plus constructed sample trials "
                   "and news (NCT99000001-3 are not real studies)")
        click.echo(f"replay server {server.url}; demo database {db}")
        heading("Week 1: first poll of every source")
        first = do_poll(app, quiet=True)
        handler.studies = ctgov_studies("week2", today=today)
        heading("Week 2: the registry changed; polling again")
        second = do_poll(app, quiet=True)
        show_results(app)
        digest_ok = write_digest(app, db.parent / "demo-digest")
    command = hccwatch_command()
    click.echo(f"\nBrowse it: HCCWATCH_DB={shlex.quote(str(db))} {command} web\n"
               f"  then open http://127.0.0.1:8765/ (or, with the same HCCWATCH_DB: "
               f"`{command} findings`, `{command} show NCT99000001`)")
    return 0 if first.ok and second.ok and digest_ok else 1


def show_results(app: App) -> None:
    from hccwatch.commands import findings_table
    from hccwatch.showtext import change_line
    from store.queries import describe, list_findings, show
    from store.vocab import code_text, site_contacts

    with session_scope(app.engine, write=False) as session:
        rows = list_findings(session)
        heading(f"Stored findings ({len(rows)})")
        click.echo(findings_table(describe(session, rows)))
        heading("What changed in week 2")
        for finding in rows:
            for change in show(session, finding)["changes"]:
                click.echo(f"{finding.key}: {change_line(change)}")
        heading("Trial sites in watched places")
        for finding in rows:
            for site in finding.watched_sites:
                contact = "; ".join(site_contacts(site))
                click.echo(f"{finding.key}: {site['place']} — {site['facility']} ({code_text(site['status'])})"
                           + (f"; contact {contact}" if contact else ""))


def write_digest(app: App, out: Path) -> bool:
    """This week's digest, into the demo's outbox and its ledger (the demo has no mail server:
    nothing is mailed), with its files in `out`; so the demo's /digests page shows it."""
    from digests.deliver import make_digest
    from digests.period import Period

    this_week = Period.containing(datetime.now(UTC), app.watchlist.timezone).label
    report = make_digest(app.post(), this_week, out=out)
    heading(f"This week's digest ({report.period}; into the demo outbox, not mailed)")
    for outcome in report.outcomes:
        click.echo(outcome.message)
        if outcome.subject:
            click.echo(f"subject: {outcome.subject}")
    return report.ok
