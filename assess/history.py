"""Treatment-history concepts: prior_systemic, prior_locoregional, curative_treatment and
transplant. A clause names treatment kinds (TACE, sorafenib, "local therapy", "any anti-tumour
treatment"); its wording says whether the trial wants them (progressed after, previously
treated with), forbids them ("no prior", exclusion list), forbids them only within a time
window ("within 4 weeks", judged on the dates with `today`), or allows them. Plans and
suitability ("candidate for TACE", "resectable") become questions for the doctor."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from assess.profile import Patient, Treatment
from assess.reading import (
    ASK,
    FITS,
    Clause,
    Gate,
    Reading,
    allowed,
    fast,
    gate,
    judge,
    negated,
    unread,
    wanted,
    window,
)

LOCAL = ("tace", "tare", "haic", "ablation", "radiotherapy")
ALL_KINDS = LOCAL + ("resection", "transplant", "systemic")
KIND_NAMES = {"tace": ("TACE", "TACE"), "tare": ("TARE/Y-90", "放射栓塞(TARE)"), "haic": ("HAIC", "HAIC"),
              "ablation": ("ablation", "消融"), "radiotherapy": ("radiotherapy", "放疗"),
              "resection": ("resection", "手术切除"), "transplant": ("liver transplant", "肝移植"),
              "systemic": ("systemic therapy", "系统治疗")}
DRUG_CLASSES = {
    "io": ("atezolizumab", "nivolumab", "pembrolizumab", "durvalumab", "tremelimumab", "ipilimumab",
           "camrelizumab", "sintilimab", "tislelizumab", "toripalimab", "penpulimab", "iparomlimab",
           "tuvonralimab", "ql1706", "serplulimab", "envafolimab", "cadonilimab"),
    "tki": ("sorafenib", "lenvatinib", "regorafenib", "cabozantinib", "donafenib", "apatinib",
            "rivoceranib", "anlotinib", "surufatinib", "fruquintinib"),
    "vegf": ("bevacizumab", "ramucirumab", "ibi305"),
    "chemo": ("oxaliplatin", "folfox", "doxorubicin", "gemox", "gemcitabine", "capecitabine",
              "5-fu", "fluorouracil", "cisplatin"),
}
_CLASS_TERMS = {
    "io": r"pd-?1|pd-?l1|ctla-?4|checkpoint|immunotherap\w*|immune[- ]oncology|\bici\b|免疫",
    "tki": r"tyrosine kinase|\btkis?\b|multi-?kinase|multi-?target\w*|靶向",
    "vegf": r"anti-?vegf|\bvegf\b|anti-?angiogen\w*|anti-?vascular",
    "chemo": r"chemotherap\w*|cytotoxic|化疗",
}
_KIND_PATTERNS = {
    "tace": r"\b(?:c|deb-?|d|ctace|)tace\b|chemo-?emboli[sz]ation|\btae\b|(?<!radio)(?<!radio-)emboli[sz]ation|"
            r"hepatic arter(?:ial|y) embol\w*|栓塞|化疗栓塞",
    "tare": r"\btare\b|\bsirt\b|radio-?emboli[sz]ation|\by-?90\b|yttrium|放射栓塞",
    "haic": r"\bhaic\b|\bfaic\b|hepatic arter(?:ial|y) infusion|arterial infusion chemo|灌注化疗",
    "ablation": r"ablati\w*|\brfa\b|\bmwa\b|radiofrequency|microwave|ethanol injection|\bpei\b|"
                r"cryoablation|cryotherapy|消融",
    "radiotherapy": r"radiotherap\w*|radiation(?: therapy)?|\bsbrt\b|\bsabr\b|stereotactic|\bimrt\b|"
                    r"proton|irradiat\w*|放疗|放射治疗",
    "resection": r"resect\w*|hepatectom\w*|surgery|surgical|operation|radical (?:therap|treatment|cure)\w*|"
                 r"curative (?:therap|treatment)\w*|切除|手术|根治",
    "transplant": r"transplant\w*|allograft|移植",
    "systemic": r"systemic (?:anti-?\w+ )?(?:therap|treatment|chemo|agent|drug|regimen|investigational)\w*|"
                r"systematic (?:therap|treatment)\w*|first[- ]line|second[- ]line|1st[- ]line|"
                r"2nd[- ]line|prior lines?|lines? of (?:systemic )?(?:therapy|treatment)|"
                r"molecular(?:ly)? target\w*|targeted (?:therap|drug|agent)\w*|"
                r"\bdrug therap\w*|系统治疗|系统性治疗|全身治疗|" + "|".join(
                    [t for v in _CLASS_TERMS.values() for t in [v]] + [d for v in DRUG_CLASSES.values() for d in v]),
}
_KINDS = {kind: fast(p) for kind, p in _KIND_PATTERNS.items()}
_GENERIC_LOCAL = fast(r"loco-?regional|local[- ]regional|\blocal (?:\w+ )?(?:therap|treatment|intervention)\w*|"
                            r"liver[- ]directed|interventional (?:therap|treatment)\w*|intra-?arterial|"
                            r"局部治疗|介入治疗")
_GENERIC_ANY = fast(
    r"(?<!systemic )(?<!local )anti-?(?:tumou?r|cancer|neoplastic)\w* (?:therap|treatment|drug)\w*|"
    r"(?<!systemic )anticancer (?:therap|treatment)\w*|"
    r"(?:previous|prior) (?:therap(?:y|ies)|treatments?)(?! with)|"
    r"(?:therap(?:y|ies)|treatments?) (?:for|of) (?:the )?(?:hcc|tumou?r|liver cancer|hepatocellular)|"
    r"newly diagnosed|treatment[- ]na[iï]ve|previously untreated|抗肿瘤治疗|初治")
_NAIVE = fast(r"newly diagnosed|na[iï]ve|previously untreated|初治")
_OTHER_ANY = fast(r"\bother (?:anti-?\w+ |local |systemic )?(?:therap|treatment)|"
                        r"\bany (?:other )?(?:anti-?\w+ )?(?:therap|treatment)|其他抗肿瘤")
# Gates (see assess.reading.Gate): the words each pattern above can match, so that the
# patterns run only on clauses that may name a treatment.
_KIND_GATES = {kind: gate(words, cjk) for kind, (words, cjk) in {
    "tace": ("tace ctace dtace debtace tae chemoembolization embolization embolisation hepatic", "栓塞"),
    "tare": ("tare sirt radioembolization radioembolisation y 90 yttrium", "放射栓塞"),
    "haic": ("haic faic hepatic arterial", "灌注化疗"),
    "ablation": ("ablation rfa mwa radiofrequency microwave ethanol pei cryoablation cryotherapy", "消融"),
    "radiotherapy": ("radiotherapy radiation sbrt sabr stereotactic imrt proton irradiation", "放疗 放射治疗"),
    "resection": ("resection hepatectomy surgery surgical operation radical curative", "切除 手术 根治"),
    "transplant": ("transplant allograft", "移植"),
    "systemic": ("systemic systematic first second 1st 2nd prior line lines molecular targeted drug "
                 "pd l1 ctla checkpoint immunotherapy immune ici tyrosine tki tkis multikinase multi "
                 "vegf antivegf anti angiogenic antiangiogenic vascular chemotherapy cytotoxic "
                 "atezolizumab nivolumab pembrolizumab durvalumab tremelimumab ipilimumab camrelizumab sintilimab tislelizumab toripalimab penpulimab iparomlimab tuvonralimab ql1706 serplulimab envafolimab cadonilimab sorafenib lenvatinib regorafenib cabozantinib donafenib apatinib rivoceranib anlotinib surufatinib fruquintinib bevacizumab ramucirumab ibi305 oxaliplatin folfox doxorubicin gemox gemcitabine capecitabine fu fluorouracil cisplatin", "系统治疗 系统性治疗 全身治疗 免疫 靶向 化疗"),
}.items()}
_LOCAL_GATE = gate("locoregional loco local regional liver directed interventional intraarterial intra",
                   "局部治疗 介入治疗")
_ANY_GATE = gate("antitumor antitumour anticancer antineoplastic anti previous prior therapy therapies "
                 "treatment treatments hcc hepatocellular tumor tumour liver newly naive untreated radical",
                 "抗肿瘤治疗 初治")
_TREATMENT_GATE = Gate(*(frozenset().union(*(getattr(g, part) for g in (*_KIND_GATES.values(), _LOCAL_GATE, _ANY_GATE)))
                         for part in ("words", "stems")),
                       tuple(t for g in (*_KIND_GATES.values(), _LOCAL_GATE, _ANY_GATE) for t in g.cjk))
_AMBIGUOUS_DRUG = fast(r"\bdrug therap\w*|\bchemotherap\w*|化疗")
_NOT_HISTORY = fast(
    r"hypersensitiv|allerg|contraindicat|intoleran\w* to (?:the )?(?:study|investigational)|"
    r"(?<!intolerable )toxicit|autoimmun|psoria|"
    r"recover|complication|other (?:malignan|cancer|tumou?r)|distinct .{0,30}from hcc|second primary|"
    r"concurrent (?:cancer|malignan)|curatively treated|investigational|clinical (?:trial|study)|"
    r"cardiac|heart|wound|bleed|varice|tips\b|dialysis|biopsy|blood products?|transfusion|"
    r"vaccin|steroid|anticoagul|antivir|hbv|hcv|hepatitis|stem cell|bone marrow transplant|"
    r"measurable|target lesion|untreated lesion|lesions? (?:that|which) (?:has|have)|gliadel|steril|"
    r"pregnan|contracept|childbearing|basal cell|squamous cell|in situ|skin cancer|prostat|"
    r"glioma|glioblastoma|\bhgg\b|astrocytoma|nitrosourea|target area|throughout|remnant liver")
_PLAN = fast(
    r"candidate|eligible (?:for|to)|ineligible|not eligible|suitable|unsuitable|amenable|not applicable|"
    r"refus\w*|declin\w*|indicated for|planned|scheduled|will (?:undergo|receive|be treated)|intend|"
    r"require\w* (?:tace|treatment)|who require|need\w* (?:combined )?(?:local )?(?:treatment|tace)|"
    r"cannot benefit|not (?:be )?(?:possible|feasible)|waiting list|listed for|bridg\w*|"
    r"(?:un)?resectab\w*|treatable|(?:can|could) be (?:resected|removed|treated|ablated)|available|milan|survival|downstag\w*|capable|tolerat\w*|fit for|able to undergo|适合|不适合|拟行|不能|无法")
_PLAN_GATE = gate("candidate eligible ineligible suitable unsuitable amenable applicable refuse refused "
                  "refuses refusal declined decline indicated planned scheduled will intend intended "
                  "require requires required requiring who need needs needing cannot benefit possible "
                  "feasible waiting listed bridge bridging milan survival downstaging capable tolerate "
                  "tolerating fit able resectable unresectable available treatable can could", "适合 拟行 不能 无法")
_PROGRESSION = fast(r"progress\w*|refractor\w*|\bfail\w*|resistan\w*|intoleran\w*|relaps\w*|"
                          r"recurr\w*|unrespons\w*|not respond\w*|\bpd\b(?!-?l?1)|进展|失败|不耐受|复发")
_HISTORY_CUE = fast(r"\bprior\b|previous\w*|\breceived?\b|receiving|undergo\w*|underwent|"
                          r"treated (?:with|by)|history of|\bhad\b|\bhave (?:had|been)\b|\bafter\b|following|\bpost|"
                          r"recipient|exposure|already|既往|曾|接受过|之前|治疗后")
# the unit may follow the treatment's name: "> 2 prior TACE sessions"
_COUNT = fast(r"(<=|>=|<|>)\s*(\d|one|two|three|four)\s*(?:prior |previous )?(?:[a-z][\w-]* )?(?:lines?|regimens?|"
                    r"sessions?|cycles?|courses?|procedures?|times|rounds?)"
                    r"|(\d|one|two|three|four)\s*(?:or more )?(?:prior |previous )?(?:lines?|regimens?)\b")
# "If ...", "For patients with ...": a condition, not a requirement (only its time window counts).
_CONDITIONAL = re.compile(r"\W*(?:if|in case|when|where|for (?:patients|subjects|participants|those))\b|如果|若")
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4}
_FIRST_LINE = fast(r"first[- ]line|1st[- ]line|一线")
_SECOND_LINE = fast(r"second[- ]line|2nd[- ]line|二线|after first[- ]line")
_SOLE = fast(r"\b(?:sole|only) (?:form of )?(?:previous|prior)? ?(?:treatment|therapy)|仅接受")
QUESTIONS = {
    "prior_systemic": ("Has the patient had any systemic therapy (targeted drugs, immunotherapy, "
                       "chemotherapy)? Which drugs, when, and did the disease progress on them?",
                       "患者是否接受过系统治疗（靶向、免疫、化疗）？用了哪些药、何时、是否进展？"),
    "prior_locoregional": ("Which liver-directed treatments has the patient had (TACE, TARE/Y-90, "
                           "HAIC, ablation, radiotherapy), and when?",
                           "患者接受过哪些肝脏局部治疗（TACE、TARE/钇-90、HAIC、消融、放疗），分别在何时？"),
    "curative_treatment": ("Has the patient had surgery (resection) or ablation with curative intent, "
                           "and when?", "患者是否做过根治性手术切除或消融？何时？"),
    "transplant": ("Has the patient had a liver (or other organ) transplant?",
                   "患者是否做过肝移植（或其他器官移植）？"),
}
PLAN_QUESTIONS = {
    "prior_systemic": ("Do the doctors consider the patient suitable for the systemic therapy this "
                       "trial asks about?", "医生是否认为患者适合该试验所述的系统治疗？"),
    "prior_locoregional": ("Do the doctors consider liver-directed treatment (TACE, TARE, HAIC, "
                           "ablation) suitable for the patient now?",
                           "医生是否认为患者目前适合肝脏局部治疗（TACE、TARE、HAIC、消融）？"),
    "curative_treatment": ("Could the tumour currently be removed or destroyed with curative intent "
                           "(surgery, ablation or transplant)?",
                           "目前肿瘤是否可以根治性切除、消融或移植？"),
    "transplant": ("Is the patient a candidate for (or on the waiting list for) a liver transplant?",
                   "患者是否适合肝移植或已在等待名单上？"),
}


@dataclass(frozen=True)
class Mention:
    """The treatment kinds one clause names, and how sure the naming is."""

    kinds: tuple[str, ...]
    span: tuple[int, int]
    classes: tuple[str, ...] = ()        # drug classes for systemic ("io", "tki", ...)
    drugs: tuple[str, ...] = ()
    generic: bool = False                # "any anti-tumour treatment"
    ambiguous: tuple[str, ...] = ()      # kinds that may or may not count ("drug therapy" ~ TACE)


def read_history(clause: Clause, patient: Patient, today: date) -> list[Reading]:
    low = clause.low
    mentions = _mentions(clause) if _TREATMENT_GATE.open(clause) else []
    if not mentions or _NOT_HISTORY.search(low):
        return []
    return [reading for group in mentions if (reading := _read(clause, group, patient, today))]


def _mentions(clause: Clause) -> list[Mention]:
    """One Mention per concept the clause names (systemic, locoregional, curative, transplant),
    or one for "any anti-cancer treatment" when nothing more specific is named (or "other
    anti-tumour treatments" widens a list to everything); "newly diagnosed" adds one."""
    low = clause.low
    found = {kind: m for kind, pattern in _KINDS.items()
             if _KIND_GATES[kind].open(clause) and (m := pattern.search(low))}
    local = _LOCAL_GATE.open(clause) and _GENERIC_LOCAL.search(low)
    if local:
        for kind in LOCAL + ("resection",):
            found.setdefault(kind, local)
    generic = _ANY_GATE.open(clause) and _GENERIC_ANY.search(low)
    if generic and (not found or _OTHER_ANY.search(low)):
        start = min([generic.start()] + [m.start() for m in found.values()])
        return [_generic(low, (start, generic.end()))]
    groups = [_generic(low, generic.span())] if generic and _NAIVE.search(generic.group(0)) else []
    for concept in ("prior_systemic", "curative_treatment", "prior_locoregional", "transplant"):
        kinds = tuple(k for k in found if _concept_of(k, found) == concept)
        if kinds:
            span = (min(found[k].start() for k in kinds), max(found[k].end() for k in kinds))
            groups.append(_mention(low, kinds, span))
    return groups


def _generic(low: str, span: tuple[int, int]) -> Mention:
    ambiguous = ("tace", "haic") if _AMBIGUOUS_DRUG.search(low) and "systemic" not in low else ()
    kinds = tuple(k for k in ALL_KINDS if k not in ambiguous)
    return Mention(kinds, span, generic=True, ambiguous=ambiguous)


def _concept_of(kind: str, found: dict) -> str:
    if kind == "systemic":
        return "prior_systemic"
    if kind == "transplant":
        return "transplant"
    if kind == "resection" or (kind == "ablation" and "resection" in found and "tace" not in found):
        return "curative_treatment"
    return "prior_locoregional"


def _mention(low: str, kinds: tuple[str, ...], span: tuple[int, int]) -> Mention:
    if "systemic" not in kinds:
        return Mention(kinds, span)
    classes = tuple(c for c, p in _CLASS_TERMS.items() if re.search(p, low))
    drugs = tuple(d for names in DRUG_CLASSES.values() for d in names if d in low)
    vague = classes == ("chemo",) or (not classes and not drugs and _AMBIGUOUS_DRUG.search(low))
    ambiguous = ("tace", "haic") if vague and "systemic" not in low else ()
    return Mention(kinds, span, classes, drugs, ambiguous=ambiguous)


def concept_of(mention: Mention, patient: Patient) -> str:
    """The concept a reading of this mention belongs to: for "any treatment", the kind that
    decides for this patient (TACE -> prior_locoregional)."""
    if mention.generic:
        had_kinds = [t.kind for t in patient.prior_treatments]
        kind = next((k for k in had_kinds), "systemic")
        return _concept_of(kind, {})
    return _concept_of(mention.kinds[0], dict.fromkeys(mention.kinds))


def _read(clause: Clause, mention: Mention, patient: Patient, today: date) -> Reading | None:
    concept = concept_of(mention, patient)
    low, (start, end) = clause.low, mention.span
    if _planned(clause, start, end) and not (_HISTORY_CUE.search(low) and window(low)):
        return _plan(concept, mention, start, end)
    readers = (_window, _allowed) if _CONDITIONAL.match(low) else \
        (_sole, _count, _progression, _window, _allowed, _line, _plain)
    for reader in readers:
        reading = reader(clause, mention, concept, patient, today)
        if reading is not None:
            return reading
    return None if mention.generic or len(readers) == 2 else unread(concept, (start, end))


def _planned(clause: Clause, start: int, end: int) -> bool:
    """A plan or suitability cue near the mention ("not amenable to curative surgery"), nearer
    than any progression cue ("unsuitable for TACE or progressed after TACE" reads progression)."""
    if not _PLAN_GATE.open(clause):
        return False
    low = clause.low
    plan = _distance(_PLAN, low, start, end)
    return plan <= 60 and plan < _distance(_PROGRESSION, low, start, end)


def _distance(pattern: re.Pattern[str], low: str, start: int, end: int) -> int:
    gaps = [start - cue.end() if cue.end() <= start else cue.start() - end if cue.start() >= end else 0
            for cue in pattern.finditer(low)]
    return min(gaps, default=10_000)


def _names(mention: Mention) -> tuple[str, str]:
    if mention.generic:
        return "anti-cancer treatment of any kind", "任何抗肿瘤治疗"
    if mention.drugs:
        return " / ".join(mention.drugs), " / ".join(mention.drugs)
    if len(set(mention.kinds) & set(LOCAL)) >= 3:
        return "liver-directed therapy (TACE, TARE, HAIC, ablation, radiotherapy)", "肝脏局部治疗"
    kinds = [k for k in ALL_KINDS if k in mention.kinds]
    en = [KIND_NAMES[k][0] for k in kinds]
    zh = [KIND_NAMES[k][1] for k in kinds]
    return " or ".join(en), "或".join(zh)


def _plan(concept: str, mention: Mention, start: int, end: int) -> Reading:
    name, name_zh = _names(mention)
    return Reading(concept, ASK, f"suitability for {name}", f"是否适合{name_zh}",
                   *PLAN_QUESTIONS[concept], None, (start, end))


def _question(concept: str, mention: Mention, days: int | None = None) -> tuple[str, str]:
    if days is None:
        return QUESTIONS[concept]
    name, name_zh = _names(mention)
    return (f"Has the patient had {name} in the last {days} days?",
            f"患者最近{days}天内是否接受过{name_zh}？")


def _sole(clause, mention, concept, patient, today) -> Reading | None:
    """"TACE ... not as the sole form of previous treatment"."""
    if not _SOLE.search(clause.low) or mention.generic:
        return None
    kinds = {t.kind for t in patient.prior_treatments}
    only = None
    if kinds and kinds <= set(mention.kinds):
        others = set(ALL_KINDS) - set(mention.kinds)
        only = True if others <= set(patient.no_prior) else None
    elif kinds:
        only = False
    name, name_zh = _names(mention)
    return judge(concept, only, False, (f"{name} not as the only treatment", f"不能仅接受过{name_zh}"),
                 QUESTIONS[concept], mention.span)


def _count(clause, mention, concept, patient, today) -> Reading | None:
    match = _COUNT.search(clause.low)
    if not match or mention.generic:
        return None
    op, number, plain = match.groups()
    op, bound = (op, number) if op else (">=", plain)
    bound = _NUMBERS.get(bound) or int(bound)
    count = _count_of(patient, mention)
    tests = {"<": int.__lt__, "<=": int.__le__, ">": int.__gt__, ">=": int.__ge__}
    truth = None if count is None else tests[op](count, bound)
    name, name_zh = _names(mention)
    return judge(concept, truth, wanted(clause, *mention.span),
                 (f"{op} {bound} prior {name}", f"既往{name_zh}{op}{bound}次"),
                 QUESTIONS[concept], mention.span)


def _count_of(patient: Patient, mention: Mention) -> int | None:
    known = [k for k in mention.kinds if patient.treatments(k) or k in patient.no_prior]
    if len(known) < len(mention.kinds):
        return None
    return sum(len(patient.treatments(k)) for k in mention.kinds)


def _progression(clause, mention, concept, patient, today) -> Reading | None:
    cue = _PROGRESSION.search(clause.low)
    if not cue or mention.generic:
        return None
    truth = progressed(patient, mention)
    name, name_zh = _names(mention)
    return judge(concept, truth, wanted(clause, *mention.span),
                 (f"progressed on or after {name}", f"{name_zh}后进展"),
                 QUESTIONS[concept], mention.span)


def _window(clause, mention, concept, patient, today) -> Reading | None:
    found = window(clause.low)
    if not found:
        return None
    mode, days = found
    if mode == "bare":
        mode = "within" if clause.section == "exclusion" else "since"
    name, name_zh = _names(mention)
    question = _question(concept, mention, days)
    if mode == "since" and clause.section == "exclusion" and not negated(clause.low, *mention.span):
        return judge(concept, had_before(patient, mention, days, today), False,
                     (f"no {name} more than {days} days ago", f"{days}天以前未接受{name_zh}"),
                     QUESTIONS[concept], mention.span)
    want = False if mode == "since" else wanted(clause, *mention.span)
    why = ((f"{name} within {days} days", f"{days}天内接受过{name_zh}") if want else
           (f"no {name} within {days} days", f"{days}天内未接受{name_zh}"))
    return judge(concept, had_within(patient, mention, days, today), want, why, question, mention.span)


def _allowed(clause, mention, concept, patient, today) -> Reading | None:
    if not allowed(clause.low, *mention.span):
        return None
    name, name_zh = _names(mention)
    return Reading(concept, FITS, f"prior {name} allowed", f"允许既往{name_zh}", wanted=None,
                   span=mention.span)


def _line(clause, mention, concept, patient, today) -> Reading | None:
    if "systemic" not in mention.kinds or mention.generic:
        return None
    name, name_zh = _names(mention)
    if _SECOND_LINE.search(clause.low):
        return judge(concept, had(patient, mention), clause.section == "inclusion",
                     ("after first-line systemic therapy", "一线系统治疗后"), QUESTIONS[concept],
                     mention.span)
    if _FIRST_LINE.search(clause.low) and not _HISTORY_CUE.search(clause.low):
        return judge(concept, had(patient, mention), clause.section != "inclusion",
                     ("no prior systemic therapy (first line)", "未接受过系统治疗（一线）"),
                     QUESTIONS[concept], mention.span)
    return None


def _plain(clause, mention, concept, patient, today) -> Reading | None:
    low, (start, end) = clause.low, mention.span
    naive = _NAIVE.search(low[start:end + 10])
    if not (naive or _HISTORY_CUE.search(low) or negated(low, start, end)):
        return None
    want = False if naive else wanted(clause, start, end)
    name, name_zh = _names(mention)
    why = (f"no prior {name}", f"未接受过{name_zh}") if not want else (f"prior {name}", f"接受过{name_zh}")
    return judge(concept, had(patient, mention), want, why, QUESTIONS[concept], mention.span)


def _of_kinds(patient: Patient, mention: Mention) -> list[Treatment]:
    return [t for t in patient.prior_treatments if t.kind in mention.kinds and _drug_fits(t, mention)]


def _drug_fits(treatment: Treatment, mention: Mention) -> bool:
    if treatment.kind != "systemic" or not (mention.classes or mention.drugs) or not treatment.drugs:
        return True
    names = set(mention.drugs) | {d for c in mention.classes for d in DRUG_CLASSES[c]}
    return bool(names & set(treatment.drugs))


def _unknown_kinds(patient: Patient, mention: Mention) -> bool:
    """Some kind the clause names is neither in the history nor declared absent."""
    return any(not patient.treatments(k) and k not in patient.no_prior for k in mention.kinds)


def had(patient: Patient, mention: Mention) -> bool | None:
    if _of_kinds(patient, mention):
        undrugged = any(t.kind == "systemic" and not t.drugs for t in _of_kinds(patient, mention))
        return None if undrugged and (mention.classes or mention.drugs) else True
    if any(patient.treatments(k) for k in mention.ambiguous) or _unknown_kinds(patient, mention):
        return None
    return False


def progressed(patient: Patient, mention: Mention) -> bool | None:
    if any(k in patient.progressed_after for k in mention.kinds) and had(patient, mention):
        return True if not (mention.classes or mention.drugs) or had(patient, mention) else None
    history = had(patient, mention)
    return False if history is False else None


def _bounds(value: str | None) -> tuple[date, date] | None:
    if not value:
        return None
    parts = [int(p) for p in value.split("-")]
    if len(parts) == 3:
        return date(*parts), date(*parts)
    last = calendar.monthrange(parts[0], parts[1])[1]
    return date(parts[0], parts[1], 1), date(parts[0], parts[1], last)


def had_within(patient: Patient, mention: Mention, days: int, today: date) -> bool | None:
    """True if a treatment of these kinds certainly fell in the last `days`, False if every one
    certainly did not (the listed treatments of a kind are all of that kind), else unknown."""
    cutoff = today - timedelta(days=days)
    treatments = _of_kinds(patient, mention)
    spans = [_bounds(t.date) for t in treatments]
    if any(s is not None and s[0] >= cutoff for s in spans):
        return True
    vague = [_bounds(t.date) for k in mention.ambiguous for t in patient.treatments(k)]
    if any(s is None or s[1] >= cutoff for s in spans + vague) or _unknown_kinds(patient, mention):
        return None
    return False


def had_before(patient: Patient, mention: Mention, days: int, today: date) -> bool | None:
    cutoff = today - timedelta(days=days)
    spans = [_bounds(t.date) for t in _of_kinds(patient, mention)]
    if any(s is not None and s[1] < cutoff for s in spans):
        return True
    if any(s is None for s in spans) or _unknown_kinds(patient, mention):
        return None
    return False
