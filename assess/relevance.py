"""How much a finding matters to this patient: a deterministic score and short reasons in
English and Chinese, from what the finding says (topics, evidence, trial status and sites,
eligibility, its own date) and what the watchlist weighs. Pure: no I/O, `today` passed in.

Unknown stays unknown: a missing date, publication type, abstract or topic weight costs the
item only what it cannot show, and the reasons say what was missing."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache
from itertools import islice
from typing import Any

from sources.records import match_at

DISEASE_DEFAULT_WEIGHT = 0.5  # a disease topic without a `weight` counts half an option topic
UNKNOWN_TOPIC_WEIGHT = 0.5  # a topic the watchlist no longer names (or an ad-hoc search)
PRIORITY = 1000.0  # added for what must come first: a retraction we sent, a change you may fit
RECENT_CHANGE_DAYS = 14
HALF_LIFE_DAYS = 120
SEP = " · "

TOPIC_POINTS = 30.0
EXTRA_TOPIC_POINTS, EXTRA_TOPIC_CAP = 4.0, 8.0
RECENCY_POINTS = 15.0


@dataclass(frozen=True, slots=True)
class Why:
    """One reason, in English and Chinese."""

    en: str
    zh: str

    def to_json(self) -> dict[str, str]:
        return {"en": self.en, "zh": self.zh}


@dataclass(frozen=True, slots=True)
class Relevance:
    score: float
    why: list[Why]

    @property
    def line(self) -> tuple[str, str]:
        """The why-line: every reason joined, English and Chinese."""
        return SEP.join(w.en for w in self.why), SEP.join(w.zh for w in self.why)


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """What the watchlist says about a topic; `weight` None means not given."""

    id: str
    label: str
    label_zh: str | None = None
    weight: float | None = None
    disease: bool = False

    @property
    def effective_weight(self) -> float:
        if self.weight is not None:
            return self.weight
        return DISEASE_DEFAULT_WEIGHT if self.disease else 1.0


@dataclass(frozen=True)
class RelevanceContext:
    """The watchlist's judgement inputs: its topics (with weights) and the disease's words
    (terms of the disease topics, and MeSH headings their PubMed queries name)."""

    topics: Mapping[str, TopicInfo]
    disease_terms: tuple[str, ...] = ()
    disease_mesh: tuple[str, ...] = ()
    disease_label: str = "HCC"
    disease_label_zh: str = "肝癌"
    _needles: tuple[tuple[str, ...], tuple[str, ...]] = field(init=False, default=((), ()), repr=False,
                                                              compare=False)

    _ranks: dict[str, tuple[float, bool, int]] = field(init=False, default_factory=dict, repr=False,
                                                       compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_needles", needles(self.disease_terms))
        object.__setattr__(self, "_ranks", {topic_id: (-info.effective_weight, info.disease, n)
                                            for n, (topic_id, info) in enumerate(self.topics.items())})

    def rank(self, topic_id: str) -> tuple[float, bool, int]:
        """Sort key of a topic: heaviest first, then option before disease, then watchlist order."""
        return self._ranks.get(topic_id, (-UNKNOWN_TOPIC_WEIGHT, False, len(self._ranks)))

    def disease_at(self, folded: str) -> list[int]:
        """Where the (folded) text names the disease."""
        latin, chinese = self._needles
        return [at for term in (latin if folded.isascii() else latin + chinese) for at in term_at(term, folded)]

    def names_disease(self, text: str) -> bool:
        return bool(text) and bool(self.disease_at(fold(text)))


@dataclass(frozen=True, slots=True)
class ChangeFact:
    """A recorded change of the finding: which field, its new value, how significant, when."""

    field: str
    new: str | None
    significance: str
    seen: date


@dataclass(frozen=True)
class RelevanceFacts:
    """What is known about one finding. `publication_types`/`mesh` None: not given (yet)."""

    kind: str
    title: str
    summary: str = ""
    title_alt: str | None = None
    topics: Mapping[str, Sequence[str]] = field(default_factory=dict)
    evidence: str | None = None
    publication_types: tuple[str, ...] | None = None
    mesh: tuple[str, ...] | None = None
    keywords: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    own_date: str | None = None
    date_kind: str = "published"  # first_posted | published | start_date
    status: str | None = None
    phases: tuple[str, ...] = ()
    watched_sites: tuple[Mapping[str, Any], ...] = ()
    eligibility: str | None = None
    carried: bool = False
    changes: tuple[ChangeFact, ...] = ()

    @cached_property
    def folded_title(self) -> str:
        return fold(self.title)

    @cached_property
    def folded_summary(self) -> str:
        return fold(self.summary)

    @classmethod
    def build(cls, *, kind: str, title: str, summary: str | None = None, title_alt: str | None = None,
              topics: Mapping[str, Sequence[str]] | None = None, evidence: str | None = None,
              status: str | None = None, phases: Iterable[str] = (), published: str | None = None,
              watched_sites: Iterable[Mapping[str, Any]] = (), details: Mapping[str, Any] | None = None,
              eligibility: str | None = None, carried: bool = False,
              changes: Iterable[ChangeFact] = ()) -> RelevanceFacts:
        """Facts from a Record's or a Finding's fields and its `details` dict."""
        details = details or {}
        dated = own_date(kind, published, details)
        return cls(kind=kind, title=title or "", summary=summary or "", title_alt=title_alt,
                   topics=dict(topics or {}), evidence=evidence,
                   publication_types=_strings_or_none(details.get("publication_types")),
                   mesh=_strings_or_none(details.get("mesh")),
                   keywords=_strings_or_none(details.get("keywords")) or (),
                   conditions=_strings_or_none(details.get("conditions")) or (),
                   own_date=dated[0], date_kind=dated[1], status=status, phases=tuple(phases),
                   watched_sites=tuple(watched_sites), eligibility=eligibility, carried=carried,
                   changes=tuple(changes))

    @classmethod
    def from_record(cls, record: Any, **extra: Any) -> RelevanceFacts:
        """Facts from a sources.records.Record (tagged with its topics and watched sites)."""
        return cls.build(kind=record.kind, title=record.title, summary=record.summary,
                         title_alt=record.title_alt, topics=record.topics, evidence=record.evidence,
                         status=record.status, phases=record.phases, published=record.published,
                         watched_sites=record.watched_sites, details=record.details, **extra)


def _strings_or_none(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list | tuple):
        return None
    return tuple(v for v in value if isinstance(v, str))


DATE_KEYS = {"trial": ("first_posted", "published", "start_date"), "news": ("published",)}
LITERATURE_DATE_KEYS = ("entrez_date", "epub_date", "first_index_date", "published")


_MESH_IN_QUERY = re.compile(r'"([^"]+)"\[(?:mesh|mh|majr)[^\]]*\]', re.IGNORECASE)


def mesh_in_query(query: str | None) -> tuple[str, ...]:
    """MeSH headings a PubMed query names: '"Carcinoma, Hepatocellular"[Mesh]' -> that name."""
    return tuple(dict.fromkeys(_MESH_IN_QUERY.findall(query or "")))


DATE_LABELS = {"first_posted": ("first posted", "首次发布于"), "published": ("published", "发表于"),
               "start_date": ("started", "开始于")}


def own_date(kind: str, published: str | None, details: Mapping[str, Any]) -> tuple[str | None, str]:
    """The source's own date of a finding (never when hccwatch first saw it) and which it is:
    a trial's first posting (else its start), an article's PubMed entry (else e-publication,
    else issue) date, a news item's publication."""
    values = {**details, "published": published}
    for key in DATE_KEYS.get(kind, LITERATURE_DATE_KEYS):
        value = values.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip(), key if key in DATE_LABELS else "published"
    return None, "published"


