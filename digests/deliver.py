"""Deliver a period's digest to every recipient exactly once: check the ledger, build, render,
archive as pending, send, then mark sent (or failed, to retry). `--dry-run` writes the files
and stops before sending. The CLI (`hccwatch digest`, `hccwatch run`), the demo and the digest
flow all deliver through here; the composition root hands in a Post."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from digests.build import build_digest
from digests.model import Watched, WeeklyDigest
from digests.period import Period, PeriodError, default_period
from digests.render import Rendered, digest_json, render_digest
from digests.send import (
    Letter,
    MailSettings,
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
from store.db import session_scope, utcnow
from store.errors import ConfigError
from store.private import private_dir, write_private
from store.vocab import minute_text


@dataclass(frozen=True)
class Post:
    """What delivering needs: the store, the mail settings and the watchlist (its topics, what
    judges relevance, its time zone)."""

    engine: Engine
    mail: MailSettings
    watchlist: Watched


@dataclass(frozen=True)
class Outcome:
    recipient: str
    status: str  # "sent" | "already_sent" | "failed" | "dry_run" | "test"
    message: str
    subject: str = ""  # of the digest made (a dry run's or a sent one)


@dataclass
class DigestReport:
    period: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.status != "failed" for o in self.outcomes)


def resolve_period(post: Post, text: str | None, now: datetime) -> Period:
    """The named ISO week, or by default the last complete one (this week on a fresh install);
    a week that has not begun is refused."""
    timezone = post.watchlist.timezone
    if not text:
        with session_scope(post.engine, write=False) as session:
            return default_period(session, timezone, now)
    period = Period.parse(text, timezone)
    if period.start > now:
        raise PeriodError(f"{period.label} has not started yet")
    return period


def recipients(mail: MailSettings) -> tuple[str, ...]:
    """HCCWATCH_MAIL_TO; with no SMTP host the outbox copy may go to the sender itself."""
    if mail.mail_to:
        return tuple(mail.mail_to)
    if mail.smtp_host:
        raise ConfigError("HCCWATCH_MAIL_TO: no recipient set (comma-separated e-mail addresses)")
    return (mail.mail_from,)


def make_digest(post: Post, period: str | None = None, *, dry_run: bool = False,
                out: Path | None = None, force: bool = False,
                now: datetime | None = None) -> DigestReport:
    """Make the period's digest for every recipient: send it once, or with `dry_run` only
    write digest.html/.txt/.eml to `out`. Raises PeriodError or ConfigError on bad input."""
    chosen = resolve_period(post, period, now or utcnow())
    report = DigestReport(chosen.label)
    if dry_run:
        report.outcomes.append(preview(post, chosen, recipients(post.mail)[0], out or Path(".")))
        return report
    for recipient in recipients(post.mail):
        report.outcomes.append(send_to(post, chosen, recipient, force=force, out=out))
    return report


def render_for(post: Post, period: Period, recipient: str) -> tuple[WeeklyDigest, Rendered]:
    with session_scope(post.engine, write=False) as session:
        digest = build_digest(session, watchlist=post.watchlist, period=period, recipient=recipient)
    return digest, render_digest(digest)


def preview(post: Post, period: Period, recipient: str, out: Path) -> Outcome:
    digest, rendered = render_for(post, period, recipient)
    letter = Letter(0, recipient, new_message_id(post.mail.mail_from), rendered)
    summary = json.dumps(digest_json(digest, rendered.subject), ensure_ascii=False, indent=2)
    paths = write_files(letter, post.mail, out, {"digest.json": summary.encode()})
    return Outcome(recipient, "dry_run",
                   f"dry run: wrote {', '.join(str(p) for p in paths)} (nothing sent or marked)",
                   rendered.subject)


def send_test(post: Post, period: str | None, address: str, *,
              now: datetime | None = None) -> Outcome:
    """This period's digest as the first recipient will get it, marked [test] and sent once
    to `address` only; the ledger is not touched (the real send still happens as planned)."""
    if "@" not in address:
        raise ConfigError(f"--test-to: not an e-mail address: {address!r}")
    chosen = resolve_period(post, period, now or utcnow())
    mail = post.mail
    _, rendered = render_for(post, chosen, mail.mail_to[0] if mail.mail_to else address)
    rendered = replace(rendered, subject=f"[test] {rendered.subject}")
    message = compose(rendered, sender=mail.mail_from, recipient=address,
                      message_id=new_message_id(mail.mail_from), date=utcnow())
    try:
        where = deliver(message, mail, name="test_" + file_name(chosen.label, address))
    except SendError as error:
        return Outcome(address, "failed", f"test mail of {chosen.label} to {address} failed: {error}")
    return Outcome(address, "test", f"test mail of {chosen.label} sent to {address} via {where}: "
                   f"{rendered.subject} (nothing marked sent)")


def write_files(letter: Letter, mail: MailSettings, out: Path,
                extra: dict[str, bytes] | None = None) -> list[Path]:
    message = compose(letter.rendered, sender=mail.mail_from, recipient=letter.recipient,
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


def send_to(post: Post, period: Period, recipient: str, *, force: bool = False,
            out: Path | None = None) -> Outcome:
    """Send once: a sent period is skipped (or, with `force`, its archived content resent)."""
    with session_scope(post.engine, write=False) as session:
        row = ledger_row(session, period=period.label, recipient=recipient)
    if row is not None and row.status == "sent" and not force:
        sent = minute_text(period.local(row.sent_at))
        return Outcome(recipient, "already_sent",
                       f"{period.label} was already sent to {recipient} on {sent}; nothing sent "
                       f"(use --force to send it again)")
    if row is not None and row.status == "sent":
        letter = letter_of(row, message_id=new_message_id(post.mail.mail_from))
    else:
        letter = prepare(post, period, recipient)
    if out is not None:
        write_files(letter, post.mail, out)
    return transmit(post, period, letter)


def prepare(post: Post, period: Period, recipient: str) -> Letter:
    digest, rendered = render_for(post, period, recipient)
    with session_scope(post.engine) as session:
        return record_pending(session, digest, rendered, sender=post.mail.mail_from)


def transmit(post: Post, period: Period, letter: Letter) -> Outcome:
    message = compose(letter.rendered, sender=post.mail.mail_from, recipient=letter.recipient,
                      message_id=letter.message_id, date=utcnow())
    try:
        where = deliver(message, post.mail, name=file_name(period.label, letter.recipient))
    except SendError as error:
        with session_scope(post.engine) as session:
            mark_failed(session, letter, str(error))
        return Outcome(letter.recipient, "failed",
                       f"sending {period.label} to {letter.recipient} failed: {error}; "
                       f"nothing marked sent, run again to retry")
    with session_scope(post.engine) as session:
        mark_sent(session, letter)
    return Outcome(letter.recipient, "sent",
                   f"sent {period.label} to {letter.recipient} via {where}: {letter.rendered.subject}",
                   letter.rendered.subject)
