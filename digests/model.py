"""The plain model a digest is built into and rendered from: the top box and sections of
cards (entries) with their badges, sites and mentions, and the sources line; and what the
digest reads from the watchlist (`Watched`, handed in: digests never import hccwatch)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from assess.relevance import RelevanceContext
from digests.choose import Item
from digests.period import Period


class Watched(Protocol):
    """What the digest reads from the watchlist (hccwatch.watchlist.Watchlist has it): its
    topics (id, label, label_zh, kind), in order, its time zone, and what judges relevance."""

    @property
    def topics(self) -> Sequence[Any]: ...

    @property
    def timezone(self) -> str: ...

    @property
    def patient(self) -> Any: ...  # assess.profile.Patient: its label and label_zh name it

    @property
    def digest(self) -> Any: ...  # digests.choose.Limits: the watchlist's [digest] settings

    def relevance_context(self) -> RelevanceContext: ...


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
class ContactPart:
    """A contact's name, phone or e-mail; a phone or an address has its tel:/mailto: link."""

    text: str
    href: str | None = None


@dataclass(frozen=True)
class Site:
    """A trial site in a watched place, with whom to call."""

    place: str
    place_zh: str | None
    facility: str | None
    city: str | None
    country: str | None
    status: str
    contacts: tuple[str, ...] = ()  # one line per contact (the plain-text digest)
    contact_parts: tuple[tuple[ContactPart, ...], ...] = ()  # the same, as links (HTML)


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
    relevance: float | None  # Finding.relevance; None: not judged yet
    why: list[Badge] = field(default_factory=list)
    eligibility: str | None = None  # the pre-screen's verdict
    eligibility_line: Badge | None = None  # and its one line, English and Chinese
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
    warnings: tuple[str, ...] = ()  # "PubMed ignored 'QL-1706' (not found) in topic ql1706"

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
    patient_label: tuple[str, str] | None = None  # "This week for ..." (English, Chinese)

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