# ---------------------------------------------------------------- text helpers

def fold(text: str) -> str:
    """NFKC (full-width and Roman-numeral characters to ASCII) and casefold."""
    if text.isascii():  # NFKC changes no ASCII text, and casefold is lower there
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def needles(terms: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The folded terms to look for, Latin and Chinese: a term containing another ('primary
    liver cancer', 'liver cancer') is found wherever the shorter one is, so only that is kept."""
    folded = {fold(t).strip() for t in terms if t.strip()}
    kept = sorted(t for t in folded if not any(o != t and o in t for o in folded))
    return tuple(t for t in kept if not _CJK.search(t)), tuple(t for t in kept if _CJK.search(t))


@lru_cache(maxsize=1024)
def term_pattern(term: str) -> re.Pattern[str]:
    """A folded term: word-bounded (plurals too) if Latin, anywhere if Chinese."""
    escaped = re.escape(term)
    return re.compile(escaped if _CJK.search(term) else rf"(?<![0-9a-z]){escaped}(?:e?s)?(?![0-9a-z])")


def term_at(term: str, folded: str) -> list[int]:
    """Where term_pattern(term) matches in the folded text (the starts re.finditer gives):
    the word-bounded pattern is tried only where str.find sees the term, since a pattern led
    by a lookbehind is otherwise tried at every character."""
    pattern, found = term_pattern(term), []
    match = match_at(pattern, folded, term)
    while match:
        found.append(match.start())
        match = match_at(pattern, folded, term, match.end())
    return found


_SENTENCE_END = re.compile(r"[.!?]\s+|[。！？]|\n")



MONTHS = {m: n for n, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                      "oct", "nov", "dec"), 1)}
SEASONS = {"spring": 4, "summer": 7, "fall": 10, "autumn": 10, "winter": 1}
_DATE_RE = re.compile(r"(\d{4})(?:[-/ ](\d{1,2}|[A-Za-z]+))?(?:[-/ ](\d{1,2}))?")


