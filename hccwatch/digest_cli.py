"""`hccwatch digest`: this period's digest to every recipient, exactly once, through
digests.deliver; `--dry-run` writes the files and stops before sending."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from digests.deliver import DigestReport, make_digest, send_test
from digests.period import PeriodError
from hccwatch.app import App
from hccwatch.commands import fail_cleanly, pass_app


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
            report = DigestReport(period or "", [fail_cleanly(lambda: send_test(
                app.post(), period, test_to))()])
        else:
            report = fail_cleanly(lambda: make_digest(app.post(), period, dry_run=dry_run,
                                                      out=out, force=force))()
    except PeriodError as error:
        raise click.BadParameter(str(error), param_hint="--period") from None
    echo_report(report)
    sys.exit(0 if report.ok else 1)


def echo_report(report: DigestReport) -> None:
    """One line per recipient: sent, already sent, failed (on stderr) or the dry run's files."""
    for outcome in report.outcomes:
        click.echo(outcome.message, err=outcome.status == "failed")
