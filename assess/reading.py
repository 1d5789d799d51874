"""What the concept rules share: a criterion clause in normalized form, a Reading (one concept's
judgement of one clause), negation and "allowed" cues, time windows, and tri-state judging."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from assess.criteria import Criteria

FITS, EXCLUDES, ASK, UNREAD = "fits", "excludes", "ask", "unread"
QUOTE_LIMIT = 300
STEM = 5
_TOKEN = re.compile(r"[a-z0-9]+")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SCRIPT_CHANGE = re.compile(r"(?<=[a-z0-9])(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff])(?=[a-z0-9])")
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "twelve": 12, "a": 1, "an": 1}
UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365, "天": 1, "日": 1, "周": 7, "个月": 30,
             "月": 30, "年": 365}
def fast(pattern: str) -> re.Pattern[str]:
    """Compile with the top-level alternatives that start with \\b gathered under one \\b(?:...)
    group: `re` is 5-10x slower on a flat mix of \\b-led English words and Chinese literals
    (measured on the dev set's clauses). Same matches, up to which alternative wins a tie."""
    alternatives = _top_level(pattern)
    bounded = [a[2:] for a in alternatives if a.startswith("\\b")]
    rest = [a for a in alternatives if not a.startswith("\\b")]
    if len(bounded) < 2:
        return re.compile(pattern)
    return re.compile("|".join([rf"\b(?:{'|'.join(bounded)})", *rest]))


def _top_level(pattern: str) -> list[str]:
    parts, depth, start, index, in_class = [], 0, 0, 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:index])
            start = index + 1
        index += 1
    return parts + [pattern[start:]]


_CHARS = str.maketrans({"\u2264": "<=", "\u2266": "<=", "\u2a7d": "<=", "\u2265": ">=", "\u2267": ">=",
                        "\u2a7e": ">=", "\u2013": "-", "\u2014": "-", "\u2212": "-", "~": "-",
                        "\u301c": "-", "\uff5e": "-", "\u2018": "'", "\u2019": "'", "·": " ", "•": " ",
                        "\t": " "})
# One pass over each clause: comparator words become symbols ("at least" -> ">="), a bare "="
# (a "≤" or "≥" a mirror lost) becomes "?=", "but not limited to" loses its "not". The English
# words sit under one \\b group: `re` is several times slower on many \\b-led alternatives.
_SYMBOLS = (
    ("<=", r"(?:no|not) (?:more|greater|higher|older) than|not exceed(?:ing)?|at most|up to|"
           r"不超过|不大于|不高于|最多"),
    (">=", r"(?:no|not) (?:less|fewer|lower|younger) than|at least|minimum of|不低于|不少于|不小于|至少"),
    (">", r"(?:more|greater|higher|older) than|over|above|exceed(?:ing|s)?|大于|高于|超过"),
    ("<", r"(?:less|fewer|lower|younger) than|below|under|小于|低于|少于"),
    ("such as", r"(?:but )?not limited to"),
)
_SYMBOL_OF = [(symbol, re.compile(f"^(?:{words})$")) for symbol, words in _SYMBOLS]
_PHRASES = re.compile(
    r"\b(?:(?:no|not) (?:more|greater|higher|older|less|fewer|lower|younger) than|not exceed(?:ing)?"
    r"|at most|up to|at least|minimum of|(?:more|greater|higher|older|less|fewer|lower|younger) than"
    r"|over|above|exceed(?:ing|s)?|below|under|(?:but )?not limited to)\b"
    r"|不超过|不大于|不高于|最多|不低于|不少于|不小于|至少|大于|高于|超过|小于|低于|少于"
    r"|=(?<![<>!=?]=)\s*(?=\d)|  +")


_PHRASE_WORDS = frozenset(["no", "not", "at", "up", "over", "above", "below", "under", "more", "greater", "higher", "older", "less", "fewer", "lower", "younger", "minimum", "exceed", "exceeding", "exceeds", "limited"])
_POSTFIX_WORDS = frozenset(("or", "and"))


def _symbol(match: re.Match[str]) -> str:
    text = match.group(0)
    if text.startswith("="):
        return "?= "
    return next((symbol for symbol, words in _SYMBOL_OF if words.match(text)), " ")


_POSTFIX = [(re.compile(p), r) for p, r in (
    (r"(\d+)\s*(years?|岁|分|points?)?\s*(?:or|and) (?:older|over|above|more|greater|higher)\b",
     r">= \1 \2"),
    (r"(\d+)\s*(years?|岁|分|points?)?\s*(?:or|and) (?:younger|under|below|less|fewer|lower)\b",
     r"<= \1 \2"),
    (r"(\d+)\s*(岁|分|周|天|个月)?\s*以上", r">= \1\2"), (r"(\d+)\s*(岁|分|周|天|个月)?\s*以下", r"<= \1\2"),
)]
_NEGATION = fast(
    r"(?:\b(?:no|not|without|never|nor|neither|free of|absence of|lack of|excluding|exclude"
    r"|must not|cannot|have not|has not|had not|did not|was not|were not)\b|未|无|没有|不|非)"
    r"(?!.*\b(?:but|unless|except|however|although|other than)\b)[^;]*$")