def parse_date(value: str | None) -> date | None:
    """A date from the shapes sources give: 2023-05-04, 2023-05, 2023, '2013 Spring',
    '2021 Jan-Feb', an ISO timestamp. A missing month is mid-year, a missing day mid-month."""
    match = _DATE_RE.match((value or "").strip())
    if not match:
        return None
    year, month_text, day_text = match.groups()
    month = _month(month_text)
    day = int(day_text) if day_text and month_text and month_text.isdigit() else 15
    try:
        return date(int(year), month or 7, day if month else 1)
    except ValueError:
        return date(int(year), month or 7, 1)


def _month(text: str | None) -> int | None:
    if not text:
        return None
    if text.isdigit():
        return int(text) if 1 <= int(text) <= 12 else None
    lowered = text.lower()
    return MONTHS.get(lowered[:3]) or SEASONS.get(lowered)


# ---------------------------------------------------------------- evidence tiers

@dataclass(frozen=True, slots=True)
class Tier:
    points: float
    en: str
    zh: str


TIERS = {
    "guideline": Tier(28, "guideline", "指南"),
    "meta-analysis": Tier(26, "meta-analysis", "荟萃分析"),
    "systematic review": Tier(26, "systematic review", "系统综述"),
    "phase 3 RCT": Tier(24, "phase 3 RCT", "III期随机对照试验"),
    "RCT": Tier(23, "randomized controlled trial", "随机对照试验"),
    "phase 3 trial": Tier(22, "phase 3 trial", "III期试验"),
    "phase 2 trial": Tier(18, "phase 2 trial", "II期试验"),
    "clinical trial": Tier(14, "clinical trial", "临床试验"),
    "cohort": Tier(12, "cohort / observational study", "队列/观察性研究"),
    "review": Tier(10, "review", "综述"),
    "news": Tier(8, "news", "新闻"),
    "unknown": Tier(7, "study type not known", "研究类型未知"),
    "opinion": Tier(6, "editorial / letter", "社论/通信"),
    "case report": Tier(5, "case report", "病例报告"),
    "preclinical": Tier(3, "preclinical (animal or cell study)", "临床前研究（动物/细胞）"),
    "retraction notice": Tier(2, "retraction notice", "撤稿声明"),
    "erratum": Tier(1, "erratum", "勘误"),
    "retracted": Tier(0, "retracted", "已撤稿"),
}

# NLM publication types (lower-cased) -> tier, strongest first; the rest say nothing of design.
PUB_TYPE_TIERS = (
    ("retracted publication", "retracted"), ("retraction of publication", "retraction notice"),
    ("practice guideline", "guideline"), ("guideline", "guideline"),
    ("consensus development conference", "guideline"), ("meta-analysis", "meta-analysis"),
    ("systematic review", "systematic review"),
    ("clinical trial, phase iii", "phase 3 trial"), ("randomized controlled trial", "RCT"),
    ("clinical trial, phase ii", "phase 2 trial"), ("clinical trial", "clinical trial"),
    ("controlled clinical trial", "clinical trial"), ("observational study", "cohort"),
    ("review", "review"), ("scoping review", "review"), ("case reports", "case report"),
    ("editorial", "opinion"), ("comment", "opinion"), ("letter", "opinion"),
    ("news", "news"), ("published erratum", "erratum"),
)
CELL_LINE_MESH = {"Cell Line", "Cell Line, Tumor", "Hep G2 Cells", "HeLa Cells", "Cell Line, Transformed"}
ANIMAL_MODEL_MESH = {"Mice", "Mice, Nude", "Mice, Inbred C57BL", "Mice, Inbred BALB C", "Mice, Knockout",
                     "Mice, Transgenic", "Rats", "Rats, Sprague-Dawley", "Disease Models, Animal",
                     "Xenograft Model Antitumor Assays", "Liver Neoplasms, Experimental"}


