"""Watchlist matching: which topic terms (English or Chinese) appear in a text, and which trial
sites lie in a watched place. Case- and width-insensitive (NFKC), word boundaries for Latin
terms (a Latin term right next to Chinese characters still counts: "QL1706联合"), a plain
substring for CJK terms (across spaces and full-width punctuation), and regular plurals."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sources.records import Location, match_at

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_DASH_RE = re.compile(f"[{_DASHES}]")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Punctuation that may sit inside a CJK term in running text ("艾帕洛利·托沃瑞利单抗").
# NFKC has already turned full-width ，：；！？ into their ASCII forms.
_CJK_NOISE_RE = re.compile(r"[\s,.:;!?\u00b7\u30fb\u3001\u3002\uff0c\uff0e\uff1a\uff1b\u2027\u300c\u300d\u201c\u201d\u2018\u2019\"'()（）\[\]【】《》<>\-/]")


def normalize(text: str) -> str:
    """NFKC (full-width -> ASCII), casefold, one kind of dash, single spaces. (An ASCII text
    has nothing for NFKC or the dashes to change; str.split splits at what \\s matches.)"""
    text = text or ""
    if not text.isascii():
        text = _DASH_RE.sub("-", unicodedata.normalize("NFKC", text))
    return " ".join(text.split()).casefold()


# What a Latin term must not touch on either side: Latin letters and digits (not CJK characters,
# which \w would include, and which sit right next to drug codes in Chinese text).
_LATIN_CHAR = r"[0-9a-z\u00c0-\u024f]"


@lru_cache(maxsize=4096)
def is_cjk(term: str) -> bool:
    return bool(_CJK_RE.search(term))


@lru_cache(maxsize=4096)
def _latin_pattern(term: str) -> re.Pattern[str]:
    """Word-bounded pattern; hyphens and spaces inside a term match '-', ' ' or nothing, so
    'PD-1' finds 'PD1' and 'PD 1', and 'QL1706' finds 'QL-1706'."""
    parts = _parts(term)
    pieces = []
    for index, part in enumerate(parts):
        if index:
            pieces.append(r"[-\s]?")
        pieces.append(_split_letters_digits(part))
    plural = r"(?:e?s)?" if parts and parts[-1][-1].isalpha() else ""
    return re.compile(rf"(?<!{_LATIN_CHAR})" + "".join(pieces) + plural + rf"(?!{_LATIN_CHAR})")


@lru_cache(maxsize=4096)
def _latin_lead(term: str) -> str:
    """What every match of _latin_pattern(term) begins with: the first letters (or digits)."""
    parts = _parts(term)
    return _chunks(parts[0])[0] if parts else ""


def _parts(term: str) -> list[str]:
    return [p for p in re.split(r"[-\s]+", normalize(term)) if p]


def _chunks(part: str) -> list[str]:
    return re.findall(r"[^\W\d_]+|\d+|\W+|_", part)


def _split_letters_digits(part: str) -> str:
    """Let a letter/digit junction take an optional hyphen or space (QL1706 ~ QL-1706)."""
    chunks = _chunks(part)
    out = []
    for index, chunk in enumerate(chunks):
        if index and chunk[0].isalnum() and chunks[index - 1][-1].isalnum() \
                and chunk[0].isdigit() != chunks[index - 1][-1].isdigit():
            out.append(r"[-\s]?")
        out.append(re.escape(chunk))
    return "".join(out)


def _cjk_squash(text: str) -> str:
    return _CJK_NOISE_RE.sub("", text)


@lru_cache(maxsize=4096)
def _cjk_needle(term: str) -> str:
    return _cjk_squash(normalize(term))


@lru_cache(maxsize=4096)
def _latin_needle(term: str) -> str:
    return _flat(normalize(term))


def _flat(norm: str) -> str:
    """Without hyphens and spaces: a Latin term can only match where its flat form occurs in
    the flat text, a cheap substring test that spares most regular-expression searches."""
    return norm.replace("-", "").replace(" ", "")


class _Prepared:
    """A text normalized once for matching many terms against it."""

    def __init__(self, text: str):
        self.norm = normalize(text)
        self.flat = _flat(self.norm)
        self._squashed: str | None = None

    @property
    def squashed(self) -> str:
        if self._squashed is None:  # a CJK term is not in an ASCII text: nothing to squash
            self._squashed = "" if self.norm.isascii() else _cjk_squash(self.norm)
        return self._squashed

    def terms_in(self, terms: Iterable[str]) -> list[str]:
        found = []
        for term in terms:
            if is_cjk(term):
                if _cjk_needle(term) in self.squashed:
                    found.append(term)
            elif _latin_needle(term) in self.flat and match_at(_latin_pattern(term), self.norm, _latin_lead(term)):
                found.append(term)
        return found


def matched_terms(text: str, terms: Iterable[str]) -> list[str]:
    """The terms that occur in `text`, in the order given."""
    return _Prepared(text).terms_in(terms)


def match_topics(text: str, topics: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """topic id -> matched terms, for every topic with at least one match."""
    prepared = _Prepared(text)
    result = {}
    for topic_id, terms in topics.items():
        found = prepared.terms_in(terms)
        if found:
            result[topic_id] = found
    return result


@dataclass(frozen=True)
class PlaceSpec:
    name: str
    match: tuple[str, ...]
    country: str | None = None
    label_zh: str | None = None


def _squash_latin(text: str) -> str:
    return " " + re.sub(r"[^\w]+", " ", normalize(text)).strip() + " "


def site_in_place(location: Location, place: PlaceSpec) -> str | None:
    """The place's match string that this site satisfies, or None."""
    if place.country and location.country and normalize(location.country) != normalize(place.country):
        return None
    haystack = _squash_latin(" ".join(p for p in (location.facility, location.city) if p))
    for candidate in place.match:
        if _squash_latin(candidate) in haystack:
            return candidate
    return None


def watched_sites(locations: Sequence[Location], places: Sequence[PlaceSpec]) -> list[dict[str, Any]]:
    """Every site of a trial that lies in a watched place, with its status and contacts."""
    sites = []
    for location in locations:
        for place in places:
            hit = site_in_place(location, place)
            if hit:
                sites.append({
                    "place": place.name, "place_zh": place.label_zh, "matched": hit,
                    "site_key": location.site_key(), "facility": location.facility,
                    "city": location.city, "country": location.country, "status": location.status,
                    "contacts": [{"name": c.name, "phone": c.phone, "email": c.email}
                                 for c in location.contacts],
                })
                break
    return sites
