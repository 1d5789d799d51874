"""Choose what goes into one recipient's weekly digest: every Finding first seen and every
Change recorded in the period that no earlier digest to that recipient carried. Pure: reads
the store, returns a plain WeeklyDigest model ready to render."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from hccwatch.showtext import status_word
from hccwatch.watchlist import Watchlist
from store.models import Change, Digest, DigestEntry, Finding, PollRun, SourceState
from store.queries import describe, linked

PERIOD_RE = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)
SUMMARY_CHARS = 200
SECTIONS = {"trials": ("Clinical trials", "临床试验"), "papers": ("Papers", "论文"),
            "news": ("News", "新闻")}
SECTION_OF = {"trial": "trials", "article": "papers", "preprint": "papers", "news": "news"}
# Significance -> (badge, badge in Chinese, rank: lower is more important). "minor" changes
# (title edits, sites dropped) are not worth a family's attention and stay out of the digest.
SIGNIFICANCE = {
    "watched_site": ("Site in a watched place", "关注地区的研究中心", 0),
    "recruiting": ("Now recruiting", "现已开始招募", 1),
    "results": ("Results posted", "已公布结果", 2),
    "retraction": ("Retracted", "已撤稿", 0),
    "stopped": ("Stopped", "已停止", 3),
    "completed": ("Completed", "已完成", 5),
    "status": ("Status changed", "状态变更", 6),
    "phase": ("Phase changed", "分期变更", 7),
    "site": ("Sites changed", "研究中心变更", 8),
}
STATUS_ZH = {"RECRUITING": "招募中", "NOT_YET_RECRUITING": "尚未招募", "COMPLETED": "已完成",
             "ACTIVE_NOT_RECRUITING": "进行中，不再招募", "TERMINATED": "已终止",
             "WITHDRAWN": "已撤回", "SUSPENDED": "已暂停", "ENROLLING_BY_INVITATION": "受邀入组"}
EVIDENCE = {
    "retracted": ("已撤稿", 0), "phase 3 rct": ("III期随机对照试验", 1),
    "rct": ("随机对照试验", 2), "meta-analysis": ("荟萃分析", 3),
    "systematic review": ("系统综述", 4), "review": ("综述", 5), "press release": ("新闻稿", 6),
    "case report": ("病例报告", 7), "preprint": ("预印本", 8),
}
FIELD_LABELS = {"phases": "Phases", "sites": "Sites", "sites_removed": "Sites no longer listed",
                "title": "Title"}
NEW_TRIAL = ("New trial", "新试验")
NEW_WATCHED_TRIAL_RANK, NEW_TRIAL_RANK, OTHER_RANK = 0, 4, 6


class PeriodError(ValueError):
    """A period that is not an ISO week like 2026-W47, or one that has not started yet."""


@dataclass(frozen=True)
class Period:
    """An ISO week in the watchlist's timezone."""

    year: int
    week: int
    timezone: str

    @classmethod
    def parse(cls, text: str, timezone: str) -> Period:
        match = PERIOD_RE.match(text.strip())
        if not match:
            raise PeriodError(f"expected an ISO week like 2026-W47, got {text!r}")
        year, week = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise PeriodError(f"{year} has no ISO week {week} (got {text!r})") from None
        return cls(year, week, timezone)

    @classmethod
    def containing(cls, moment: datetime, timezone: str) -> Period:
        year, week, _ = moment.astimezone(ZoneInfo(timezone)).isocalendar()
        return cls(year, week, timezone)

    @classmethod
    def last_complete(cls, timezone: str, now: datetime) -> Period:
        return cls.containing(now - timedelta(days=7), timezone)

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def first_day(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=6)

    @property
    def start(self) -> datetime:
        """Monday 00:00 local time, as UTC."""
        return datetime.combine(self.first_day, time(), ZoneInfo(self.timezone)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 local time, as UTC (exclusive)."""
        next_monday = self.first_day + timedelta(days=7)
        return datetime.combine(next_monday, time(), ZoneInfo(self.timezone)).astimezone(UTC)

    def local(self, moment: datetime) -> datetime:
        return _aware(moment).astimezone(ZoneInfo(self.timezone))


@dataclass(frozen=True)
class TopicLabel:
    id: str
    label: str
    label_zh: str | None = None


@dataclass(frozen=True)
class Badge:
    text: str
    text_zh: str | None = None


@dataclass(frozen=True)
class Mention:
    """A linked finding (an NCT number, the article naming a trial) or one item of a story."""

    label: str
    url: str | None
    title: str = ""


@dataclass(frozen=True)
class Site:
    """A trial site in a watched place, with whom to call."""

    place: str
    place_zh: str | None
    facility: str | None
    city: str | None
    country: str | None
    status: str
    contacts: tuple[str, ...] = ()


@dataclass
class Entry:
    key: str
    section: str
    title: str
    title_alt: str | None
    summary: str
    url: str | None
    date: str
    topics: list[TopicLabel]
    badges: list[Badge]
    rank: int
    status: str | None = None
    changes: list[str] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    items: list[Mention] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    finding_ids: list[int] = field(default_factory=list)
    change_ids: list[int] = field(default_factory=list)
    story_key: str | None = None


@dataclass
class TopicGroup:
    topic: TopicLabel
    entries: list[Entry]


@dataclass
class Section:
    id: str
    title: str
    title_zh: str
    groups: list[TopicGroup]

    @property
    def count(self) -> int:
        return sum(len(group.entries) for group in self.groups)


@dataclass(frozen=True)
class SourceHealth:
    """For the sources line: silence is never mistaken for "nothing new"."""

    source: str
    last_success: str | None
    polls: int
    failures: int

    @property
    def state(self) -> str:
        if self.failures:
            return f"failed {self.failures}× this week"
        return "checked" if self.polls else "not checked this week"


@dataclass
class WeeklyDigest:
    period: Period
    recipient: str
    sections: list[Section]
    sources: list[SourceHealth]

    @property
    def counts(self) -> dict[str, int]:
        return {section.id: section.count for section in self.sections}

    @property
    def is_empty(self) -> bool:
        return not any(self.counts.values())

    def entries(self) -> Iterator[Entry]:
        for section in self.sections:
            for group in section.groups:
                yield from group.entries


def build_digest(session: Session, *, watchlist: Watchlist, period: Period,
                 recipient: str) -> WeeklyDigest:
    """The digest of `period` for `recipient`, leaving out what an earlier digest carried."""
    carried_findings, carried_changes = carried(session, recipient=recipient, period=period.label)
    new = [f for f in new_findings(session, period) if f.id not in carried_findings]
    new_ids = {f.id for f in new}
    changes = [c for c in period_changes(session, period)
               if c.id not in carried_changes and c.finding_id not in new_ids]
    entries = collect_entries(session, new, changes, watchlist=watchlist, period=period)
    return WeeklyDigest(period=period, recipient=recipient,
                        sections=arrange(entries, watchlist),
                        sources=source_health(session, period))


def carried(session: Session, *, recipient: str, period: str) -> tuple[set[int], set[int]]:
    """Finding and Change ids that digests of other periods already sent to `recipient`."""
    rows = session.exec(
        select(DigestEntry.finding_id, DigestEntry.change_id)
        .join(Digest, col(Digest.id) == DigestEntry.digest_id)
        .where(Digest.recipient == recipient, Digest.status == "sent", Digest.period != period))
    findings, changes = set(), set()
    for finding_id, change_id in rows:
        if change_id is not None:
            changes.add(change_id)
        elif finding_id is not None:
            findings.add(finding_id)
    return findings, changes


def new_findings(session: Session, period: Period) -> list[Finding]:
    return list(session.exec(select(Finding).where(
        Finding.placeholder == False,  # noqa: E712
        Finding.first_seen_at >= period.start, Finding.first_seen_at < period.end)
        .order_by(col(Finding.id))))


def period_changes(session: Session, period: Period) -> list[Change]:
    return list(session.exec(select(Change).where(
        Change.significance.in_(tuple(SIGNIFICANCE)),
        Change.seen_at >= period.start, Change.seen_at < period.end)
        .order_by(col(Change.seen_at), col(Change.id))))


def collect_entries(session: Session, new: Sequence[Finding], changes: Sequence[Change], *,
                    watchlist: Watchlist, period: Period) -> list[Entry]:
    """One entry per new finding and per changed finding; news items merged per story."""
    by_finding: dict[int, list[Change]] = defaultdict(list)
    for change in changes:
        by_finding[change.finding_id].append(change)
    changed = session.exec(select(Finding).where(col(Finding.id).in_(list(by_finding)),
                                                 Finding.placeholder == False))  # noqa: E712
    findings = [*new, *changed]
    data = {item["key"]: item for item in describe(session, findings)}
    linked = mentions(session, findings)
    topics = {t.id: TopicLabel(t.id, t.label, t.label_zh) for t in watchlist.topics}
    entries = []
    for finding in findings:
        context = EntryContext(data[finding.key], topics, linked[finding.id], period)
        entries.append(entry_for(finding, by_finding.get(finding.id, []), context))
    return merge_stories(entries)


@dataclass(frozen=True)
class EntryContext:
    data: dict[str, Any]
    topics: dict[str, TopicLabel]
    mentions: list[Mention]
    period: Period


def entry_for(finding: Finding, changes: list[Change], ctx: EntryContext) -> Entry:
    """A new finding (no changes) or an update (the changes this period brought)."""
    section = SECTION_OF.get(finding.kind, "news")
    badges, rank = change_badges(changes) if changes else new_badges(finding)
    sources = [source_name(s) for s in ctx.data["sources"]]
    return Entry(
        key=finding.key, section=section, title=one_line(finding.title, 300),
        title_alt=finding.title_alt, summary=one_line(finding.summary, SUMMARY_CHARS),
        url=safe_url(finding.url), date=entry_date(finding, changes, ctx.period),
        topics=[ctx.topics.get(t) or TopicLabel(t, t) for t in ctx.data["topics"]],
        badges=badges, rank=rank,
        status=status_word(finding.status) if finding.kind == "trial" else None,
        changes=[change_line(c) for c in changes],
        sites=[site_of(s) for s in finding.watched_sites or []],
        mentions=ctx.mentions, sources=sources,
        items=[Mention(", ".join(sources) or finding.key, safe_url(finding.url),
                       one_line(finding.title, 300))] if section == "news" else [],
        finding_ids=[] if changes else [finding.id],
        change_ids=[c.id for c in changes], story_key=finding.story_key,
    )


def entry_date(finding: Finding, changes: Sequence[Change], period: Period) -> str:
    """When the change was seen, or when the source says the finding was published."""
    if changes:
        return period.local(changes[-1].seen_at).date().isoformat()
    published = finding.published or finding.updated
    return published[:10] if published else period.local(finding.first_seen_at).date().isoformat()


def new_badges(finding: Finding) -> tuple[list[Badge], int]:
    if finding.kind == "trial":
        rank = NEW_WATCHED_TRIAL_RANK if finding.watched_sites else NEW_TRIAL_RANK
        return [Badge(*NEW_TRIAL)], rank
    label = finding.evidence or ("preprint" if finding.kind == "preprint" else None)
    if not label:
        return [], OTHER_RANK
    zh, rank = EVIDENCE.get(label.lower(), (None, OTHER_RANK))
    return [Badge(label, zh)], rank


def change_badges(changes: Sequence[Change]) -> tuple[list[Badge], int]:
    badges: dict[Badge, None] = {}
    for change in changes:
        text, zh, _ = SIGNIFICANCE[change.significance]
        if change.field == "status" and change.significance != "recruiting":
            text, zh = status_word(change.new), STATUS_ZH.get(change.new or "", zh)
        badges.setdefault(Badge(text, zh))
    return list(badges), min(SIGNIFICANCE[c.significance][2] for c in changes)


def change_line(change: Change) -> str:
    if change.field == "status":
        return f"Status: {status_word(change.old)} → {status_word(change.new)}"
    if change.field == "results_first_posted":
        return f"Results first posted {change.new}"
    if change.field == "site":
        return f"New site in a watched place: {change.new}"
    if change.field == "site_status":
        return f"Site status: {change.old} → {change.new}"
    if change.field == "evidence":
        return f"Retracted (was: {change.old or 'not labelled'})"
    label = FIELD_LABELS.get(change.field, change.field)
    return f"{label}: {change.old or '—'} → {change.new or '—'}"


def site_of(site: dict[str, Any]) -> Site:
    contacts = tuple(", ".join(filter(None, (c.get("name"), c.get("phone"), c.get("email"))))
                     for c in site.get("contacts") or [])
    return Site(place=site.get("place") or "", place_zh=site.get("place_zh"),
                facility=site.get("facility"), city=site.get("city"), country=site.get("country"),
                status=status_word(site.get("status")), contacts=tuple(c for c in contacts if c))


def mentions(session: Session, findings: Sequence[Finding]) -> dict[int, list[Mention]]:
    """Per finding: for a trial, the papers and news naming it; for a paper or news item, the
    trials it names. One query per chunk of findings, not one per finding."""
    trials = [f.id for f in findings if f.kind == "trial"]
    others = [f.id for f in findings if f.kind != "trial"]
    found: dict[int, list[Mention]] = defaultdict(list)
    for ids, incoming, kind in ((trials, True, None), (others, False, "trial")):
        for finding_id, pairs in linked(session, ids, incoming=incoming, kind=kind).items():
            found[finding_id] = [Mention(other.key, safe_url(other.url),
                                         "" if other.placeholder else one_line(other.title, 120))
                                 for _relation, other in pairs]
    return found


def merge_stories(entries: list[Entry]) -> list[Entry]:
    """News items sharing a story_key become one entry listing every source."""
    stories: dict[str, Entry] = {}
    merged = []
    for entry in entries:
        story = entry.story_key if entry.section == "news" and not entry.change_ids else None
        lead = stories.get(story) if story else None
        if lead is None:
            merged.append(entry)
            if story:
                stories[story] = entry
            continue
        lead.items.extend(entry.items)
        lead.finding_ids.extend(entry.finding_ids)
        lead.sources = sorted({*lead.sources, *entry.sources})
        lead.topics.extend(t for t in entry.topics if t not in lead.topics)
        lead.mentions.extend(m for m in entry.mentions if m not in lead.mentions)
    return merged


def arrange(entries: list[Entry], watchlist: Watchlist) -> list[Section]:
    """Sections in a fixed order; inside each, groups by topic (watchlist order), and entries
    by importance, then newest first."""
    order = {t.id: n for n, t in enumerate(watchlist.topics)}
    other = TopicLabel("other", "Other", "其他")
    sections = []
    for section_id, (title, title_zh) in SECTIONS.items():
        groups: dict[str, TopicGroup] = {}
        for entry in entries:
            if entry.section != section_id:
                continue
            topic = min(entry.topics, key=lambda t: order.get(t.id, len(order)), default=other)
            groups.setdefault(topic.id, TopicGroup(topic, [])).entries.append(entry)
        for group in groups.values():
            group.entries.sort(key=lambda e: e.title)
            group.entries.sort(key=lambda e: e.date, reverse=True)
            group.entries.sort(key=lambda e: (e.rank, -len(e.items)))
        ordered = sorted(groups.values(), key=lambda g: order.get(g.topic.id, len(order)))
        sections.append(Section(section_id, title, title_zh, ordered))
    return sections


def source_health(session: Session, period: Period) -> list[SourceHealth]:
    """Per source: last success, polls and failures during the period."""
    polls: dict[str, int] = defaultdict(int)
    failures: dict[str, int] = defaultdict(int)
    for run in session.exec(select(PollRun).where(PollRun.started_at >= period.start,
                                                  PollRun.started_at < period.end)):
        for source, counts in (run.counts or {}).items():
            polls[source] += 1
            failures[source] += int((counts or {}).get("errors") or 0)
    states: dict[str, list[SourceState]] = defaultdict(list)
    for state in session.exec(select(SourceState).order_by(col(SourceState.source))):
        states[state.source].append(state)
    health = [_health(source, rows, period, polls[source], failures[source])
              for source, rows in states.items()]
    return sorted(health, key=lambda h: h.source)


def _health(source: str, rows: list[SourceState], period: Period, polls: int,
            failures: int) -> SourceHealth:
    successes = [_aware(r.last_success_at) for r in rows if r.last_success_at]
    errors = [r for r in rows if r.last_error_at and period.start <= _aware(r.last_error_at) < period.end]
    if any(period.start <= s < period.end for s in successes):
        polls = max(polls, 1)
    last = max(successes, default=None)
    return SourceHealth(
        source=source_name(source),
        last_success=period.local(last).strftime("%Y-%m-%d %H:%M") if last else None,
        polls=polls, failures=max(failures, 1 if errors else 0))


def source_name(source: str) -> str:
    return source.removeprefix("feed:")


def safe_url(url: str | None) -> str | None:
    """Only absolute http(s) links become links; anything else (javascript:, data:) is dropped."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def one_line(text: str | None, limit: int) -> str:
    """Whitespace collapsed; the first sentence if it fits, else clipped with an ellipsis."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    sentence = re.match(r"(.{40,}?[.!?。！？])(\s|$)", flat[:limit])
    return sentence.group(1) if sentence else flat[: limit - 1].rstrip() + "…"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