_NAIVE_AFTER = fast(r"^[\s-]{0,2}(?:na[iï]ve|free)\b")
# "... are excluded" / "is not allowed" after a statement: the trial does not want it, in either list.
_FORBIDDEN_AFTER = fast(r"^[^.;]{0,40}\b(?:are|is|will be|be) (?:not (?:allowed|permitted|eligible)"
                        r"|excluded|prohibited)\b|^[^.;]{0,30}不允许")
_ALLOWED_AFTER = fast(r"^[^.;]{0,80}\b(?:is|are|will be|be|was|were)?\s*(?:allowed|permitted"
                            r"|acceptable|accepted|eligible|included)\b|^[^.;]{0,40}(?<!不)(?:允许|可以入组|可入组)"
                            r"|^[^.;,，、(]{0,10}除外"   # "(TACE除外)": TACE is the exception
                            r"|^[^.;]{0,60}\b(?:may|can) (?:be enrolled|be included|participate)\b")
_ALLOWED_BEFORE = fast(r"\b(?:regardless of|irrespective of|with or without|allowed|permitted|not only)"
                             r"\b[^.;]{0,40}$")
_WINDOW_WITHIN = fast(
    r"(?:\bwithin\b\s*(?:the\s*)?(?:past|last|previous|prior|preceding)?\s*|<=?\s*|\bin the "
    r"(?:past|last|previous|preceding)\s*|\bduring the (?:past|last|previous)\s*)"
    r"(\d+|one|two|three|four|five|six|eight|twelve)\s*(?:calendar\s*)?(day|week|month|year)s?\b"
    r"|(\d+)\s*(天|日|周|个月|月|年)内")
_WINDOW_SINCE = fast(
    r"(?:>=?|\bmore than\b)\s*(\d+|one|two|three|four|six|eight|twelve)\s*(day|week|month|year)s?"
    r"\s*(?:have\s*)?(?:since|after|from|prior|before|elapsed|passed|ago)"
    r"|(\d+|one|two|three|four|six|eight|twelve)\s*(day|week|month|year)s?\s*(?:or more\s*)?"
    r"(?:since|have (?:elapsed|passed))"
    r"|(?:完成|结束)[^，。；]{0,10}?(\d+)\s*(天|日|周|个月|月)")
_WINDOW_HINT = re.compile(r"day|week|month|year|天|日|周|月|年")
_WINDOW_BARE = fast(
    r"(\d+|one|two|three|four|six|eight|twelve)\s*(day|week|month|year)s?\s*(?:before|prior to)"
    r"\s*(?:the\s*)?(?:first dose|enrol|enroll|random|registration|study|screening|start|baseline"
    r"|treatment|inclusion|the first)")


@dataclass(frozen=True)
class Clause:
    """One clause of one criterion item; `low` is lower-cased with comparators normalized;
    `words` and `stems` (their first five letters) feed the rules' gates."""

    text: str
    low: str
    section: str
    item: int
    item_text: str
    words: frozenset[str] = frozenset()
    stems: frozenset[str] = frozenset()
    cjk: bool = False

    @property
    def quote(self) -> str:
        if len(self.item_text) <= QUOTE_LIMIT:
            return self.item_text
        return self.text if len(self.text) <= QUOTE_LIMIT else self.text[:QUOTE_LIMIT - 1] + "…"


@dataclass(frozen=True)
class Reading:
    """One concept's judgement of one clause. `why` names the requirement ("Child-Pugh A");
    `wanted` is whether the clause wants the statement true (kept for alternatives)."""

    concept: str
    effect: str
    why: str = ""
    why_zh: str = ""
    question: str | None = None
    question_zh: str | None = None
    wanted: bool | None = None
    span: tuple[int, int] = (0, 0)


def _normalized(text: str) -> tuple[str, frozenset[str], bool]:
    """The normalized clause, its words (taken before comparator words became symbols) and
    whether it holds Chinese; the phrase pass runs only when one of its words is there."""
    low = unicodedata.normalize("NFKC", text).lower().translate(_CHARS)
    low = low.replace("=<", "<=").replace("=>", ">=")
    words = frozenset(_TOKEN.findall(low))
    cjk = bool(_CJK.search(low))
    if cjk:   # "ecog评分0-1分" -> "ecog 评分 0-1 分": English words keep their \b boundaries
        low = _SCRIPT_CHANGE.sub(" ", low)
    if cjk or not words.isdisjoint(_POSTFIX_WORDS):
        for pattern, replacement in _POSTFIX:
            low = pattern.sub(replacement, low)
    if cjk or "=" in low or "  " in low or not words.isdisjoint(_PHRASE_WORDS):
        low = _PHRASES.sub(_symbol, low)
    return low, words, cjk


