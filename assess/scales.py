"""Concepts read as a value on a scale: age (text and structured limits), Child-Pugh, ECOG, BCLC.
Each clause's wording becomes the set of allowed values; the patient's possible values are
checked against it (all inside: fits, none: excludes, some: ask)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

from assess.profile import CHILD_PUGH_SCORES, Patient
from assess.reading import ASK, Clause, Reading, fast, gate, judge, member, unread, wanted

AGES = set(range(0, 121))
CP_SCORES = set(range(5, 16))
ECOG_VALUES = set(range(0, 6))
BCLC_ORDER = ("0", "A", "B", "C", "D")
QUESTIONS = {
    "age": ("How old is the patient (year of birth)?", "患者的年龄（出生年份）是多少？"),
    "child_pugh": ("What is the current Child-Pugh class and score (e.g. A5, B7)?",
                   "目前的Child-Pugh分级和评分是多少（如A5、B7）？"),
    "ecog": ("What is the ECOG performance status (0-4)?", "ECOG体能状态评分是多少（0-4）？"),
    "bclc": ("What is the current BCLC stage (0, A, B, C, D)?", "目前的BCLC分期是哪一期（0、A、B、C、D）？"),
}
_AGE_GATE = gate("age aged ages old yrs", "年龄 岁")
_AGE_TRIGGER = fast(r"\bage[ds]?\b|\byears? (?:of age|old)\b|\byrs? old\b|年龄|岁")
_AGE_BOUND = fast(r"(<=|>=|<|>|=)\s*(\d{1,3})(?!\d|\s*(?:x|%|mg|kg|cm|ml|ng|iu|g/|days?|weeks?|months?))")
_AGE_RANGE = fast(r"(\d{1,3})\s*(?:-|to|and|至|到)\s*(\d{1,3})\s*(?:years?|yrs?|岁|周岁)"
                        r"|(?:between|aged?|年龄)\s*(\d{1,3})\s*(?:years?\s*)?(?:-|to|and|至|到)\s*(\d{1,3})")
_CONDITIONAL = fast(r"(?:\bif\b|\bfor (?:patients|subjects|participants)\b|\bwhen\b|\bin case\b)[^.;]{0,20}$")
_NOT_AGE = re.compile(r"child-?bearing|pregnan|menopaus|menarche")
_AGE_FLIPPED = fast(r"(\d{1,3})\s*(<=|>=|<|>)\s*(?:the\s*)?age")
_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}
_AGE_SINGLE = fast(r"(?:\baged?\b|年龄)[^0-9<>=]{0,12}(\d{1,3})\s*(?:years?|岁)")
_STRUCTURED_AGE = re.compile(r"^\s*(\d+)\s*(years?|months?|weeks?|days?)\s*$", re.IGNORECASE)
_CP_GATE = gate("child childs pugh turcotte")
_CP_TRIGGER = fast(r"childs?[\s-]*(?:pugh|turcotte)|childs?[\s-]+(?:score|class)|\bchild(?=[\s-]*[abc]\d?\b)")
_CP_STOP = fast(r"[;.]\s|\b(?:ecog|bclc|performance|platelet|bilirubin|albumin|inr|within|"
                      r"prior|ascites|history|and no|with no|encephalopathy|meld|icg|age)\b|[,，](?!\s*(?:or|[abc]\d|\d))")
_CP_CLASS = fast(r"(?<![a-z])([abc])(?:\s*级)?\s*(\d{1,2})?(?![a-z])")
_CP_COMPARE = fast(r"(<=|>=|<|>)\s*(?:class\s*|grade\s*)?([abc]?)\s*(\d{1,2})?")
_CP_RANGE = fast(r"(?<![a-z\d])([abc]?)(\d{1,2})\s*(?:-|to|至|~)\s*([abc]?)(\d{1,2})(?!\d)")
# "评分5或6分", "5 or 6 points", "score of 7, 8 or 9": every number of the list counts, not only
# the one next to "score" or "points"
_CP_LIST = r"\d{1,2}(?:\s*(?:,\s*)?(?:or|and|,|或|、)\s*\d{1,2})*"
_CP_SCORES = fast(rf"(?:score|points?|评分|分)\D{{0,10}}?({_CP_LIST})|({_CP_LIST})\s*(?:points?|分)")
_WORSE = fast(r"^\s*(?:points?|分|级)?\s*(?:or|and|及)\s*(?:worse|higher|above|greater|more|以上)")
_ECOG_GATE = gate("ecog eastern performance ps", "体能状态 体力状况")
_ECOG_TRIGGER = fast(r"\becog\b|eastern (?:co-?operative|clinical|oncology) [a-z ]*group|"
                           r"performance status|\bps\b|体能状态|体力状况")
_ECOG_NOISE = fast(r"\(?\becog\b\)?|\(?\bps\b\)?|\(?\bwho\b\)?|performance status|physical (?:status|condition)|"
                         r"\bscores?\b|\bscale\b|\bgrade\b|\bstandard\b|\bstatus\b|\bof\b|\bis\b|\bwas\b|\bmust be\b|"
                         r"\bshould be\b|评分|分|[:：]|(?<![<>?])=")
_ECOG_VALUE = fast(r"[\s)(,.-]*(?:(<=|>=|<|>)\s*([0-5])|([0-5])\s*(?:-|to|至)\s*([0-5])"
                         r"|([0-5])(?:\s*,\s*([0-5]))?\s*,?\s*(?:or|and|或|/)\s*([0-5])|([0-5]))(?!\d|\.\d)")
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5"}
_ECOG_STOP = fast(r"\b(?:within|days?|weeks?|at|prior|before|karnofsky|kps|life)\b|[;]")
_BCLC_GATE = gate("bclc barcelona")
_BCLC_TRIGGER = fast(r"\bbclc\b|barcelona[\s-]+clinic[\s-]+liver[\s-]+cancer|\bbarcelona\b")
_BCLC_VALUE = fast(r"(?:stage|category|期|bclc|\)|:)?\s*([0abcd])(\d)?(?:\s*期)?(?=\W|$)")
_BCLC_STOP = fast(r"\b(?:ecog|child|performance|with(?:out)?|who|that|not|or cnlc|cnlc|if|"
                        r"patients?|disease|in case|unsuitable|refractory|hcc)\b|[;]|\((?!bclc)")


def read_age(clause: Clause, patient: Patient, today: date) -> list[Reading]:
    trigger = _AGE_GATE.open(clause) and _AGE_TRIGGER.search(clause.low)
    if not trigger or _CONDITIONAL.search(clause.low[:trigger.start()]) or _NOT_AGE.search(clause.low):
        return []
    allowed = _age_set(clause.low, trigger.start())
    if allowed is None:
        return [unread("age", trigger.span())] if re.search(r"\d", clause.low) else []
    return [_age_judgement(allowed, clause.section == "inclusion", patient, today, trigger.span())]


def _age_set(low: str, start: int) -> set[int] | None:
    text = low[max(0, start - 30):start + 90]
    ranged = _AGE_RANGE.search(text)
    if ranged:
        low_age, high_age = [int(g) for g in ranged.groups() if g]
        return set(range(low_age, high_age + 1)) if low_age < high_age else None
    text = _AGE_FLIPPED.sub(lambda m: f"age {_FLIP[m.group(2)]} {m.group(1)}", text)
    bounds = [(op, int(n)) for op, n in _AGE_BOUND.findall(text) if op != "=" and int(n) < 121]
    if bounds:
        either = re.search(r"\d\s*(?:years?|岁)?\s*(?:or|或)\s*[<>]", text)
        sets = [_bounded(AGES, [bound]) for bound in bounds]
        allowed = set().union(*sets) if either else set.intersection(*sets)
        return allowed or None
    single = _AGE_SINGLE.search(text)
    return {age for age in AGES if age >= int(single.group(1))} if single else None


def _bounded(universe: set[int], bounds: list[tuple[str, int]]) -> set[int]:
    tests = {"<": int.__lt__, "<=": int.__le__, ">": int.__gt__, ">=": int.__ge__}
    return {v for v in universe if all(tests[op](v, n) for op, n in bounds)}


def _patient_ages(patient: Patient, today: date) -> set[int] | None:
    if patient.birth_year is None:
        return None
    age = today.year - patient.birth_year
    return {age - 1, age} - {-1}


def _age_judgement(allowed: set[int], inside: bool, patient: Patient, today: date,
                   span: tuple[int, int] = (0, 0)) -> Reading:
    shown = (allowed if inside else AGES - allowed) or {0}
    low, high = min(shown), max(shown)
    label = f"age {low}-{high}" if high < 120 else f"age {low} or over"
    return judge("age", member(_patient_ages(patient, today), allowed), inside,
                 (label, f"年龄{low}-{high}岁" if high < 120 else f"年龄{low}岁以上"),
                 QUESTIONS["age"], span)


def structured_age(details: Mapping[str, Any], patient: Patient, today: date) -> tuple[Reading, str] | None:
    """The registry's minimumAge / maximumAge ("18 Years") as one age reading and its quote."""
    low = _years(details.get("minimum_age"))
    high = _years(details.get("maximum_age"))
    if low is None and high is None:
        return None
    allowed = set(range(int(low or 0), int(high) + 1 if high is not None else 121))
    quote = "; ".join(f"{name}: {details[key]}" for name, key in
                      (("Minimum age", "minimum_age"), ("Maximum age", "maximum_age")) if details.get(key))
    return _age_judgement(allowed or {0}, True, patient, today), quote


