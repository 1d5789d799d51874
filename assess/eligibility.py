"""Eligibility pre-screen of one trial for one patient profile: criteria -> items -> clauses ->
concept readings -> verdict. Pure: no I/O, `today` passed in.

Verdicts: likely_excluded (a criterion read and failed: the deciding one is quoted), may_fit
(every criterion about the profile was read and passed), unclear (something is unknown or
unread: questions for the doctor, in English and Chinese). Never "eligible". A profile field
that is unknown makes a question, never an exclusion; alternatives joined by "or" exclude only
when every alternative does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import Any

from assess import disease, history, scales
from assess.criteria import Criteria, split_criteria
from assess.profile import Patient
from assess.reading import ASK, EXCLUDES, FITS, UNREAD, Clause, Reading, clauses_of

VERDICTS = ("likely_excluded", "may_fit", "unclear")
# Changes when the rules read differently, so stored verdicts are judged again.
RULES_VERSION = "2026-11-27.6"
# The concept names (a contract, DESIGN.md) and how pages and mails name them.
CONCEPTS = {
    "age": ("age", "年龄"), "sex": ("sex", "性别"), "diagnosis": ("diagnosis", "诊断"),
    "bclc": ("BCLC stage", "BCLC分期"), "child_pugh": ("Child-Pugh", "Child-Pugh分级"),
    "ecog": ("ECOG", "ECOG评分"), "prior_systemic": ("prior systemic therapy", "既往系统治疗"),
    "prior_locoregional": ("prior liver-directed therapy", "既往局部治疗"),
    "curative_treatment": ("surgery or ablation", "根治性治疗"), "transplant": ("transplant", "肝移植"),
    "vascular_invasion": ("vascular invasion", "血管侵犯"), "extrahepatic": ("spread outside the liver", "肝外转移"),
    "hbv": ("hepatitis B", "乙肝"), "hcv": ("hepatitis C", "丙肝"), "histology": ("tumour type", "病理类型"),
    "measurable_disease": ("measurable lesion", "可测量病灶"),
}
EFFECTS = {FITS: ("fits", "符合"), EXCLUDES: ("excludes", "不符合"), ASK: ("ask", "待确认"),
           UNREAD: ("not read", "未能读取")}
RULES = (scales.read_age, scales.read_child_pugh, scales.read_ecog, scales.read_bclc,
         disease.read_diagnosis_item, disease.read_histology, history.read_history,
         disease.read_vascular, disease.read_extrahepatic, disease.read_hbv, disease.read_hcv,
         disease.read_measurable)
QUESTIONS = {**scales.QUESTIONS, **history.QUESTIONS, **disease.QUESTIONS}
NO_CRITERIA = ("no criteria published", "未公布入选标准")
UNREAD_QUESTION = ("{n} criteria about the patient could not be read automatically: ask the doctor "
                   "to check them (marked on the trial page).",
                   "有{n}条与患者相关的标准无法自动判断：请医生核对（见试验页面标注）。")
_ALTERNATIVE_GAP = 60
_OR = re.compile(r"\bor\b|and/or|或|/")
_NOT_OR = re.compile(r"combined with|in combination|\bplus\b|together with|\band\b(?!/)|[,，]")


@dataclass(frozen=True)
class Reason:
    concept: str
    effect: str
    quote: str
    why: str = ""
    why_zh: str = ""
    section: str | None = None      # "inclusion" | "exclusion" | None (a structured field)
    item: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"concept": self.concept, "effect": self.effect, "quote": self.quote,
                "why": self.why, "why_zh": self.why_zh, "section": self.section, "item": self.item}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Reason:
        return cls(str(obj["concept"]), str(obj["effect"]), str(obj.get("quote") or ""),
                   str(obj.get("why") or ""), str(obj.get("why_zh") or ""), obj.get("section"),
                   obj.get("item"))


@dataclass(frozen=True)
class Eligibility:
    verdict: str
    reasons: tuple[Reason, ...] = ()
    questions: tuple[str, ...] = ()
    questions_zh: tuple[str, ...] = ()
    deciding: Reason | None = None
    inclusion: tuple[str, ...] = ()
    exclusion: tuple[str, ...] = ()
    note: tuple[str, str] | None = None
    unread: int = field(default=0)

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reasons": [r.to_json() for r in self.reasons],
                "questions": list(self.questions), "questions_zh": list(self.questions_zh),
                "deciding": self.deciding.to_json() if self.deciding else None,
                "inclusion": list(self.inclusion), "exclusion": list(self.exclusion),
                "note": list(self.note) if self.note else None, "unread": self.unread}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Eligibility:
        deciding = obj.get("deciding")
        note = obj.get("note")
        return cls(str(obj["verdict"]), tuple(Reason.from_json(r) for r in obj.get("reasons") or []),
                   tuple(obj.get("questions") or []), tuple(obj.get("questions_zh") or []),
                   Reason.from_json(deciding) if deciding else None,
                   tuple(obj.get("inclusion") or []), tuple(obj.get("exclusion") or []),
                   (str(note[0]), str(note[1])) if note else None, int(obj.get("unread") or 0))

    def summary(self) -> tuple[str, str]:
        """One short line for cards, English and Chinese."""
        if self.verdict == "likely_excluded" and self.deciding:
            return (f"likely not: {self.deciding.why}", f"可能不符合：{self.deciding.why_zh}")
        if self.verdict == "may_fit":
            fits = _distinct((r.why, r.why_zh) for r in self.reasons if r.effect == FITS)[:3]
            return ("may fit: " + ", ".join(en for en, _ in fits), "可能符合：" + "，".join(zh for _, zh in fits))
        if self.note:
            return f"unclear: {self.note[0]}", f"不确定：{self.note[1]}"
        asked = list(dict.fromkeys(CONCEPTS.get(r.concept, (r.concept, r.concept))
                                   for r in self.reasons if r.effect in (ASK, UNREAD)))[:3]
        n = len(self.questions)
        return (f"unclear: ask about {', '.join(en for en, _ in asked)} ({n} question{'s' if n != 1 else ''})",
                f"不确定：需确认{'、'.join(zh for _, zh in asked)}（{n}个问题）")

    def marks(self, section: str, item: int) -> list[Reason]:
        """The read concepts of one criterion item (for the two lists on the trial page)."""
        return [r for r in self.reasons if r.section == section and r.item == item]


def screen(details: Mapping[str, Any], patient: Patient, *, today: date) -> Eligibility:
    """Pre-screen one trial (a Record's or Finding's `details`) for the patient."""
    text = details.get("eligibility_criteria")
    criteria = split_criteria(text if isinstance(text, str) else None)
    reasons = _structured(details, criteria, patient, today)
    for clause, readings in _read_clauses(criteria, patient, today):
        reasons += [(r, clause) for r in readings]
    return _verdict(reasons, criteria)


def _structured(details: Mapping[str, Any], criteria: Criteria, patient: Patient,
                today: date) -> list[tuple[Reading, Any]]:
    found = [scales.structured_age(details, patient, today), disease.sex_reading(details, patient),
             disease.diagnosis_from_conditions(details, criteria.inclusion, patient)]
    return [(reading, quote) for reading, quote in filter(None, found)]


def _read_clauses(criteria: Criteria, patient: Patient, today: date):
    for clause in clauses_of(criteria):
        readings = [r for rule in RULES for r in rule(clause, patient, today)]
        if readings:
            yield clause, _alternatives(clause, readings)


def _alternatives(clause: Clause, readings: list[Reading]) -> list[Reading]:
    """In an inclusion clause, readings joined by a short "or" are alternatives: one that fits
    satisfies the clause, and one that excludes only asks while another is unknown."""
    if clause.section != "inclusion" or len(readings) < 2:
        return readings
    ordered = sorted(readings, key=lambda r: r.span)
    groups: list[list[Reading]] = [[ordered[0]]]
    for previous, reading in pairwise(ordered):
        gap = clause.low[previous.span[1]:reading.span[0]]
        if _is_or(gap):
            groups[-1].append(reading)
        else:
            groups.append([reading])
    return [r for group in groups for r in _resolve(group)]


def _is_or(gap: str) -> bool:
    return (len(gap) <= _ALTERNATIVE_GAP and bool(_OR.search(gap)) and not _NOT_OR.search(gap))


def _resolve(group: list[Reading]) -> list[Reading]:
    if len(group) < 2 or not any(r.effect == EXCLUDES for r in group):
        return group
    if any(r.effect == FITS for r in group):
        return [r for r in group if r.effect != EXCLUDES]
    if any(r.effect in (ASK, UNREAD) for r in group):
        return [r if r.effect != EXCLUDES else Reading(r.concept, ASK, r.why, r.why_zh,
                *QUESTIONS.get(r.concept, (None, None)), r.wanted, r.span) for r in group]
    return group


def _verdict(found: list[tuple[Reading, Any]], criteria: Criteria) -> Eligibility:
    reasons = tuple(_reason(reading, where) for reading, where in found)
    questions = _distinct((r.question, r.question_zh) for r, _ in found if r.effect == ASK and r.question)
    unread = sum(1 for r in reasons if r.effect == UNREAD)
    if unread:
        questions.append(tuple(q.format(n=unread) for q in UNREAD_QUESTION))
    excluding = [r for r in reasons if r.effect == EXCLUDES]
    base = dict(reasons=reasons, questions=tuple(q for q, _ in questions),
                questions_zh=tuple(z for _, z in questions), inclusion=criteria.inclusion,
                exclusion=criteria.exclusion, unread=unread)
    if excluding:
        return Eligibility("likely_excluded", deciding=excluding[0], **base)
    if criteria.empty:
        return Eligibility("unclear", note=NO_CRITERIA, **base)
    if questions or not any(r.effect == FITS for r in reasons):
        note = None if questions else ("nothing about the patient could be read", "未能读出与患者相关的标准")
        return Eligibility("unclear", note=note, **base)
    return Eligibility("may_fit", **base)


def _reason(reading: Reading, where: Any) -> Reason:
    if isinstance(where, Clause):
        return Reason(reading.concept, reading.effect, where.quote, reading.why, reading.why_zh,
                      where.section, where.item)
    return Reason(reading.concept, reading.effect, str(where), reading.why, reading.why_zh)


def _distinct(pairs) -> list[tuple[str, str]]:
    return list(dict.fromkeys(pairs))
