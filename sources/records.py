"""The Record every source yields: one source-agnostic, typed description of a trial,
article, preprint or news item, before it is merged into the store; the page of records a
paged API answers with; identifiers, their keys and their public pages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

KINDS = ("trial", "article", "preprint", "news")
# Order in which identifiers name a Finding's canonical key.
KEY_SCHEMES = ("nct", "pmid", "doi", "pmcid", "url")
# Not \b: in Chinese text an NCT number sits right against CJK characters ("NCT03434379研究").
NCT_RE = re.compile(r"(?<![A-Za-z0-9])NCT\d{8}(?!\d)", re.IGNORECASE)
_DOI_PREFIX_RE = re.compile(r"^(https?://(dx\.)?doi\.org/|doi:)", re.IGNORECASE)
# The public page of each identifier scheme (a url: identifier is its own page).
ID_PAGES = {"nct": "https://clinicaltrials.gov/study/{}", "pmid": "https://pubmed.ncbi.nlm.nih.gov/{}/",
            "doi": "https://doi.org/{}", "pmcid": "https://pmc.ncbi.nlm.nih.gov/articles/{}/"}


@dataclass(slots=True)
class Contact:
    name: str | None = None
    role: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(slots=True)
class Location:
    facility: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    status: str | None = None
    contacts: list[Contact] = field(default_factory=list)

    def site_key(self) -> str:
        return " | ".join(p or "" for p in (self.facility, self.city, self.country))

    def label(self) -> str:
        return ", ".join(p for p in (self.facility, self.city, self.state, self.country) if p)


@dataclass(slots=True)
class Record:
    source: str
    kind: str
    ids: dict[str, str]
    title: str
    url: str | None = None
    summary: str = ""
    title_alt: str | None = None
    published: str | None = None
    updated: str | None = None
    evidence: str | None = None
    status: str | None = None
    phases: list[str] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    lang: str | None = None
    # Filled in before storing: topic id -> terms that matched (or the query that found it),
    # and the sites of a trial that lie in a watched place.
    topics: dict[str, list[str]] = field(default_factory=dict)
    watched_sites: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown record kind {self.kind!r}")
        self.ids = {k: v for k, v in self.ids.items() if v}
        if not any(scheme in self.ids for scheme in KEY_SCHEMES):
            raise ValueError("a record needs at least one identifier (nct, pmid, doi, pmcid or url)")

    @property
    def key(self) -> str:
        return canonical_key(self.ids)


def key_rank(key: str) -> int:
    """How good a key is: an NCT id beats a PMID beats a DOI beats a PMCID beats a URL."""
    scheme = "nct" if NCT_RE.fullmatch(key) else key.partition(":")[0]
    return KEY_SCHEMES.index(scheme) if scheme in KEY_SCHEMES else len(KEY_SCHEMES)


@dataclass(slots=True)
class ParsedPage:
    """One page of an API answer: its records, the token or cursor of the next page (None on
    the last), the total the API reported, and what was skipped."""

    records: list[Record]
    next: str | None
    total: int | None = None
    skipped: list[str] = field(default_factory=list)
    # The page could not be read (e.g. one PubMed batch): the rest of the task still counts,
    # but its cursor must not move past what was lost.
    error: str | None = None
    # What the source said it did not search for (PubMed ignoring a term of the query).
    warnings: list[str] = field(default_factory=list)


def day_cursor(run_started: datetime) -> str:
    """The cursor a date-filtered source stores after a poll: the day the run started (never
    later, so what was updated during the run is asked for again next time)."""
    return run_started.date().isoformat()


def since_day(cursor: str | None, lookback_days: int = 0) -> date | None:
    """The first day an incremental poll asks for: `lookback_days` before the stored day
    cursor, because sources date records earlier than they show them (time zones, indexing
    delays) and what is asked for twice merges. None without a usable cursor."""
    try:
        return date.fromisoformat(cursor) - timedelta(days=lookback_days) if cursor else None
    except ValueError:
        return None  # a cursor from an older format


def parse_each(items: Iterable[Any], parse: Callable[[Any], Record],
               label: str) -> tuple[list[Record], list[str]]:
    """Parse every item of a page; one that cannot be read is skipped and said, never fatal
    for the rest."""
    records, skipped = [], []
    for index, item in enumerate(items):
        try:
            records.append(parse(item))
        except (ValueError, TypeError, AttributeError) as error:
            skipped.append(f"{label} #{index + 1} skipped: {error}")
    return records, skipped


def canonical_key(ids: dict[str, str]) -> str:
    """The Finding key for a set of identifiers: NCT id bare, others as `scheme:value`."""
    for scheme in KEY_SCHEMES:
        value = ids.get(scheme)
        if value:
            value = normalize_id(scheme, value)
            return value if scheme == "nct" else f"{scheme}:{value}"
    raise ValueError("no identifier to build a key from")


def normalize_id(scheme: str, value: str) -> str:
    """Identifiers compare case-insensitively where the scheme allows (DOI, NCT, PMCID)."""
    value = value.strip()
    if scheme == "doi":
        return _DOI_PREFIX_RE.sub("", value).lower()
    if scheme in ("nct", "pmcid"):
        return value.upper()
    return value


def parse_key(key: str) -> tuple[str, str]:
    """`NCT01234567` -> ("nct", ...); `pmid:123` -> ("pmid", "123"); raises ValueError."""
    key = key.strip()
    if NCT_RE.fullmatch(key):
        return "nct", key.upper()
    scheme, sep, value = key.partition(":")
    if not sep or scheme.lower() not in KEY_SCHEMES or not value:
        raise ValueError(
            f"not a finding key: {key!r} (expected NCT01234567, pmid:..., doi:..., pmcid:... or url:...)"
        )
    return scheme.lower(), normalize_id(scheme.lower(), value)


def find_nct_ids(text: str) -> list[str]:
    """NCT numbers mentioned in free text, upper-cased, in order, once each."""
    seen: dict[str, None] = {}
    if not text or "nct" not in text.lower():  # most texts name no trial: skip the regex
        return []
    for match in NCT_RE.finditer(text):
        seen.setdefault(match.group(0).upper(), None)
    return list(seen)


def match_at(pattern: re.Pattern[str], text: str, lead: str, start: int = 0) -> re.Match[str] | None:
    """The first match of `pattern` (from `start`) that begins where `lead` occurs: for a
    pattern every match of which begins with `lead`, pattern.search(text, start) without
    trying it at every character (one led by a lookbehind or \\b is, at ~100 ns each)."""
    at = text.find(lead, start)
    while at >= 0:
        match = pattern.match(text, at)
        if match:
            return match
        at = text.find(lead, at + 1)
    return None


def id_page(scheme: str, value: str) -> str | None:
    """The public page of an identifier (None for a scheme without one, such as url)."""
    pattern = ID_PAGES.get(scheme)
    return pattern.format(value) if pattern else None


def nct_url(nct_id: str) -> str:
    return ID_PAGES["nct"].format(nct_id)


def pubmed_url(pmid: str) -> str:
    return ID_PAGES["pmid"].format(pmid)