def _years(value: Any) -> float | None:
    match = _STRUCTURED_AGE.match(value) if isinstance(value, str) else None
    if not match:
        return None
    per_year = {"y": 1, "m": 12, "w": 52, "d": 365}[match.group(2)[0].lower()]
    return int(match.group(1)) / per_year


def read_child_pugh(clause: Clause, patient: Patient, today: date) -> list[Reading]:
    triggers = list(_CP_TRIGGER.finditer(clause.low)) if _CP_GATE.open(clause) else []
    if not triggers:
        return []
    found = first_allowed(triggers, lambda t: _cp_near(clause.low, t.start(), t.end()))
    if not found:
        return [unread("child_pugh", triggers[0].span())]
    trigger, allowed = found
    want = wanted(clause, trigger.start(), trigger.end())
    shown = allowed if want else CP_SCORES - allowed
    return [judge("child_pugh", member(_patient_cp(patient), allowed), want,
                  (f"Child-Pugh {_cp_label(shown, ' or ')}", f"Child-Pugh {_cp_label(shown, '或')}"),
                  QUESTIONS["child_pugh"],
                  trigger.span())]


def _cp_near(low: str, start: int, end: int) -> set[int]:
    """Allowed scores after the trigger, else in the few words before it ("Grade A or B
    Child-Pugh"); a bare "=" (a lost "≤" or "≥") reads as nothing."""
    tail = low[end:end + 70]
    stop = _CP_STOP.search(tail)
    tail = tail[:stop.start()] if stop else tail
    if re.search(r"(?<![<>])=\s*[abc]?\d", tail):
        return set()
    return _cp_set(tail) or _cp_set(low[max(0, start - 25):start].split(",")[-1])


