"""Send a rendered digest (SMTP with STARTTLS or SSL and login, or an .eml file in the outbox
when no SMTP host is set) and keep the ledger that makes sending exactly-once per (period,
recipient): a Digest is marked sent only after the server accepted the message."""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr
from sqlmodel import Session, delete, insert, select

from digests.model import WeeklyDigest
from digests.render import Rendered
from store.db import utcnow
from store.models import Digest, DigestEntry
from store.private import private_dir, write_private


class MailSettings(Protocol):
    """The settings sending reads (hccwatch.settings.Settings has them all)."""

    mail_from: str
    mail_to: tuple[str, ...]
    smtp_host: str | None
    smtp_port: int
    smtp_user: str | None
    smtp_password: SecretStr | None
    smtp_starttls: bool
    smtp_ssl: bool
    outbox: str
    http_timeout: float


class SendError(Exception):
    """The message was not accepted (refused, connection lost, outbox not writable)."""


@dataclass(frozen=True)
class Letter:
    """What one Digest row holds to be sent: the archived content and its Message-ID."""

    digest_id: int
    recipient: str
    message_id: str
    rendered: Rendered


def compose(rendered: Rendered, *, sender: str, recipient: str, message_id: str,
            date: datetime) -> EmailMessage:
    """A multipart/alternative message (text first, HTML preferred), UTF-8 throughout."""
    message = EmailMessage(policy=SMTP)
    set_subject(message, rendered.subject)
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message.set_content(rendered.text, charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return message


def set_subject(message: EmailMessage, subject: str) -> None:
    """The subject (always half Chinese) encoded here, whole: the policy's own folding splits it
    into encoded words and drops the space between two of them ("news · 试验更新 3" arrived as
    "news  ·试验更新 3")."""
    message.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n"))


def new_message_id(sender: str) -> str:
    return make_msgid(idstring="hccwatch", domain=sender.rpartition("@")[2] or "localhost")


def deliver(message: EmailMessage, settings: MailSettings, *, name: str) -> str:
    """Hand the message over; returns where it went. Raises SendError if it was not accepted."""
    if settings.smtp_host:
        return _smtp(message, settings)
    return str(_outbox(message, Path(settings.outbox).expanduser(), name))


def _smtp(message: EmailMessage, settings: MailSettings) -> str:
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        with smtp_session(settings) as smtp:
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as error:
        raise SendError(f"SMTP {where}: {smtp_reason(error)}") from None
    return f"SMTP {where}"


@contextmanager
def smtp_session(settings: MailSettings, steps: list[str] | None = None) -> Iterator[smtplib.SMTP]:
    """A connection to the mail server, encrypted and logged in as the settings say. `steps`
    collects what succeeded ("connected", "encrypted", "logged in"), so a caller can say
    which step an error stopped at."""
    done = steps if steps is not None else []
    with _connect(settings) as smtp:
        done.append("connected")
        if settings.smtp_starttls and not settings.smtp_ssl:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_ssl or settings.smtp_starttls:
            done.append("encrypted")
        if settings.smtp_user:
            password = settings.smtp_password
            smtp.login(settings.smtp_user, password.get_secret_value() if password else "")
            done.append("logged in")
        yield smtp


def _connect(settings: MailSettings) -> smtplib.SMTP:
    if settings.smtp_ssl:
        return smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port,
                                timeout=settings.http_timeout,
                                context=ssl.create_default_context())
    return smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.http_timeout)


def smtp_reason(error: Exception) -> str:
    """Why the server (or the network) refused, in one line."""
    code = getattr(error, "smtp_code", None)
    detail = getattr(error, "smtp_error", None)
    if code and detail:
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        return f"{code} {text}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{who}: {code} {msg.decode(errors='replace')}"
                         for who, (code, msg) in error.recipients.items())
    return str(error) or type(error).__name__


def _outbox(message: EmailMessage, folder: Path, name: str) -> Path:
    """Write the .eml atomically: a reader never sees half a message."""
    path = folder / f"{name}_{utcnow().strftime('%Y%m%dT%H%M%SZ')}.eml"
    partial = path.with_suffix(".eml.part")
    try:
        private_dir(folder)
        write_private(partial, message.as_bytes())
        partial.replace(path)
    except OSError as error:
        raise SendError(f"HCCWATCH_OUTBOX: cannot write {path}: {error.strerror}") from None
    return path


def file_name(period: str, recipient: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._-]+", "_", f"{period}_{recipient}")


def ledger_row(session: Session, *, period: str, recipient: str) -> Digest | None:
    return session.exec(select(Digest).where(Digest.period == period,
                                             Digest.recipient == recipient)).first()


def record_pending(session: Session, digest: WeeklyDigest, rendered: Rendered, *,
                   sender: str) -> Letter:
    """Archive the content and the entries it carries, not yet marked sent. A retry of an
    unsent period replaces them and keeps the Message-ID (a server that did accept a message
    we never heard back about then lets the mail client drop the duplicate)."""
    row = ledger_row(session, period=digest.period.label, recipient=digest.recipient)
    if row is None:
        row = Digest(period=digest.period.label, recipient=digest.recipient, subject="",
                     html="", text="", message_id=new_message_id(sender), created_at=utcnow())
    row.subject, row.html, row.text = rendered.subject, rendered.html, rendered.text
    row.counts, row.status, row.error = digest.counts, "pending", None
    session.add(row)
    session.flush()
    session.exec(delete(DigestEntry).where(DigestEntry.digest_id == row.id))
    rows = entries_of(digest, row.id)
    if rows:  # one executemany: a first digest after a backfill carries thousands
        session.execute(insert(DigestEntry), rows)
    return letter_of(row)


def entries_of(digest: WeeklyDigest, digest_id: int) -> list[dict[str, Any]]:
    """DigestEntry rows for everything the digest carries, shown or counted: the findings it
    announced as new (or counted as already known) and the changes it reported."""
    rows = []
    for item in digest.carried:
        entry = {"digest_id": digest_id, "section": item.section}
        if item.new:
            rows.append({**entry, "finding_id": item.finding_id, "change_id": None})
        rows += [{**entry, "finding_id": None, "change_id": change_id} for change_id in item.change_ids]
    return rows


def letter_of(row: Digest, *, message_id: str | None = None) -> Letter:
    return Letter(digest_id=row.id, recipient=row.recipient,
                  message_id=message_id or row.message_id,
                  rendered=Rendered(subject=row.subject, html=row.html, text=row.text))


def mark_sent(session: Session, letter: Letter) -> datetime:
    row = session.get(Digest, letter.digest_id)
    row.status, row.sent_at, row.error = "sent", utcnow(), None
    row.message_id = letter.message_id
    session.add(row)
    return row.sent_at


def mark_failed(session: Session, letter: Letter, error: str) -> None:
    """Keep the period retryable; a digest sent earlier (and now resent) stays sent."""
    row = session.get(Digest, letter.digest_id)
    if row.status != "sent":
        row.status = "failed"
    row.error = error[:1000]
    session.add(row)
