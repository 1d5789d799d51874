"""One story per event: news about the same approval or readout arrives from several feeds
and languages under different URLs. Near-duplicates (similar titles within a few days; a
shared NCT number or drug code lowers the bar) share one `Finding.story_key`."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from rapidfuzz import fuzz
from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from sources.records import find_nct_ids
from store.db import iso
from store.models import Finding
from store.vocab import aware

STORY_KINDS = ("news",)
WINDOW = timedelta(days=3)
SIMILAR = 88  # token-set ratio for titles alone
SIMILAR_WITH_CODE = 70  # ... when both name the same NCT number or drug code
MIN_SHARED_TOKENS = 3
_STOPWORDS = frozenset(["a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "is",
                        "its", "of", "on", "or", "the", "to", "with"])
_TOKEN_RE = re.compile(r"[0-9a-z]+(?:-[0-9a-z]+)*|[\u3400-\u9fff]+")
# Drug and trial codes: QL1706, SHR-1210, IBI305, BGB-A317, E7080, CARES-310, IMbrave150.
_CODE_RE = re.compile(r"\b(?=[a-z-]*\d)(?=[0-9-]*[a-z])[a-z0-9]{1,8}-?[a-z0-9]{2,8}\b")


@dataclass(frozen=True, slots=True)
class _Item:
    finding_id: int
    key: str
    story_key: str | None
    when: datetime
    tokens: frozenset[str]
    text: str
    codes: frozenset[str]
    lang: str | None = None


def title_tokens(title: str) -> list[str]:
    """Comparable tokens: lower-case Latin words (stopwords dropped) and CJK character bigrams."""
    norm = unicodedata.normalize("NFKC", title or "").casefold()
    tokens: list[str] = []
    for word in _TOKEN_RE.findall(norm):
        if word[0] >= "\u3400":
            tokens.extend(word[i:i + 2] for i in range(max(1, len(word) - 1)))
        elif word not in _STOPWORDS:
            tokens.append(word)
    return tokens


def event_codes(text: str) -> frozenset[str]:
    """NCT numbers and drug/trial codes named in a text, compared without hyphens."""
    norm = unicodedata.normalize("NFKC", text or "").casefold()
    codes = {c.replace("-", "") for c in _CODE_RE.findall(norm)}
    codes.update(n.lower() for n in find_nct_ids(norm))
    return frozenset(codes)


def same_story(a: _Item, b: _Item) -> bool:
    """Titles alike enough, within the window; a shared code strengthens a weaker likeness.
    Reports in two languages cannot have alike titles: within the window, naming the same
    trial (NCT number) is what makes them one story."""
    if abs(a.when - b.when) > WINDOW:
        return False
    if a.lang and b.lang and a.lang != b.lang:
        return bool(_trials(a.codes) & _trials(b.codes))
    if len(a.tokens & b.tokens) < MIN_SHARED_TOKENS:
        return False
    score = fuzz.token_set_ratio(a.text, b.text)
    return score >= (SIMILAR_WITH_CODE if a.codes & b.codes else SIMILAR)


def _trials(codes: frozenset[str]) -> frozenset[str]:
    return frozenset(c for c in codes if c.startswith("nct"))


def _item(finding: Finding) -> _Item:
    tokens = title_tokens(finding.title)
    return _Item(finding.id, finding.key, finding.story_key, _when(finding),
                 frozenset(tokens), " ".join(tokens),
                 event_codes(f"{finding.title} {finding.summary[:500]}"), finding.lang)


def _when(finding: Finding) -> datetime:
    if finding.published:
        try:
            return datetime.fromisoformat(finding.published.replace("Z", "+00:00"))
        except ValueError:
            pass
    return aware(finding.first_seen_at)


def assign_stories(session: Session) -> int:
    """Give every news finding without a story one: the story of the most similar earlier item
    within the window, or a story of its own (keyed by its own key). Returns how many joined an
    existing story. Idempotent: findings that have a story keep it."""
    pending = _news(session, col(Finding.story_key).is_(None))
    if not pending:
        return 0
    earliest = min(_when(f) for f in pending) - WINDOW
    latest = max(_when(f) for f in pending) + WINDOW
    known = [i for i in map(_item, _news(session, col(Finding.story_key).is_not(None),
                                         _within(earliest, latest)))
             if earliest <= i.when <= latest]
    joined = 0
    for finding in sorted(pending, key=lambda f: (_when(f), f.id)):
        item = _item(finding)
        match = _best_match(item, known)
        finding.story_key = match.story_key if match else finding.key
        joined += match is not None
        session.add(finding)
        known.append(replace(item, story_key=finding.story_key))
    session.flush()
    return joined


def _news(session: Session, *conditions: object) -> list[Finding]:
    return list(session.exec(select(Finding).where(
        col(Finding.kind).in_(STORY_KINDS), Finding.placeholder == False,  # noqa: E712
        *conditions)))


def _within(earliest: datetime, latest: datetime) -> object:
    """SQL filter for findings dated in [earliest, latest] (ISO strings compare as dates); those
    without a date are placed by when they were first seen."""
    low, high = iso(earliest), iso(latest)
    return or_(col(Finding.published).between(low, high),
               and_(col(Finding.published).is_(None), col(Finding.first_seen_at).between(earliest, latest)))


def _best_match(item: _Item, known: Iterable[_Item]) -> _Item | None:
    candidates = [k for k in known if same_story(item, k)]
    if not candidates:
        return None
    return max(candidates, key=lambda k: (fuzz.token_set_ratio(item.text, k.text), -k.finding_id))


def story_members(session: Session, story_key: str) -> list[Finding]:
    """Every finding of one story, earliest first (the first is the story's headline)."""
    members = session.exec(select(Finding).where(Finding.story_key == story_key))
    return sorted(members, key=lambda f: (_when(f), f.id))