@dataclass(frozen=True, slots=True)
class Words:
    """A wording pattern, tried only when one of its literal anchors occurs in the text (a
    substring test is far cheaper than a regular-expression scan of an abstract), and then
    only where one of its leads occurs: every match of the pattern begins with a lead, and a
    pattern that begins with \b or a lookbehind is otherwise tried at every character."""

    latin: tuple[str, ...]
    chinese: tuple[str, ...]  # looked for only in texts that are not all ASCII
    pattern: re.Pattern[str]
    leads: tuple[tuple[str, ...], tuple[str, ...]]  # latin, chinese

    def search(self, text: str) -> bool:
        ascii_only = text.isascii()
        for anchor in self.latin if ascii_only else self.latin + self.chinese:
            if anchor in text:
                return self._at_a_lead(text, self.leads[0] if ascii_only else self.leads[0] + self.leads[1])
        return False

    def _at_a_lead(self, text: str, leads: tuple[str, ...]) -> bool:
        """pattern.search(text), trying the pattern only where a lead begins."""
        return any(match_at(self.pattern, text, lead) for lead in leads)


def _split(literals: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    split = literals.split("|")
    return tuple(a for a in split if a.isascii()), tuple(a for a in split if not a.isascii())


def _words(anchors: str, *patterns: str, leads: str | None = None) -> Words:
    """`leads`: where a match may begin, if not at an anchor."""
    return Words(*_split(anchors), re.compile("|".join(patterns)), _split(leads or anchors))


W_GUIDELINE = _words("guideline|consensus|position|指南|共识", r"\bguidelines?\b", r"\bconsensus\b",
                     r"\bposition (paper|statement)\b", "指南", "共识")
W_META = _words("meta|systematic|荟萃|系统评价", r"meta-?analys[ie]s", r"systematic(ally)? review", "荟萃分析",
                r"meta分析", "系统评价")
W_META_ABSTRACT = _words("meta-analy|metaanaly|meta analy|systematic review|prisma", r"\b(this|we (performed|conducted|did|undertook) a)\b[^.]{0,40}"
                         r"(meta-?analys|systematic review)", r"\bprisma\b", leads="this|we |prisma")
W_REVIEW_STRONG = _words(" review|summari", r"\b(this|our|the present) review\b", r"\bwe (review|summari[sz]e)\b",
                         r"\bhere,? we review\b", leads="this|our|the present|we |here")
# PubMed's narrow therapy filter (randomized AND controlled AND trial), with the wording of
# journals that write "randomly assigned" or "randomization" and "placebo" or "double-blind".
W_RANDOMIZED = _words("random|随机", r"randomi[sz](ed|ation)", r"randomly (assigned|allocated)", "随机")
W_CONTROLLED = _words("controlled|placebo|double-blind|对照", r"\bcontrolled\b", r"\bplacebo", r"double-blind",
                      "对照")
W_TRIAL = _words("trial|试验", r"\btrials?\b", "试验")
W_PHASE3 = _words("phase|期", r"\bphase[\s-]*(?:(?:i{1,2}|[12])[ab]?\s*/\s*)?(?:iii|3)(?![a-z0-9])", r"iii期", r"3期",
                  leads="phase|iii期|3期")
W_PHASE2 = _words("phase|期", r"\bphase[\s-]*(?:(?:i|1)[ab]?\s*/\s*)?(?:ii|2)[ab]?(?![a-z0-9/])", r"(?<!i)ii期",
                  r"(?<!\d)2期", leads="phase|ii期|2期")
W_PRECLINICAL = _words(" mice| mouse| murine| rat |rats|xenograft|cell line|in vitro|orthotopic|zebrafish|小鼠|大鼠|裸鼠|"
                       "细胞系|移植瘤",
                       r"\b(mice|mouse|murine|rats?|xenografts?|cell lines?|in vitro|orthotopic|zebrafish)\b",
                       "小鼠", "大鼠", "裸鼠", "细胞系", "移植瘤",
                       leads="mice|mouse|murine|rat|xenograft|cell line|in vitro|orthotopic|zebrafish|小鼠|大鼠|裸鼠|"
                             "细胞系|移植瘤")
W_MECHANISM_TITLE = _words("via|through|by ",
                           r"\b(promotes?|drives?|inhibits?|suppresses?|facilitates?|enhances?|induces?|"
                           r"attenuates?|regulates?|mediates?|accelerates?|confers?)\b.{1,120}"
                           r"\b(via|through|by [a-z]+ing)\b",
                           leads="promote|drive|inhibit|suppress|facilitate|enhance|induce|attenuate|regulate|"
                                 "mediate|accelerate|confer")
W_CASE = _words("case report|case of|we report|we present|we describe|病例报告|一例",
                r"\bcase reports?\b", r"\ba (rare )?case of\b",
                r"\bwe (report|present|describe) (a|an|one|two|three) (patients?|cases?|man|woman)\b",
                "病例报告", "一例", leads="case report|a case of|a rare case of|we report|we present|we describe|"
                                      "病例报告|一例")
# An age begins with any digit: looked for only in texts that say "year-old".
W_CASE_AGE = _words("year-old", r"\b\d+-year-old (man|woman|male|female|patient)\b", leads="|".join("0123456789"))
W_COHORT = _words("cohort|retrospective|prospective|real-world|registry|population-based|propensity|队列|回顾性|"
                  "前瞻性|真实世界",
                  r"\b(cohort|retrospective(ly)?|prospective(ly)?|real-world|registry|population-based|"
                  r"propensity)\b", "队列", "回顾性", "前瞻性", "真实世界")
W_REVIEW_TITLE = _words("review|update|overview|current|advances|progress|综述|进展",
                        r"\breview\b", r"\ban update\b", r"\boverview\b", r"\bcurrent (status|concepts)\b",
                        r"\badvances in\b", r"\bprogress in\b", "综述", "进展",
                        leads="review|an update|overview|current|advances|progress|综述|进展")


@dataclass(frozen=True, slots=True)
class Evidence:
    tier: str
    source: str  # "publication type" | "MeSH" | "words" | "none"


def classify_evidence(facts: RelevanceFacts) -> Evidence:
    """The evidence tier of an article, preprint or news item: from publication types when
    they say something about design, else preclinical from MeSH, else from the title and
    abstract (PubMed assigns types weeks after an article appears)."""
    if facts.evidence == "retracted":
        return Evidence("retracted", "publication type")
    from_types = _tier_from_types(facts.publication_types or ())
    if from_types:
        return Evidence(from_types, "publication type")
    if _preclinical_mesh(facts.mesh or ()):
        return Evidence("preclinical", "MeSH")
    from_words = tier_from_words(facts.folded_title, facts.folded_summary)
    if from_words:
        return Evidence(from_words, "words")
    return Evidence("news" if facts.kind == "news" else "unknown", "none")


def _tier_from_types(pub_types: Iterable[str]) -> str | None:
    types = {t.strip().lower() for t in pub_types}
    found = [tier for name, tier in PUB_TYPE_TIERS if name in types]
    if not found:
        return None
    if found[0] == "phase 3 trial" and "RCT" in found:
        return "phase 3 RCT"
    return found[0]


def _preclinical_mesh(mesh: Sequence[str]) -> bool:
    names = set(mesh)
    return (("Animals" in names and "Humans" not in names) or not names.isdisjoint(ANIMAL_MODEL_MESH)
            or not names.isdisjoint(CELL_LINE_MESH))


def tier_from_words(title: str, abstract: str) -> str | None:
    """The tier title and abstract wording suggest (both already folded), or None."""
    text = f" {title}\n{abstract} "
    if W_GUIDELINE.search(title):
        return "guideline"
    if W_META.search(title) or W_META_ABSTRACT.search(abstract):
        return "systematic review" if "systematic" in title and "meta" not in title else "meta-analysis"
    if W_REVIEW_STRONG.search(abstract):
        return "review"
    if W_RANDOMIZED.search(text) and W_TRIAL.search(text) and \
            (W_CONTROLLED.search(text) or W_PHASE3.search(text)):
        return "phase 3 RCT" if W_PHASE3.search(text) else "RCT"
    for pattern, tier in ((W_PHASE3, "phase 3 trial"), (W_PHASE2, "phase 2 trial")):
        if pattern.search(title):
            return tier
    if W_PRECLINICAL.search(text) or W_MECHANISM_TITLE.search(title):
        return "preclinical"
    for pattern, tier in ((W_CASE, "case report"), (W_CASE_AGE, "case report"), (W_COHORT, "cohort")):
        if pattern.search(text):
            return tier
    return "review" if W_REVIEW_TITLE.search(title) else None


# ---------------------------------------------------------------- the score

@dataclass
class _Tally:
    """Points and reasons gathered while scoring; reasons keep the order they are added in,
    except priority reasons, which go first."""

    points: float = 0.0
    factor: float = 1.0
    priority: list[Why] = field(default_factory=list)
    reasons: list[Why] = field(default_factory=list)
    notes: list[Why] = field(default_factory=list)  # what was missing, said last

    def add(self, points: float, en: str | None = None, zh: str | None = None) -> None:
        self.points += points
        if en:
            self.reasons.append(Why(en, zh or en))

    def note(self, en: str, zh: str) -> None:
        self.notes.append(Why(en, zh))

    def result(self) -> Relevance:
        score = self.points * self.factor + (PRIORITY if self.priority else 0.0)
        return Relevance(round(score, 2), self.priority + self.reasons + self.notes)


def score(facts: RelevanceFacts, ctx: RelevanceContext, *, today: date) -> Relevance:
    """The relevance of one finding to this patient (higher first) and why."""
    tally = _Tally()
    _topics(tally, facts, ctx)
    if facts.kind == "trial":
        _trial(tally, facts, today)
    else:
        _evidence(tally, facts)
    _focus(tally, facts, ctx)
    _recency(tally, facts, today)
    _priority(tally, facts, today)
    return tally.result()


KIND_NOUN = {"trial": ("trial", "试验"), "article": ("paper", "论文"), "preprint": ("preprint", "预印本"),
             "news": ("news", "新闻")}


def _topics(tally: _Tally, facts: RelevanceFacts, ctx: RelevanceContext) -> None:
    ranked = ranked_topics(facts.topics, ctx)
    noun_en, noun_zh = KIND_NOUN.get(facts.kind, (facts.kind, facts.kind))
    if not ranked:
        tally.add(0, f"{noun_en} matching no watchlist topic", f"未匹配关注主题的{noun_zh}")
        return
    weights = [weight for _, weight in ranked]
    extra = sum(min(w, 1.0) * EXTRA_TOPIC_POINTS for w in weights[1:])
    name_en, name_zh = _topic_names(ranked[0][0], facts.topics.get(ranked[0][0], ()), ctx)
    tally.add(TOPIC_POINTS * weights[0] + min(extra, EXTRA_TOPIC_CAP), f"{name_en} {noun_en}",
              f"{name_zh}{noun_zh}")
    for topic_id, _ in ranked:
        info = ctx.topics.get(topic_id)
        if info is None:
            tally.note(f"topic '{topic_id}' is not in the watchlist: weight unknown",
                       f"主题“{topic_id}”不在关注列表中：权重未知")


def ranked_topics(topics: Mapping[str, Sequence[str]], ctx: RelevanceContext) -> list[tuple[str, float]]:
    """(topic id, weight) of a finding's topics, heaviest first; ties go to the option topic,
    then to watchlist order."""
    return [(t, -ctx.rank(t)[0]) for t in sorted(topics, key=ctx.rank)]


def primary_topic(topics: Mapping[str, Sequence[str]], ctx: RelevanceContext) -> str | None:
    """The most specific topic of a finding (what it is filed under), or None."""
    ranked = ranked_topics(topics, ctx)
    return ranked[0][0] if ranked else None


def _topic_names(topic_id: str, terms: Sequence[str], ctx: RelevanceContext) -> tuple[str, str]:
    """A short English and Chinese name: the label's acronym or code if it has one (QL1706,
    HCC), else the first term that matched, else the label."""
    info = ctx.topics.get(topic_id)
    latin = chinese = None
    for term in terms:
        if not term or term.startswith("query:"):
            continue
        if term.isascii() or not _CJK.search(term):
            latin = latin or term
        else:
            chinese = chinese or term
    if info is None:
        return latin or topic_id, chinese or latin or topic_id
    en = short_label(info.label)
    if len(en) > 24 and latin:
        en = latin
    zh = short_label(info.label_zh) if info.label_zh else (chinese or en)
    return en, zh


_PARENS = re.compile(r"^(.*?)\s*[（(]([^()（）]+)[)）]\s*$")
_CODE = re.compile(r"^(?=.*[A-Z0-9])[A-Z0-9][A-Za-z0-9+\-/]{0,11}$")


@lru_cache(maxsize=1024)
def short_label(label: str) -> str:
    """'Iparomlimab and tuvonralimab (QL1706)' -> 'QL1706'; 'TACE (transarterial ...)' -> 'TACE'."""
    match = _PARENS.match(label.strip())
    if not match:
        return label.strip()
    outer, inner = match.group(1).strip(), match.group(2).strip()
    return inner if _CODE.match(inner) and not _CODE.match(outer) else outer


def _evidence(tally: _Tally, facts: RelevanceFacts) -> None:
    evidence = classify_evidence(facts)
    tier = TIERS[evidence.tier]
    if evidence.source == "words":
        tally.add(tier.points, f"{tier.en} (by its wording)", f"{tier.zh}（据标题/摘要用词）")
    elif evidence.tier in ("unknown", "news") and facts.kind == "news":
        tally.add(tier.points)
    else:
        tally.add(tier.points, tier.en, tier.zh)
    if evidence.tier == "retracted":
        tally.factor *= 0.3
    if facts.kind == "preprint":
        tally.add(-2, "preprint, not peer reviewed", "预印本，未经同行评议")
    elif facts.kind != "news" and not facts.publication_types:
        tally.note("no publication type yet", "尚无文献类型")
    if facts.kind != "news" and not facts.summary.strip():
        tally.note("no abstract", "无摘要")


STATUS_POINTS = {
    "RECRUITING": (24, "recruiting", "招募中"),
    "NOT_YET_RECRUITING": (20, "not yet recruiting", "尚未开始招募"),
    "ENROLLING_BY_INVITATION": (10, "enrolling by invitation", "仅限受邀入组"),
    "AVAILABLE": (10, "expanded access available", "可申请扩展使用"),
    "ACTIVE_NOT_RECRUITING": (6, "active, not recruiting", "进行中，不再招募"),
    "COMPLETED": (2, "completed", "已完成"),
    "TERMINATED": (0, "terminated", "已终止"),
    "WITHDRAWN": (0, "withdrawn", "已撤回"),
    "SUSPENDED": (0, "suspended", "已暂停"),
}
OPEN_STATUSES = {"RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "AVAILABLE"}
CLOSED_STATUSES = {"COMPLETED", "TERMINATED", "WITHDRAWN", "SUSPENDED", "NO_LONGER_AVAILABLE"}
CLOSED_FACTOR = 0.4  # a finished or stopped trial the patient cannot join ranks low
PHASE_POINTS = {"PHASE3": 8, "PHASE4": 5, "PHASE2": 6, "PHASE1": 3, "EARLY_PHASE1": 2}
PHASE_NAMES = {"PHASE1": ("1", "I"), "PHASE2": ("2", "II"), "PHASE3": ("3", "III"), "PHASE4": ("4", "IV"),
               "EARLY_PHASE1": ("early 1", "早期I")}
ELIGIBILITY_POINTS = {"may_fit": (14, "may fit this patient", "可能符合入组条件"),
                      "unclear": (6, "eligibility unclear: questions for the doctor", "能否入组待确认"),
                      "likely_excluded": (-10, "likely excluded", "可能不符合入组条件")}
JUST_CHANGED_POINTS = 12


def _trial(tally: _Tally, facts: RelevanceFacts, today: date) -> None:
    _trial_status(tally, facts, today)
    phases = [p for p in facts.phases if p in PHASE_NAMES]
    if phases:
        tally.add(max(PHASE_POINTS.get(p, 0) for p in phases),
                  "phase " + "/".join(PHASE_NAMES[p][0] for p in phases),
                  "/".join(PHASE_NAMES[p][1] for p in phases) + "期")
    verdict = ELIGIBILITY_POINTS.get(facts.eligibility or "")
    if verdict:
        tally.add(*verdict)


def _trial_status(tally: _Tally, facts: RelevanceFacts, today: date) -> None:
    points, en, zh = STATUS_POINTS.get(facts.status or "", (4, None, None))
    if en is None:
        tally.note("recruitment status unknown", "招募状态未知")
    if recent_changes(facts, today) and points < JUST_CHANGED_POINTS:
        points, en, zh = JUST_CHANGED_POINTS, f"just changed: {en or 'status'}", f"近期变更：{zh or '状态'}"
    elif facts.status in CLOSED_STATUSES:
        tally.factor *= CLOSED_FACTOR
    places = _watched_places(facts)
    if places and facts.status in OPEN_STATUSES:
        tally.add(points + 16, f"{en} in {', '.join(p[0] for p in places)}",
                  f"{'、'.join(p[1] for p in places)}{zh}")
        return
    tally.add(points, en, zh)
    if places:
        tally.add(8, f"site in {', '.join(p[0] for p in places)}", f"{'、'.join(p[1] for p in places)}有研究点")


def _watched_places(facts: RelevanceFacts) -> list[tuple[str, str]]:
    """Watched places with a site of this trial, those with an open site first."""
    seen: dict[str, tuple[str, str, bool]] = {}
    for site in facts.watched_sites:
        name = str(site.get("place") or "")
        if name:
            open_site = (site.get("status") or facts.status) in OPEN_STATUSES
            _, _, was_open = seen.get(name, ("", "", False))
            seen[name] = (name, str(site.get("place_zh") or name), open_site or was_open)
    return [(n, z) for n, z, _ in sorted(seen.values(), key=lambda s: not s[2])]


def recent_changes(facts: RelevanceFacts, today: date) -> list[ChangeFact]:
    """Significant changes seen within the last RECENT_CHANGE_DAYS."""
    return [c for c in facts.changes
            if c.significance != "minor" and 0 <= (today - c.seen).days <= RECENT_CHANGE_DAYS]


def _focus(tally: _Tally, facts: RelevanceFacts, ctx: RelevanceContext) -> None:
    """Whether the finding is about the disease or only names it in passing."""
    if not ctx.disease_terms and not ctx.disease_mesh:
        return
    focus = disease_focus(facts, ctx)
    label, label_zh = ctx.disease_label, ctx.disease_label_zh
    if focus == "passing":
        tally.factor *= 0.35
        tally.add(0, f"{label} mentioned only in passing", f"仅顺带提及{label_zh}")
    elif focus == "absent":
        tally.factor *= 0.6
        tally.add(0, f"{label} not named", f"未提及{label_zh}")
    elif focus == "unknown":
        tally.factor *= 0.8
        tally.note(f"how much it is about {label} is unknown", f"是否关于{label_zh}未知")
    elif focus == "abstract":
        tally.factor *= 0.9


def disease_focus(facts: RelevanceFacts, ctx: RelevanceContext) -> str:
    """'main' (title, MeSH, conditions or keywords name the disease), 'abstract' (several
    sentences do), 'passing' (one sentence of a longer abstract), 'absent', or 'unknown' (no
    abstract to tell)."""
    if any(m in ctx.disease_mesh for m in facts.mesh or ()):
        return "main"
    if ctx.names_disease("\n".join([facts.title, facts.title_alt or "", *facts.conditions, *facts.keywords])):
        return "main"
    if not facts.summary.strip():
        return "unknown" if facts.kind != "trial" else "absent"
    summary = facts.folded_summary.rstrip()
    hits = ctx.disease_at(summary)
    if not hits:
        return "absent"
    if _SENTENCE_END.search(summary, min(hits), max(hits)):  # named in more than one sentence
        return "abstract"
    longer = len(list(islice(_SENTENCE_END.finditer(summary), 2))) == 2  # three sentences or more
    return "passing" if longer else "abstract"


def _recency(tally: _Tally, facts: RelevanceFacts, today: date) -> None:
    when = parse_date(facts.own_date)
    if when is None:
        tally.note("date unknown", "日期未知")
        return
    age = max(0, (today - when).days)
    posted, posted_zh = DATE_LABELS.get(facts.date_kind, DATE_LABELS["published"])
    shown = (facts.own_date or "")[:10]
    tally.add(RECENCY_POINTS * 0.5 ** (age / HALF_LIFE_DAYS), f"{posted} {shown}", f"{posted_zh}{shown}")


def _priority(tally: _Tally, facts: RelevanceFacts, today: date) -> None:
    """What must come first: a retraction of something a digest carried; a significant change
    on a trial the patient may fit."""
    retracted = facts.evidence == "retracted" or any(c.significance == "retraction" for c in facts.changes)
    if retracted and facts.carried:
        tally.priority.append(Why("retracted: a past digest carried it", "已撤稿：此前的摘要曾发送过"))
    changed = recent_changes(facts, today)
    if facts.kind == "trial" and facts.eligibility == "may_fit" and changed:
        words = list(dict.fromkeys(_change_words(c) for c in changed))
        tally.priority.append(Why(f"changed ({', '.join(w[0] for w in words)}) on a trial the patient may fit",
                                  f"可能符合的试验有变更（{'、'.join(w[1] for w in words)}）"))


CHANGE_WORDS = {"site": ("new site in a watched place", "关注地点新增研究点"),
                "site_status": ("site status", "研究点状态"), "phases": ("phase", "分期"),
                "results_first_posted": ("results posted", "已公布结果"),
                "eligibility": ("now may fit", "现可能符合"), "evidence": ("retracted", "已撤稿")}


def _change_words(change: ChangeFact) -> tuple[str, str]:
    if change.field == "status" and change.new in STATUS_POINTS:
        _, en, zh = STATUS_POINTS[change.new]
        return en, zh
    return CHANGE_WORDS.get(change.field, (change.field.replace("_", " "), "有变更"))
