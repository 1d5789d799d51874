"""`hccwatch demo`: the whole cycle offline. A replay server serves the bundled recordings
(plus constructed HCC sample trials), hccwatch polls it twice, a "week" apart, and shows what
it found and what changed, in a demo database separate from the real one."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from hccwatch.cli import App, do_poll
from hccwatch.replay import CtgovHandler, ReplayServer, studies_from_recordings
from hccwatch.settings import data_dir, load_settings
from store.db import session_scope

DEMO_DATA = Path(__file__).with_name("demo_data")


def ctgov_studies(week: str) -> list[dict[str, Any]]:
    files = sorted((DEMO_DATA / "ctgov" / "recorded").glob("*.json"))
    files += sorted((DEMO_DATA / "ctgov" / week).glob("*.json"))
    studies = studies_from_recordings(f.read_bytes() for f in files)
    if week != "week1":
        today = datetime.now(UTC).date().isoformat()
        for study in studies:
            status = study["protocolSection"].get("statusModule", {})
            if study["protocolSection"]["identificationModule"]["nctId"].startswith("NCT99"):
                status.setdefault("lastUpdatePostDateStruct", {})["date"] = today
    return studies


def reset(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def demo_app(server: ReplayServer, db: Path) -> App:
    settings = dataclasses.replace(load_settings(), db=str(db), ctgov_url=f"{server.url}/ctgov",
                                   ctgov_rate=20.0, retry_base=0.2)
    return App(settings)


def heading(text: str) -> None:
    click.echo(f"\n== {text}")


def run_demo(*, keep: bool = False, db: Path | None = None) -> int:
    db = db or data_dir() / "demo.sqlite3"
    if not keep:
        reset(db)
    handler = CtgovHandler(ctgov_studies("week1"))
    with ReplayServer() as server:
        server.route("/ctgov", handler)
        app = demo_app(server, db)
        click.echo("hccwatch demo: offline, on recorded responses and constructed sample trials "
                   "(NCT99000001-3 are not real studies)")
        click.echo(f"replay server {server.url}; demo database {db}")
        heading("Week 1: first poll")
        first = do_poll(app, sources=("ctgov",))
        handler.studies = ctgov_studies("week2")
        heading("Week 2: the sources changed; polling again")
        second = do_poll(app, sources=("ctgov",))
    show_results(app)
    click.echo(f"\nBrowse it: HCCWATCH_DB={db} hccwatch findings   (or `show NCT99000001`)")
    return 0 if first.ok and second.ok else 1


def show_results(app: App) -> None:
    from hccwatch.cli import findings_table
    from store.queries import describe, list_findings, show

    with session_scope(app.engine) as session:
        rows = list_findings(session)
        heading(f"Stored findings ({len(rows)})")
        click.echo(findings_table(describe(session, rows)))
        heading("What changed in week 2")
        for finding in rows:
            for change in show(session, finding)["changes"]:
                click.echo(f"{finding.key}: {change['field']}: {change['old'] or '—'} -> "
                           f"{change['new']} [{change['significance']}]")
        watched = [(f.key, s) for f in rows for s in f.watched_sites]
        heading("Trial sites in watched places")
        for key, site in watched:
            click.echo(f"{key}: {site['place']} — {site['facility']} ({site['status']})"
                       + (f"; contact {json.dumps(site['contacts'][0], ensure_ascii=False)}"
                          if site.get("contacts") else ""))
