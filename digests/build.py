"""Build one recipient's weekly digest: what digests/choose.py picked (everything no digest sent
to them carried yet, capped per section, the most relevant in a top box) as cards with their
badges, dates, sites, links and why-lines. Pure: reads the store, returns a plain WeeklyDigest
model ready to render."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from assess.eligibility import Eligibility
from digests.choose import (
    Choice,
    Item,
    SectionChoice,
    Story,
    choose,
    gather,
    sent_before,
)
from digests.labels import (
    ALREADY_KNOWN,
    EVIDENCE_ZH,
    MAX_MENTIONS,
    MAX_SITES,
    NEW_TRIAL,
    NEWLY_FOUND,
    SECTIONS,
    SIGNIFICANCE,
    SUMMARY_CHARS,
    one_line,
    source_name,
)
from digests.model import (
    OTHER_TOPIC,
    Badge,
    ContactPart,
    Entry,
    Mention,
    Section,
    Site,
    TopicLabel,
    Watched,
    WeeklyDigest,
)
from digests.period import Period
from digests.queries import by_ids, mentions, source_health
from store.models import Change, Finding
from store.queries import describe
from store.vocab import (
    code_text,
    field_label,
    mailto_href,
    safe_url,
    site_contacts,
    status_word,
    status_zh,
    tel_href,
)


def build_digest(session: Session, *, watchlist: Watched, period: Period,
                 recipient: str) -> WeeklyDigest:
    """The digest of `period` for `recipient`: what no digest sent to them carried yet, the
    most relevant first, each section capped and the rest counted per topic."""
    topics = topic_labels(watchlist)
    items = gather(session, period_label=period.label, end=period.end, recipient=recipient,
                   topics=watchlist.relevance_context())
    first = not sent_before(session, period_label=period.label, recipient=recipient)
    choice = choose(items, watchlist.digest, starting_point=first)
    cards = Cards.load(session, choice, topics, period)
    sections = [section_of(chosen, cards, choice) for chosen in choice.sections]
    return WeeklyDigest(period=period, recipient=recipient, top=cards.entries(choice.top),
                        sections=sections, sources=source_health(session, period),
                        carried=choice.carried, starting_point=choice.starting_point,
                        known=dict(choice.known), patient_label=patient_label(watchlist))


def patient_label(watchlist: Watched) -> tuple[str, str] | None:
    """How the digest names the patient (the watchlist's `[patient]` label), if it does."""
    label = watchlist.patient.label
    return (label, watchlist.patient.label_zh or label) if label else None


def topic_labels(watchlist: Watched) -> dict[str, TopicLabel]:
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
        findings = {f.id: f for f in by_ids(session, Finding, [i.finding_id for i in items])}
        changes = {c.id: c for c in by_ids(session, Change,
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
            relevance=None if item.relevance is None else round(item.relevance, 2),
            why=why_of(finding, item), eligibility=item.eligibility,
            eligibility_line=eligibility_line(finding),
            status=status_word(finding.status) if finding.kind == "trial" else None,
            changes=[change_line(c) for c in changes], sites=sites[:MAX_SITES],
            more_sites=max(0, len(sites) - MAX_SITES),
            mentions=self.mentions.get(finding.id, [])[:MAX_MENTIONS], sources=sources,
            items=[Mention(", ".join(sources) or finding.key, safe_url(finding.url),
                           one_line(finding.title, 300))] if section == "news" else [],
        )


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
        return [Badge(status_word(finding.status), status_zh(finding.status))]
    label = finding.evidence or ("preprint" if finding.kind == "preprint" else None)
    if not label:
        return []
    return [Badge(label, EVIDENCE_ZH.get(label.lower()))]


def change_badges(changes: Sequence[Change]) -> list[Badge]:
    badges: dict[Badge, None] = {}
    for change in sorted(changes, key=lambda c: SIGNIFICANCE[c.significance][2]):
        text, zh, _ = SIGNIFICANCE[change.significance]
        if change.field == "status" and change.significance != "recruiting":
            text, zh = status_word(change.new), status_zh(change.new) or zh
        badges.setdefault(Badge(text, zh))
    return list(badges)


def why_of(finding: Finding, item: Item) -> list[Badge]:
    """The reasons of its relevance (Finding.why, English and Chinese), and whether it was
    already known when watching began."""
    why = [Badge(w["en"], w.get("zh")) for w in finding.why or [] if w.get("en")]
    if item.new and not item.announced and not item.change_ids:
        why.append(Badge(*ALREADY_KNOWN))
    return why


def eligibility_line(finding: Finding) -> Badge | None:
    """The pre-screen's one line for a trial card ("may fit: Child-Pugh A, ..."), if screened."""
    if not finding.eligibility:
        return None
    return Badge(*Eligibility.from_json(finding.eligibility).summary())


def change_line(change: Change) -> str:
    """One change as the family reads it, in both languages: `Trial status · 试验状态:
    Recruiting · 招募中 → Terminated · 已终止` (codes never shown raw)."""
    label = field_label(change.field)
    if change.field == "evidence":
        return f"{label}: {code_text(change.old or 'not labelled')} → Retracted · 已撤稿"
    if change.field in {"site", "results_first_posted"}:
        return f"{label}: {change.new}"
    return f"{label}: {code_text(change.old)} → {code_text(change.new)}"


def site_of(site: dict[str, Any]) -> Site:
    return Site(place=site.get("place") or "", place_zh=site.get("place_zh"),
                facility=site.get("facility"), city=site.get("city"), country=site.get("country"),
                status=status_word(site.get("status")), contacts=tuple(site_contacts(site)),
                contact_parts=tuple(p for p in map(contact_parts, site.get("contacts") or []) if p))


def contact_parts(contact: dict[str, Any]) -> tuple[ContactPart, ...]:
    """Name, then phone and e-mail as tap-to-call / tap-to-mail links (when they look right)."""
    name, phone, email = (contact.get(k) for k in ("name", "phone", "email"))
    parts = [ContactPart(name)] if name else []
    if phone:
        parts.append(ContactPart(phone, tel_href(phone)))
    if email:
        parts.append(ContactPart(email, mailto_href(email)))
    return tuple(parts)


def merge_into(lead: Entry, other: Entry) -> None:
    """Another source's item of the same news story joins the lead's card."""
    lead.items.extend(other.items)
    lead.sources = sorted({*lead.sources, *other.sources})
    lead.topics.extend(t for t in other.topics if t not in lead.topics)
    lead.mentions.extend(m for m in other.mentions if m not in lead.mentions)
