"""`hccwatch digest`: build, render and send this period's digest to every recipient, exactly
once (the ledger in digests/send.py); `--dry-run` writes the files and stops before sending.
`make_digest` is what `hccwatch run` and the digest flow call."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import click

from digests.build import Period, PeriodError, WeeklyDigest, build_digest, default_period
from digests.render import Rendered, digest_json, render_digest
from digests.send import (
    Letter,
    SendError,
    compose,
    deliver,
    file_name,
    ledger_row,
    letter_of,
    mark_failed,
    mark_sent,
    new_message_id,
    record_pending,
)
from hccwatch.cli import App, fail_cleanly, pass_app
from hccwatch.settings import ConfigError, Settings
from store.db import session_scope, utcnow
from store.private import private_dir, write_private


@dataclass(frozen=True)
class Outcome:
    recipient: str
    status: str  # "sent" | "already_sent" | "failed" | "dry_run" | "test"
    message: str
    subject: str = ""  # of a dry run's digest


@dataclass
class DigestReport:
    period: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.status != "failed" for o in self.outcomes)


def resolve_period(app: App, text: str | None, now: datetime) -> Period:
    """The named ISO week, or by default the last complete one (this week on a fresh install);
    a week that has not begun is refused."""
    timezone = app.watchlist.timezone
    if not text:
        with session_scope(app.engine, write=False) as session:
            return default_period(session, timezone, now)
    period = Period.parse(text, timezone)
    if period.start > now:
        raise PeriodError(f"{period.label} has not started yet")
    return period


def recipients(settings: Settings) -> tuple[str, ...]:
    """HCCWATCH_MAIL_TO; with no SMTP host the outbox copy may go to the sender itself."""
    if settings.mail_to:
        return settings.mail_to
    if settings.smtp_host:
        raise ConfigError("HCCWATCH_MAIL_TO: no recipient set (comma-separated e-mail addresses)")
    return (settings.mail_from,)


def make_digest(app: App, period: str | None = None, *, dry_run: bool = False,
                out: Path | None = None, force: bool = False,
                now: datetime | None = None) -> DigestReport:
    """Make the period's digest for every recipient: send it once, or with `dry_run` only
    write digest.html/.txt/.eml to `out`. Raises PeriodError or ConfigError on bad input."""
    chosen = resolve_period(app, period, now or utcnow())
    report = DigestReport(chosen.label)
    if dry_run:
        report.outcomes.append(preview(app, chosen, recipients(app.settings)[0], out or Path(".")))
        return report
    for recipient in recipients(app.settings):
        report.outcomes.append(send_to(app, chosen, recipient, force=force, out=out))
    return report


def render_for(app: App, period: Period, recipient: str) -> tuple[WeeklyDigest, Rendered]:
    with session_scope(app.engine, write=False) as session:
        digest = build_digest(session, watchlist=app.watchlist, period=period, recipient=recipient)
    return digest, render_digest(digest)


def preview(app: App, period: Period, recipient: str, out: Path) -> Outcome:
    digest, rendered = render_for(app, period, recipient)
    letter = Letter(0, recipient, new_message_id(app.settings.mail_from), rendered)
    summary = json.dumps(digest_json(digest, rendered.subject), ensure_ascii=False, indent=2)
    paths = write_files(letter, app.settings, out, {"digest.json": summary.encode()})
    return Outcome(recipient, "dry_run",
                   f"dry run: wrote {', '.join(str(p) for p in paths)} (nothing sent or marked)",
                   rendered.subject)


def send_test(app: App, period: str | None, address: str, *, now: datetime | None = None) -> Outcome:
    """This period's digest as the first recipient will get it, marked [test] and sent once
    to `address` only; the ledger is not touched (the real send still happens as planned)."""
    if "@" not in address:
        raise ConfigError(f"--test-to: not an e-mail address: {address!r}")
    chosen = resolve_period(app, period, now or utcnow())
    _, rendered = render_for(app, chosen, app.settings.mail_to[0] if app.settings.mail_to else address)
    rendered = replace(rendered, subject=f"[test] {rendered.subject}")
    message = compose(rendered, sender=app.settings.mail_from, recipient=address,
                      message_id=new_message_id(app.settings.mail_from), date=utcnow())
    try:
        where = deliver(message, app.settings, name="test_" + file_name(chosen.label, address))
    except SendError as error:
        return Outcome(address, "failed", f"test mail of {chosen.label} to {address} failed: {error}")
    return Outcome(address, "test", f"test mail of {chosen.label} sent to {address} via {where}: "
                   f"{rendered.subject} (nothing marked sent)")


def write_files(letter: Letter, settings: Settings, out: Path,
                extra: dict[str, bytes] | None = None) -> list[Path]:
    message = compose(letter.rendered, sender=settings.mail_from, recipient=letter.recipient,
                      message_id=letter.message_id, date=utcnow())
    files = {"digest.html": letter.rendered.html.encode(), "digest.txt": letter.rendered.text.encode(),
             "digest.eml": message.as_bytes(), **(extra or {})}
    try:
        private_dir(out)
        for name, data in files.items():
            write_private(out / name, data)
    except OSError as error:
        raise ConfigError(f"--out: cannot write to {out}: {error.strerror}") from None
    return [out / name for name in files]


def send_to(app: App, period: Period, recipient: str, *, force: bool,
            out: Path | None) -> Outcome:
    """Send once: a sent period is skipped (or, with `force`, its archived content resent)."""
    with session_scope(app.engine, write=False) as session:
        row = ledger_row(session, period=period.label, recipient=recipient)
    if row is not None and row.status == "sent" and not force:
        sent = period.local(row.sent_at).strftime("%Y-%m-%d %H:%M")
        return Outcome(recipient, "already_sent",
                       f"{period.label} was already sent to {recipient} on {sent}; nothing sent "
                       f"(use --force to send it again)")
    if row is not None and row.status == "sent":
        letter = letter_of(row, message_id=new_message_id(app.settings.mail_from))
    else:
        letter = prepare(app, period, recipient)
    if out is not None:
        write_files(letter, app.settings, out)
    return transmit(app, period, letter)


def prepare(app: App, period: Period, recipient: str) -> Letter:
    digest, rendered = render_for(app, period, recipient)
    with session_scope(app.engine) as session:
        return record_pending(session, digest, rendered, sender=app.settings.mail_from)


def transmit(app: App, period: Period, letter: Letter) -> Outcome:
    message = compose(letter.rendered, sender=app.settings.mail_from, recipient=letter.recipient,
                      message_id=letter.message_id, date=utcnow())
    try:
        where = deliver(message, app.settings, name=file_name(period.label, letter.recipient))
    except SendError as error:
        with session_scope(app.engine) as session:
            mark_failed(session, letter, str(error))
        return Outcome(letter.recipient, "failed",
                       f"sending {period.label} to {letter.recipient} failed: {error}; "
                       f"nothing marked sent, run again to retry")
    with session_scope(app.engine) as session:
        mark_sent(session, letter)
    return Outcome(letter.recipient, "sent",
                   f"sent {period.label} to {letter.recipient} via {where}: {letter.rendered.subject}")


@click.command()
@click.option("--period", metavar="YYYY-Www",
              help="ISO week in the watchlist's timezone, e.g. 2026-W47. Default: the last complete week "
              "(on a fresh install: this week).")
@click.option("--dry-run", is_flag=True, help="Write digest.html, digest.txt, digest.eml and digest.json "
              "(what the e-mail shows, machine-readable) to --out; "
              "send nothing and mark nothing.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Folder for the digest files (dry run: default the current folder).")
@click.option("--force", is_flag=True, help="Send again a period that was already sent (same content).")
@click.option("--test-to", metavar="ADDRESS",
              help="Mail this period's digest, marked [test], to ADDRESS only; nothing is marked "
                   "sent, so the family still gets it as planned.")
@pass_app
def digest(app: App, period: str | None, dry_run: bool, out: Path | None,
           force: bool, test_to: str | None) -> None:
    """Make the weekly digest of what is new and what changed, and mail it once.

    Sends to HCCWATCH_MAIL_TO over SMTP (HCCWATCH_SMTP_*), or writes an .eml into
    HCCWATCH_OUTBOX when no SMTP host is set. A period already sent is not sent again.
    Exits 1 if sending failed (nothing is marked sent; run again to retry)."""
    try:
        if test_to and (dry_run or force or out):
            raise click.UsageError("--test-to sends one test mail; it takes only --period")
        if test_to:
            report = DigestReport(period or "", [fail_cleanly(send_test)(app, period, test_to)])
        else:
            report = fail_cleanly(make_digest)(app, period, dry_run=dry_run, out=out, force=force)
    except PeriodError as error:
        raise click.BadParameter(str(error), param_hint="--period") from None
    echo_report(report)
    sys.exit(0 if report.ok else 1)


def echo_report(report: DigestReport) -> None:
    """One line per recipient: sent, already sent, failed (on stderr) or the dry run's files."""
    for outcome in report.outcomes:
        click.echo(outcome.message, err=outcome.status == "failed")
