"""SQLModel tables: what hccwatch knows (Finding and its identifiers, topics, links, changes)
and how it got it (SourceState cursors, PollRun history, the Digest and Alert ledgers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def json_column() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Finding(SQLModel, table=True):
    """One real-world thing: a trial, an article, a preprint or a news item."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)
    kind: str = Field(index=True)
    title: str
    title_alt: str | None = None
    summary: str = ""
    url: str | None = None
    published: str | None = None
    updated: str | None = None
    first_seen_at: datetime = Field(index=True)
    last_seen_at: datetime
    content_hash: str = ""
    evidence: str | None = None
    status: str | None = None
    phases: list[str] = json_column()
    locations: list[dict[str, Any]] = json_column()
    watched_sites: list[dict[str, Any]] = json_column()
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    lang: str | None = None
    placeholder: bool = False
    story_key: str | None = Field(default=None, index=True)
    # Found by the first poll of a (source, query): already known when watching began, so the
    # digest announces it as new only if its own date is recent (see assess.relevance.own_date).
    baseline: bool = False
    # Judgements (pipeline/judge.py): relevance to this patient and its reasons ({"en", "zh"}),
    # and for trials the eligibility pre-screen (Eligibility.to_json()) and its verdict.
    relevance: float | None = Field(default=None, index=True)
    why: list[dict[str, str]] = Field(default_factory=list,  # '[]' also for rows written in SQL
                                      sa_column=Column(JSON, nullable=False, server_default="[]"))
    eligibility: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    eligibility_verdict: str | None = Field(default=None, index=True)


class Identifier(SQLModel, table=True):
    """Every identifier naming a Finding; two sources naming one (scheme, value) share it."""

    __table_args__ = (UniqueConstraint("scheme", "value"),)
    id: int | None = Field(default=None, primary_key=True)
    scheme: str
    value: str
    finding_id: int = Field(foreign_key="finding.id", index=True, ondelete="CASCADE")


class FindingSource(SQLModel, table=True):
    """Which sources have reported a Finding."""

    __table_args__ = (UniqueConstraint("finding_id", "source"),)
    id: int | None = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True, ondelete="CASCADE")
    source: str
    first_seen_at: datetime
    content_hash: str = ""


ADHOC_TOPIC_PREFIX = "adhoc-"  # the topic of an ad-hoc search; its matches have via "adhoc"


class TopicMatch(SQLModel, table=True):
    """A Finding concerns a watchlist topic; `terms` are what matched (or the query)."""

    __table_args__ = (UniqueConstraint("finding_id", "topic"),)
    id: int | None = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True, ondelete="CASCADE")
    topic: str = Field(index=True)
    terms: list[str] = json_column()
    via: str = "query"


class Link(SQLModel, table=True):
    """Finding -> Finding, e.g. an article naming an NCT number -> that trial."""

    __table_args__ = (UniqueConstraint("src_id", "dst_id", "relation"),)
    id: int | None = Field(default=None, primary_key=True)
    src_id: int = Field(foreign_key="finding.id", index=True, ondelete="CASCADE")
    dst_id: int = Field(foreign_key="finding.id", index=True, ondelete="CASCADE")
    relation: str = "mentions"


class Change(SQLModel, table=True):
    """A field of a Finding that changed between polls."""

    __table_args__ = (Index("ix_change_seen", "seen_at"),)
    id: int | None = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True, ondelete="CASCADE")
    field: str
    old: str | None = None
    new: str | None = None
    seen_at: datetime
    significance: str = "minor"
    source: str | None = None


class JudgementState(SQLModel, table=True):
    """What the stored judgements were made from: a hash of the watchlist's judgement inputs
    (topics and weights, patient, places, and the judges' version) and when all were made."""

    name: str = Field(primary_key=True)
    inputs_hash: str
    judged_at: datetime


class SourceState(SQLModel, table=True):
    """Per (source, query): the cursor and the health of the last attempts."""

    source: str = Field(primary_key=True)
    query: str = Field(primary_key=True)
    cursor: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    last_count: int = 0


class SourceWarning(SQLModel, table=True):
    """What an upstream said about a (source, query) that is not a failure but changes what was
    searched (PubMed ignoring a term it does not know); replaced by each successful poll."""

    __table_args__ = (UniqueConstraint("source", "query", "message"),)
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(index=True)
    query: str
    message: str
    seen_at: datetime


class PollRun(SQLModel, table=True):
    """One poll: when it ran and, per source, what it fetched, added, changed and failed."""

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime
    finished_at: datetime | None = None
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    errors: list[str] = json_column()
    ok: bool | None = None


class Digest(SQLModel, table=True):
    """One weekly digest to one recipient: its rendered content (the archive) and whether the
    mail server accepted it. `status` is "pending", "failed" or "sent"."""

    __table_args__ = (UniqueConstraint("period", "recipient"),)
    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(index=True)
    recipient: str
    subject: str
    html: str
    text: str
    message_id: str
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime
    sent_at: datetime | None = None
    status: str = "pending"
    error: str | None = None


class DigestEntry(SQLModel, table=True):
    """A Finding (announced as new) or a Change (announced as an update) a Digest carries."""

    id: int | None = Field(default=None, primary_key=True)
    digest_id: int = Field(foreign_key="digest.id", index=True, ondelete="CASCADE")
    section: str
    finding_id: int | None = Field(default=None, foreign_key="finding.id", index=True,
                                   ondelete="CASCADE")
    change_id: int | None = Field(default=None, foreign_key="change.id", index=True,
                                  ondelete="CASCADE")


class Alert(SQLModel, table=True):
    """One immediate alert: the changes of one trial or paper that cannot wait for the digest
    (alerts/), found after one poll, with its short text in English and Chinese."""

    id: int | None = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True, ondelete="CASCADE")
    kinds: list[str] = json_column()
    title: str
    body: str
    created_at: datetime = Field(index=True)


class AlertChange(SQLModel, table=True):
    """A Change an Alert names: each change is alerted once (its id is the key)."""

    change_id: int = Field(primary_key=True, foreign_key="change.id", ondelete="CASCADE")
    alert_id: int = Field(foreign_key="alert.id", index=True, ondelete="CASCADE")


class AlertDelivery(SQLModel, table=True):
    """The alert ledger: one Alert to one destination (an Apprise URL, kept only as a hash of
    it and a label with its secrets masked, never the URL). `status` is "pending" (not sent
    yet; `attempts` and `last_error` say how sending went), "sending" (handed to the
    destination, not yet marked), "sent", or "failed" (given up: not sent within a week)."""

    __table_args__ = (UniqueConstraint("alert_id", "destination"),)
    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True, ondelete="CASCADE")
    destination: str = Field(index=True)
    label: str
    status: str = Field(default="pending", index=True)
    attempts: int = 0
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    sent_at: datetime | None = None