_CLAUSE_SPLIT = fast(r"\n|[;；。]|(?<=[a-z)\]0-9%])\.\s+(?=[A-Z(])")


def clauses_of(criteria: Criteria) -> list[Clause]:
    out = []
    for section in ("inclusion", "exclusion"):
        for index, item in enumerate(getattr(criteria, section)):
            for part in _CLAUSE_SPLIT.split(item):
                part = part.strip(" -*\t")
                if len(part) > 1:
                    out.append(_clause(part, section, index, item))
    return out


def _clause(text: str, section: str, item: int, item_text: str) -> Clause:
    low, words, cjk = _normalized(text)
    return Clause(text, low, section, item, item_text, words,
                  frozenset(w[:STEM] for w in words if len(w) >= STEM), cjk)


@dataclass(frozen=True)
class Gate:
    """A cheap first look: may this clause mention the concept? `re` tries every alternative of
    a pattern at every position (hundreds of ns per character for a list of dozens of terms), so
    the precise patterns run only on clauses whose words, word stems (first five letters) or
    Chinese text a gate lets through. A gate must let through everything its pattern matches."""

    words: frozenset[str]
    stems: frozenset[str]
    cjk: tuple[str, ...]

    def open(self, clause: Clause) -> bool:
        return (not self.words.isdisjoint(clause.words) or not self.stems.isdisjoint(clause.stems)
                or (clause.cjk and any(term in clause.low for term in self.cjk)))


def gate(words: str, cjk: str = "") -> Gate:
    """`words`: space-separated; a word of five letters or more stands for every word that
    starts with its first five ("ablation" lets through "ablative")."""
    listed = words.split()
    return Gate(frozenset(w for w in listed if len(w) < STEM),
                frozenset(w[:STEM] for w in listed if len(w) >= STEM), tuple(cjk.split()))


def negated(low: str, start: int, end: int) -> bool:
    """A negation cue before the trigger in the same clause ("no prior TACE"), or "-naive" /
    "are not allowed" after it."""
    return bool(_NEGATION.search(low[max(0, start - 150):start])
                or _NAIVE_AFTER.search(low[end:end + 80]) or forbidden(low, end))


def forbidden(low: str, end: int) -> bool:
    """'... are excluded' / 'is not allowed' / '不允许' after the statement."""
    return bool(_FORBIDDEN_AFTER.search(low[end:end + 80]))


def allowed(low: str, start: int, end: int) -> bool:
    """'Prior TACE is allowed' / 'regardless of prior therapy' (and not negated)."""
    after = re.sub(r"\([^)]*\)?", " ", low[end:end + 100])   # "(surgery allowed at stage B)" is about others
    if re.match(r"^[^.;]{0,60}\bnot (?:allowed|permitted|eligible)", after):
        return False
    return bool(_ALLOWED_AFTER.search(after) or _ALLOWED_BEFORE.search(low[max(0, start - 60):start]))


def _days(number: str, unit: str) -> int:
    count = NUMBER_WORDS.get(number) or int(number)
    return count * UNIT_DAYS[unit]


def window(low: str) -> tuple[str, int] | None:
    if not _WINDOW_HINT.search(low):
        return None
    """("since", 28) for "at least 4 weeks since ...", ("within", 28) for "within 4 weeks",
    ("bare", 28) for "4 weeks before the first dose" (its sense depends on the section)."""
    for mode, pattern in (("since", _WINDOW_SINCE), ("within", _WINDOW_WITHIN), ("bare", _WINDOW_BARE)):
        found = pattern.search(low)
        if found:
            groups = [g for g in found.groups() if g]
            return mode, _days(groups[0], groups[1])
    return None


def wanted(clause: Clause, start: int, end: int) -> bool:
    """Whether the clause wants its statement about the patient to hold: inclusion yes,
    exclusion no, each flipped by a negation cue; "... are excluded" after it means no in
    either list (in the exclusion list it restates the heading, it does not flip it)."""
    if forbidden(clause.low, end):
        return False
    return (clause.section == "inclusion") != negated(clause.low, start, end)


def judge(concept: str, truth: bool | None, want: bool, why: tuple[str, str],
          question: tuple[str, str], span: tuple[int, int] = (0, 0)) -> Reading:
    """Tri-state: the patient's truth for the statement against what the clause wants;
    unknown makes a question, never an exclusion."""
    if truth is None:
        return Reading(concept, ASK, *why, *question, wanted=want, span=span)
    effect = FITS if truth == want else EXCLUDES
    return Reading(concept, effect, *why, wanted=want, span=span)


def unread(concept: str, span: tuple[int, int] = (0, 0)) -> Reading:
    return Reading(concept, UNREAD, "not read", "未能自动判断", span=span)


def member(values: set | None, allowed_values: set) -> bool | None:
    """True if every value the patient may have is allowed, False if none is, else unknown."""
    if not values:
        return None
    inside = values & allowed_values
    if inside == values:
        return True
    return False if not inside else None