def _cp_set(text: str) -> set[int]:
    """Scores (5-15) a Child-Pugh phrase allows: "A or B7", "<= 7", "score 5-6", "B8 or higher"."""
    text = re.sub(r"\b([abc])([abc])\b", r"\1 or \2", text)
    text = re.sub(r"\b(?:class|grade|liver function|status|rating|classification|of|is|"
                  r"cirrhosis|function|liver)\b|[()（）:]", " ", text)
    scores: set[int] = set()
    for match in _CP_RANGE.finditer(text):
        scores |= set(range(_score(match.group(1), match.group(2), low=True),
                            _score(match.group(3), match.group(4), low=False) + 1))
    text = _CP_RANGE.sub(" ", text)
    for op, letter, number in _CP_COMPARE.findall(text):
        if letter or number:
            bound = _score(letter, number, low=op in (">=", "<"))   # "> A": above A6; "< B": below B7
            scores |= _bounded(CP_SCORES, [(op, bound)])
    text = _CP_COMPARE.sub(" ", text)
    for match in _CP_CLASS.finditer(text):
        found = _class_scores(match.group(1), match.group(2))
        if _WORSE.match(text[match.end():]):
            found = set(range(min(found), 16))
        scores |= found
    scores |= {int(n) for groups in _CP_SCORES.findall(text) for group in groups
               for n in re.findall(r"\d+", group) if 5 <= int(n) <= 15}
    return scores & CP_SCORES


def _score(letter: str, number: str, low: bool) -> int:
    if number and 5 <= int(number) <= 15:
        return int(number)
    scores = CHILD_PUGH_SCORES.get(letter.upper()) if letter else None
    if scores is None:
        return 5 if low else 15
    return scores.start if low else scores.stop - 1


def _class_scores(letter: str, number: str | None) -> set[int]:
    scores = CHILD_PUGH_SCORES[letter.upper()]
    if number and int(number) in scores:
        return {int(number)}
    return set(scores)


def _cp_label(scores: set[int], joiner: str) -> str:
    classes = [c for c, r in CHILD_PUGH_SCORES.items() if set(r) <= scores]
    partial = sorted(s for s in scores if not any(s in CHILD_PUGH_SCORES[c] for c in classes))
    parts = classes + [f"{_class_of(s)}{s}" for s in partial]
    return joiner.join(parts)


def _class_of(score: int) -> str:
    return next(c for c, r in CHILD_PUGH_SCORES.items() if score in r)


