"""Build one recipient's weekly digest: what digests/choose.py picked (everything no digest sent
to them carried yet, capped per section, the most relevant in a top box) as cards with their
badges, dates, sites, links and why-lines. Pure: reads the store, returns a plain WeeklyDigest
model ready to render."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from digests.choose import (
    OPEN_STATUSES,
    Choice,
    Item,
    Limits,
    SectionChoice,
    Story,
    choose,
    gather,
    sent_before,
)
from hccwatch.showtext import status_word
from hccwatch.watchlist import Watchlist
from store.models import Change, Finding, PollRun, SourceState
from store.queries import describe, linked

PERIOD_RE = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)
SUMMARY_CHARS = 200
SECTIONS = {"trials": ("Clinical trials", "临床试验"), "papers": ("Papers", "论文"),
            "news": ("News", "新闻")}
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
EVIDENCE_ZH = {"retracted": "已撤稿", "phase 3 rct": "III期随机对照试验", "rct": "随机对照试验",
               "meta-analysis": "荟萃分析", "systematic review": "系统综述", "review": "综述",
               "press release": "新闻稿", "case report": "病例报告", "preprint": "预印本",
               "guideline": "指南"}
FIELD_LABELS = {"phases": "Phases", "sites": "Sites", "sites_removed": "Sites no longer listed",
                "title": "Title"}
NEW_TRIAL = ("New trial", "新试验")
NEWLY_FOUND = ("Newly found", "新发现")
DEFAULT_LIMITS = Limits()
MAX_SITES, MAX_MENTIONS = 3, 5  # per card; the rest are one click away


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


def default_period(session: Session, timezone: str, now: datetime) -> Period:
    """The last complete week, unless watching began after it ended (a fresh install): then
    this week, so the first digest carries what was found instead of an empty last week."""
    last = Period.last_complete(timezone, now)
    began = session.exec(select(func.min(Finding.first_seen_at))).one()
    return Period.containing(now, timezone) if began is None or _aware(began) >= last.end else last


@dataclass(frozen=True)
class TopicLabel:
    id: str
    label: str
    label_zh: str | None = None
    specific: bool = True  # one of the patient's options, not the disease alone


OTHER_TOPIC = TopicLabel("other", "Other", "其他", specific=False)


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
    """One card: a finding (new, changed, or both) or a news story from several sources."""

    key: str
    kind: str
    section: str
    title: str
    title_alt: str | None
    summary: str
    url: str | None
    date: str
    topic: TopicLabel
    topics: list[TopicLabel]
    badges: list[Badge]
    relevance: float
    why: list[Badge] = field(default_factory=list)
    eligibility: str | None = None
    status: str | None = None
    changes: list[str] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    more_sites: int = 0
    mentions: list[Mention] = field(default_factory=list)
    items: list[Mention] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


@dataclass
class Section:
    id: str
    title: str
    title_zh: str
    entries: list[Entry]
    total: int  # cards (news: stories) it carries: shown here, in the top box, or counted
    more: int = 0
    more_by_topic: list[tuple[TopicLabel, int]] = field(default_factory=list)


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
    top: list[Entry]
    sections: list[Section]
    sources: list[SourceHealth]
    carried: list[Item] = field(default_factory=list)  # for the ledger: shown and counted
    starting_point: bool = False
    known: dict[str, int] = field(default_factory=dict)  # already known when watching began
    patient_label: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {section.id: section.total for section in self.sections}

    @property
    def is_empty(self) -> bool:
        return not self.carried

    def entries(self) -> Iterator[Entry]:
        yield from self.top
        for section in self.sections:
            yield from section.entries


def build_digest(session: Session, *, watchlist: Watchlist, period: Period, recipient: str,
                 limits: Limits = DEFAULT_LIMITS, patient_label: str | None = None) -> WeeklyDigest:
    """The digest of `period` for `recipient`: what no digest sent to them carried yet, the
    most relevant first, each section capped and the rest counted per topic."""
    topics = topic_labels(watchlist)
    items = gather(session, period_label=period.label, end=period.end, recipient=recipient,
                   topics=watchlist.relevance_context())
    for item in items:
        item.relevance = provisional_relevance(item, topics)
    first = not sent_before(session, period_label=period.label, recipient=recipient)
    choice = choose(items, limits, starting_point=first)
    cards = Cards.load(session, choice, topics, period)
    sections = [section_of(chosen, cards, choice) for chosen in choice.sections]
    return WeeklyDigest(period=period, recipient=recipient, top=cards.entries(choice.top),
                        sections=sections, sources=source_health(session, period),
                        carried=choice.carried, starting_point=choice.starting_point,
                        known=dict(choice.known), patient_label=patient_label)


def topic_labels(watchlist: Watchlist) -> dict[str, TopicLabel]:
    labels = {t.id: TopicLabel(t.id, t.label, t.label_zh, t.kind != "disease")
              for t in watchlist.topics}
    return {**labels, "other": OTHER_TOPIC}


def section_of(chosen: SectionChoice, cards: Cards, choice: Choice) -> Section:
    title, title_zh = SECTIONS[chosen.id]
    in_top = sum(story.lead.section == chosen.id for story in choice.top)
    more = [(cards.topic(topic), n) for topic, n in chosen.more_by_topic.most_common()]
    return Section(chosen.id, title, title_zh, cards.entries(chosen.shown),
                   total=in_top + len(chosen.shown) + chosen.more, more=chosen.more,
                   more_by_topic=more)


# Stands in for Finding.relevance (issue 13, section 1) until that column is in the store:
# the most significant change, else what kind of new thing it is, a little more for a finding
# filed under one of the patient's options than under the disease alone.
CHANGE_SCORE = {"retraction": 1.0, "watched_site": 0.95, "recruiting": 0.9, "results": 0.85,
                "stopped": 0.7, "completed": 0.5, "status": 0.45, "phase": 0.4, "site": 0.35}
EVIDENCE_SCORE = {"retracted": 0.9, "guideline": 0.85, "phase 3 rct": 0.8, "rct": 0.7,
                  "meta-analysis": 0.7, "systematic review": 0.6, "review": 0.4,
                  "press release": 0.4, "preprint": 0.3, "case report": 0.2}


def provisional_relevance(item: Item, topics: dict[str, TopicLabel]) -> float:
    """A stand-in score in [0, 1.1] from what the light rows hold (see CHANGE_SCORE)."""
    if item.significance:
        score = max(CHANGE_SCORE.get(s, 0.3) for s in item.significance)
    elif item.kind == "trial":
        score = 0.8 if item.open_nearby else 0.6 if item.status in OPEN_STATUSES else 0.3
    else:
        score = EVIDENCE_SCORE.get((item.evidence or "").lower(), 0.3)
    return score + (0.1 if topics.get(item.topic, OTHER_TOPIC).specific else 0.0)


@dataclass
class Cards:
    """The stored rows behind the shown stories, read in a few queries, and their cards."""

    findings: dict[int, Finding]
    changes: dict[int, Change]
    data: dict[str, dict[str, Any]]
    mentions: dict[int, list[Mention]]
    topics: dict[str, TopicLabel]
    period: Period

    @classmethod
    def load(cls, session: Session, choice: Choice, topics: dict[str, TopicLabel],
             period: Period) -> Cards:
        stories = [*choice.top, *(s for section in choice.sections for s in section.shown)]
        items = [item for story in stories for item in story.items]
        findings = {f.id: f for f in _by_ids(session, Finding, [i.finding_id for i in items])}
        changes = {c.id: c for c in _by_ids(session, Change,
                                            [cid for i in items for cid in i.change_ids])}
        data = {row["key"]: row for row in describe(session, list(findings.values()))}
        return cls(findings, changes, data, mentions(session, list(findings.values())), topics,
                   period)

    def topic(self, topic_id: str) -> TopicLabel:
        return self.topics.get(topic_id) or TopicLabel(topic_id, topic_id)

    def entries(self, stories: Sequence[Story]) -> list[Entry]:
        return [self.entry(story) for story in stories]

    def entry(self, story: Story) -> Entry:
        lead, *others = [self.card(item) for item in story.items]
        for other in others:
            merge_into(lead, other)
        return lead

    def card(self, item: Item) -> Entry:
        finding = self.findings[item.finding_id]
        changes = [self.changes[cid] for cid in item.change_ids]
        data = self.data[finding.key]
        section = item.section
        sources = [source_name(s) for s in data["sources"]]
        sites = [site_of(s) for s in finding.watched_sites or []]
        topic = self.topic(item.topic)
        badges = entry_badges(finding, item, changes)
        return Entry(
            key=finding.key, kind=finding.kind, section=section, title=one_line(finding.title, 300),
            title_alt=finding.title_alt, summary=one_line(finding.summary, SUMMARY_CHARS),
            url=safe_url(finding.url), date=entry_date(item, changes, self.period),
            topic=topic, topics=[self.topic(t) for t in item.topics], badges=badges,
            relevance=round(item.relevance, 3),
            why=provisional_why(item, topic, badges, sites), eligibility=item.eligibility,
            status=status_word(finding.status) if finding.kind == "trial" else None,
            changes=[change_line(c) for c in changes], sites=sites[:MAX_SITES],
            more_sites=max(0, len(sites) - MAX_SITES),
            mentions=self.mentions.get(finding.id, [])[:MAX_MENTIONS], sources=sources,
            items=[Mention(", ".join(sources) or finding.key, safe_url(finding.url),
                           one_line(finding.title, 300))] if section == "news" else [],
        )


def _by_ids(session: Session, model: Any, ids: Sequence[int]) -> list[Any]:
    ids = sorted(set(ids))
    return [row for start in range(0, len(ids), 500)
            for row in session.exec(select(model).where(col(model.id).in_(ids[start:start + 500])))]


def entry_date(item: Item, changes: Sequence[Change], period: Period) -> str:
    """A finding's own date (a trial's first posting, an article's PubMed entry), never when
    hccwatch first saw it; for a change on something announced before, when it was seen."""
    if changes and not item.new:
        return period.local(changes[-1].seen_at).date().isoformat()
    return item.own_date or ""


def entry_badges(finding: Finding, item: Item, changes: Sequence[Change]) -> list[Badge]:
    """"New trial" (or the evidence label) for what is announced, then every change's badge:
    a trial new and terminated in the same week says both; one already known when watching
    began shows its changes only (else its status)."""
    badges = []
    if item.new and (item.announced or not changes):  # else the changes say what matters
        badges += new_badges(finding, announced=item.announced, fresh=item.fresh)
    said = {b.text.lower() for b in badges}
    return badges + [b for b in change_badges(changes) if b.text.lower() not in said]


def new_badges(finding: Finding, *, announced: bool, fresh: bool) -> list[Badge]:
    """A trial first posted lately is a "New trial"; one posted long ago that a query finds
    only now is "Newly found"; one already known when watching began shows its status."""
    if finding.kind == "trial":
        if announced:
            return [Badge(*NEW_TRIAL) if fresh else Badge(*NEWLY_FOUND)]
        return [Badge(status_word(finding.status), STATUS_ZH.get(finding.status or ""))]
    label = finding.evidence or ("preprint" if finding.kind == "preprint" else None)
    if not label:
        return []
    return [Badge(label, EVIDENCE_ZH.get(label.lower()))]


def change_badges(changes: Sequence[Change]) -> list[Badge]:
    badges: dict[Badge, None] = {}
    for change in sorted(changes, key=lambda c: SIGNIFICANCE[c.significance][2]):
        text, zh, _ = SIGNIFICANCE[change.significance]
        if change.field == "status" and change.significance != "recruiting":
            text, zh = status_word(change.new), STATUS_ZH.get(change.new or "", zh)
        badges.setdefault(Badge(text, zh))
    return list(badges)


def provisional_why(item: Item, topic: TopicLabel, badges: Sequence[Badge],
                    sites: Sequence[Site]) -> list[Badge]:
    """Stands in for Finding.why until that column is in the store: the topic it is filed
    under, its first badge and the first watched place it is open in."""
    why = [Badge(topic.label, topic.label_zh)] if topic.id != OTHER_TOPIC.id else []
    why += list(badges[:1])
    if sites:
        why.append(Badge(f"site in {sites[0].place}", f"{sites[0].place_zh or sites[0].place} 有研究中心"))
    if item.new and not item.announced and not item.change_ids:
        why.append(Badge("already known when watching began", "开始关注时已有"))
    return why


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


def merge_into(lead: Entry, other: Entry) -> None:
    """Another source's item of the same news story joins the lead's card."""
    lead.items.extend(other.items)
    lead.sources = sorted({*lead.sources, *other.sources})
    lead.topics.extend(t for t in other.topics if t not in lead.topics)
    lead.mentions.extend(m for m in other.mentions if m not in lead.mentions)


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
