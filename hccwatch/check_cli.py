"""`hccwatch check`: read the settings and the watchlist and say in plain words what is
configured and what is missing, log in to the mail server without sending anything, and read
every alert destination (HCCWATCH_ALERT_URLS) as Apprise will, shown only masked. Exit 0 when
everything needed works, 2 when a setting is broken (each problem names its setting)."""

from __future__ import annotations

import smtplib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

from digests.send import smtp_reason, smtp_session
from hccwatch.settings import ConfigError, Settings, load_settings
from hccwatch.terminal import printable
from hccwatch.watchlist import Watchlist, load_watchlist


@dataclass
class Report:
    """What the check says: lines to show, and problems (each naming its setting)."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def describe_watchlist(path: str, found: Report) -> Watchlist | None:
    try:
        watchlist = load_watchlist(path)
    except ConfigError as error:
        found.problems.append(str(error))
        return None
    places = ", ".join(p.name for p in watchlist.places) or "none"
    found.lines.append(f"Watchlist: {path}: {len(watchlist.topics)} topics; places: {places}")
    known, unknown = watchlist.patient.facts()
    found.lines.append(f"Patient (for the eligibility pre-screen): known: {', '.join(known) or 'nothing'}; "
                       f"unknown, asked of the doctor: {', '.join(unknown) or 'nothing'}")
    found.lines.append(f"Digest: every {watchlist.digest_weekday.capitalize()} at "
                       f"{watchlist.digest_hour:02d}:00 {watchlist.timezone} (the computer must be "
                       f"on and `hccwatch serve` running then)")
    return watchlist


def describe_ncbi(settings: Settings, found: Report) -> None:
    contact = settings.ncbi_email or "not set"
    key = "set (10 requests a second)" if settings.ncbi_api_key else "not set (3 requests a second)"
    found.lines.append(f"NCBI contact (NCBI_EMAIL): {contact}; NCBI_API_KEY: {key}")
    if not settings.ncbi_email:
        found.notes.append("NCBI_EMAIL: not set; NCBI asks every program for a contact address")


def describe_mail(settings: Settings, found: Report) -> None:
    if not settings.smtp_host:
        found.lines.append(f"Mail: no HCCWATCH_SMTP_HOST, so digests are written as .eml files "
                           f"into {settings.outbox} (nothing is mailed)")
        return
    mode = "SSL" if settings.smtp_ssl else "STARTTLS" if settings.smtp_starttls else "no encryption"
    login = (f"log in as {settings.smtp_user} (password {'set' if settings.smtp_password else 'NOT set'})"
             if settings.smtp_user else "no login")
    found.lines.append(f"Mail server: {settings.smtp_host} port {settings.smtp_port}, {mode}, {login}")
    found.lines.append(f"Sender (HCCWATCH_MAIL_FROM): {settings.mail_from}")
    recipients = ", ".join(settings.mail_to)
    found.lines.append(f"Recipients (HCCWATCH_MAIL_TO): {recipients or 'none'}")
    if not settings.mail_to:
        found.problems.append("HCCWATCH_MAIL_TO: no recipient set (comma-separated e-mail addresses)")
    if settings.smtp_user and not settings.smtp_password:
        found.problems.append("HCCWATCH_SMTP_PASSWORD: not set, but HCCWATCH_SMTP_USER is")
    if settings.mail_from.endswith("@localhost"):
        found.problems.append("HCCWATCH_MAIL_FROM: not set; mail servers refuse a sender "
                              f"{settings.mail_from} (use your own address)")


def try_mail_server(settings: Settings, found: Report) -> None:
    """Connect, encrypt and log in as a digest would; send nothing."""
    steps: list[str] = []
    where = f"{settings.smtp_host} port {settings.smtp_port}"
    try:
        with smtp_session(settings, steps) as smtp:
            smtp.noop()
    except (smtplib.SMTPException, OSError) as error:
        reason = smtp_reason(error)
        if not steps:
            found.problems.append(f"HCCWATCH_SMTP_HOST: cannot reach {where}: {reason} "
                                  f"(check the host, HCCWATCH_SMTP_PORT and HCCWATCH_SMTP_SSL)")
        elif isinstance(error, smtplib.SMTPAuthenticationError):
            found.problems.append(f"HCCWATCH_SMTP_PASSWORD: {where} refused the login of "
                                  f"{settings.smtp_user}: {reason} (many providers want an app password)")
        elif "encrypted" not in steps and settings.smtp_starttls:
            found.problems.append(f"HCCWATCH_SMTP_STARTTLS: {where} answered but STARTTLS failed: "
                                  f"{reason}")
        else:
            found.problems.append(f"HCCWATCH_SMTP_HOST: {where}: {reason}")
        return
    done = "login accepted" if "logged in" in steps else "no login needed"
    found.lines.append(f"Mail server check: {where} reachable, {done}; nothing was sent")


def describe_query_warnings(settings: Settings, found: Report) -> None:
    """What the sources said they ignored of the watchlist's queries on the last poll (read
    from an existing store; none yet: nothing to say)."""
    if not Path(settings.db).is_file():
        return
    from store.db import open_engine, session_scope
    from store.queries import source_warnings

    engine = open_engine(settings.db)
    try:
        with session_scope(engine, write=False) as session:
            warned = source_warnings(session)
    finally:
        engine.dispose()
    for (source, query), warnings in sorted(warned.items()):
        found.notes.extend(f"watchlist topic {query}: {warning} on the last {source} poll; "
                           f"fix the topic's {source} query" for warning in warnings)


def describe_alerts(settings: Settings, watchlist: Watchlist | None, found: Report) -> None:
    """Each alert destination as Apprise reads it (masked), the kinds and the quiet hours; a URL
    Apprise cannot read is a problem naming HCCWATCH_ALERT_URLS (polls still run without it)."""
    if not settings.alert_urls:
        found.lines.append("Alerts (HCCWATCH_ALERT_URLS): not set, so changes that cannot wait "
                           "still come only with the weekly digest")
        return
    from alerts.destinations import destinations

    chosen = destinations(settings.alert_urls)
    usable = [d.label for d in chosen if not d.problem]
    found.lines.append(f"Alerts (HCCWATCH_ALERT_URLS): {len(chosen)} destination(s): "
                       f"{', '.join(usable) or 'none usable'} (nothing sent; `hccwatch alerts "
                       f"--test` sends a test alert)")
    if watchlist is not None:
        found.lines.append(f"Alert kinds: {', '.join(watchlist.alerts.kinds) or 'none'}; quiet hours "
                           f"{watchlist.alerts.quiet_hours} {watchlist.timezone}")
    found.problems.extend(d.problem for d in chosen if d.problem)


def run_check(settings: Settings, *, offline: bool) -> Report:
    found = Report()
    found.lines.append(f"Database (HCCWATCH_DB): {settings.db}")
    watchlist = describe_watchlist(settings.watchlist, found)
    describe_ncbi(settings, found)
    describe_query_warnings(settings, found)
    describe_mail(settings, found)
    if settings.smtp_host and not offline:
        try_mail_server(settings, found)
    elif settings.smtp_host:
        found.lines.append("Mail server check: skipped (--offline)")
    describe_alerts(settings, watchlist, found)
    return found


@click.command()
@click.option("--offline", is_flag=True, help="Do not contact the mail server; only read the settings.")
def check(offline: bool) -> None:
    """Check the settings (.env in this folder and the environment) and the watchlist: say
    what is configured and what is missing, log in to the mail server and read every alert
    destination (HCCWATCH_ALERT_URLS, shown masked) without sending anything. Exits 0 when
    all is well, 2 when a setting must be fixed (each problem names its setting)."""
    dotenv = Path.cwd() / ".env"
    click.echo(f"Settings from {'the environment and ' + str(dotenv) if dotenv.is_file() else 'the environment (no .env in this folder)'}")
    try:
        settings = load_settings()
    except ConfigError as error:
        click.echo(printable(f"hccwatch: {error}"), err=True)
        sys.exit(2)
    found = run_check(settings, offline=offline)
    for line in found.lines:
        click.echo(printable("  " + line))
    for note in found.notes:
        click.echo(printable(f"note: {note}"))
    for problem in found.problems:
        click.echo(printable(f"PROBLEM {problem}"), err=True)
    click.echo("Nothing was sent. " + ("All set." if not found.problems else
                                       f"{len(found.problems)} problem(s) to fix (above)."))
    sys.exit(2 if found.problems else 0)