def _patient_cp(patient: Patient) -> set[int] | None:
    if patient.child_pugh_score is not None:
        return {patient.child_pugh_score}
    if patient.child_pugh_class:
        return set(CHILD_PUGH_SCORES[patient.child_pugh_class])
    return None


def read_ecog(clause: Clause, patient: Patient, today: date) -> list[Reading]:
    found = _ECOG_TRIGGER.finditer(clause.low) if _ECOG_GATE.open(clause) else ()
    triggers = [t for t in found if not re.search(
        r"karnofsky|\bkps\b|lansky", clause.low[max(0, t.start() - 20):t.end() + 20])]
    if not triggers:
        return []
    found = first_allowed(triggers, lambda t: _ecog_after(clause.low, t.end()))
    if not found:
        return [unread("ecog", triggers[0].span())]
    trigger, allowed = found
    want = wanted(clause, trigger.start(), trigger.end())
    shown = allowed if want else ECOG_VALUES - allowed
    label = "-".join(str(v) for v in sorted({min(shown), max(shown)})) if shown else "none"
    return [judge("ecog", member({patient.ecog} if patient.ecog is not None else None, allowed),
                  want, (f"ECOG {label}", f"ECOG {label}"), QUESTIONS["ecog"], trigger.span())]


def first_allowed(triggers: Iterable[re.Match[str]],
                  read: Callable[[re.Match[str]], set[int]]) -> tuple[re.Match[str], set[int]] | None:
    """The first trigger next to which `read` finds the allowed values, with those values."""
    for trigger in triggers:
        allowed = read(trigger)
        if allowed:
            return trigger, allowed
    return None


def _ecog_after(low: str, end: int) -> set[int]:
    """The ECOG values allowed by the words after a trigger (up to where the clause moves on)."""
    tail = low[end:end + 80]
    stop = _ECOG_STOP.search(tail)
    return _ecog_set(tail[:stop.start()] if stop else tail)


def _ecog_set(text: str) -> set[int]:
    if "?=" in text:
        return set()
    text = re.sub(r"\b(iv|v|iii|ii|i)\b", lambda m: _ROMAN[m.group(1)], _ECOG_NOISE.sub(" ", text))
    match = _ECOG_VALUE.match(text)
    if not match:
        return set()
    op, bound, first, last, a, b, c, single = match.groups()
    if op:
        return _bounded(ECOG_VALUES, [(op, int(bound))])
    if first:
        return set(range(int(first), int(last) + 1))
    if a:
        return {int(v) for v in (a, b, c) if v}
    return {int(single)}


def read_bclc(clause: Clause, patient: Patient, today: date) -> list[Reading]:
    trigger = _BCLC_GATE.open(clause) and _BCLC_TRIGGER.search(clause.low)
    if not trigger:
        return []
    tail = clause.low[trigger.end():trigger.end() + 60]
    stop = _BCLC_STOP.search(tail)
    stages, substaged = _bclc_set(tail[:stop.start()] if stop else tail)
    if not stages:
        return [unread("bclc", trigger.span())]
    want = wanted(clause, trigger.start(), trigger.end())
    label = "/".join(s for s in BCLC_ORDER if (s in stages) == want)
    truth = member({patient.bclc} if patient.bclc else None, stages)
    if substaged and truth is True:
        truth = None   # "BCLC B2": the sub-stage is not in the profile
    reading = judge("bclc", truth, want, (f"BCLC {label}", f"BCLC {label}期"), QUESTIONS["bclc"],
                    trigger.span())
    return [reading if reading.effect != ASK or patient.bclc is None else
            Reading("bclc", ASK, reading.why, reading.why_zh,
                    "Which BCLC sub-stage applies?", "属于BCLC哪个亚期？", want, trigger.span())]


def _bclc_set(text: str) -> tuple[set[str], bool]:
    text = re.sub(r"\bstages?\b|\bcategory\b|\bclass\b|\bgrade\b|\(bclc\)|\bof\b", " ", text)
    stages: set[str] = set()
    substaged = False
    ranged = re.search(r"(?<![a-z\d])([0abcd])\s*(?:-|to|至)\s*([0abcd])(?![a-z\d])", text)
    if ranged:
        first, last = (BCLC_ORDER.index(g.upper()) for g in ranged.groups())
        stages |= set(BCLC_ORDER[first:last + 1])
        text = text[:ranged.start()] + text[ranged.end():]
    for match in re.finditer(r"(?<![a-z\d.])([0abcd])(\d)?(?![a-z\d])", text):
        stages.add(match.group(1).upper())
        substaged = substaged or bool(match.group(2))
    return stages, substaged
