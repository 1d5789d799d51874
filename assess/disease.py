"""Disease concepts: diagnosis (HCC required, solid-tumour baskets, other diseases), histology
(fibrolamellar, sarcomatoid, mixed HCC-cholangiocarcinoma), vascular_invasion (with Vp levels),
extrahepatic spread (and brain metastases), hbv (antiviral required, DNA limits, active
infection), hcv, and measurable_disease."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from assess.history import KIND_NAMES, LOCAL
from assess.profile import Patient
from assess.reading import EXCLUDES, Clause, Reading, fast, gate, judge, unread, wanted

_HCC_GATE = gate("hepatocellular hcc hepatoma liver", "肝")
_HISTOLOGY_GATE = gate("fibrolamellar sarcomatoid mixed combined hcc cca hcccca cholangiocarcinoma",
                       "混合型 纤维板层 肉瘤样")
_VASCULAR_GATE = gate("macrovascular macro vascular portal pvtt tumor tumour thrombus vp1 vp2 vp3 vp4 vp "
                      "main angioinvasion inferior hepatic", "门静脉 癌栓 血管侵犯")
_EXTRAHEPATIC_GATE = gate("extrahepatic distant confined limited restricted liver intrahepatic lymph "
                          "brain cns central bone lung pulmonary leptomeningeal metastatic",
                          "肝外 远处转移 脑转移")
_HBV_GATE = gate("hepatitis hbv hbsag hep", "乙肝 乙型肝炎")
_HCV_GATE = gate("hepatitis hcv hep", "丙肝 丙型肝炎")
_MEASURABLE_GATE = gate("measurable target", "可测量 靶病灶")
HCC = fast(r"hepatocellular|\bhcc\b|hepatoma|liver cell carcinoma|primary liver (?:cancer|carcinoma|malignan)"
                 r"|\bliver cancer\b|肝细胞癌|肝癌|原发性肝")
_SOLID = fast(r"solid (?:tumou?r|malignan|cancer|neoplasm)|advanced (?:cancer|malignan)|any (?:cancer|carcinoma)"
                    r"|\bcarcinoma\b(?! in situ)(?!.{0,20}(?:lung|breast|colo|pancrea|prostat|gastric|ovar|cervi|renal|thyroid|bladder|head))"
                    r"|实体瘤")
# Cancers of other organs: a trial whose every condition is one of these is for another disease.
_OTHER_CANCER = fast(r"lung|nsclc|sclc|breast|colo|rectal|pancrea|prostat|gastric|stomach|ovar|cervi|"
                     r"renal|kidney|thyroid|bladder|urothelial|head and neck|hnscc|melanoma|lymphoma|"
                     r"leuka?emia|myeloma|glio|astrocytoma|sarcoma|mesothelioma|esophag|oesophag|"
                     r"endometri|uter|testi|cholangio|biliary|gallbladder|neuroendocrine|brain metasta|"
                     r"肺癌|乳腺癌|胃癌|结直肠癌|胰腺癌|胆管癌|淋巴瘤|白血病")
_DIAGNOSED = fast(r"diagnos|confirm|histolog|cytolog|patients? (?:with|who have)|documented|proven|"
                        r"established|suffer|history of|presence of|absence of|evidence of|确诊|诊断")
_COHORT = fast(r"\bcontrols?\b|cohort|\bgroup\b|\barm\b|队列|对照")
_HISTOLOGY = fast(r"fibrolamellar|sarcomatoid|mixed (?:hepatocellular|hcc|cholangio)|combined hepatocellular|"
                        r"hcc-?cca|cholangiocarcinoma|cholangiocellular|混合型|纤维板层|肉瘤样")
_VASCULAR = fast(r"macro-?vascular|vascular (?:invasion|involvement|tumou?r)|portal vein (?:tumou?r )?"
                       r"(?:thromb\w*|invasion|involvement|infiltration)|\bpvtt\b|tumou?r thromb\w*|\bvp\s*[1-4]\b|"
                       r"main (?:trunk of the )?portal vein|angioinvasion|inferior vena cava|hepatic vein (?:invasion|"
                       r"tumou?r|thromb)|门静脉癌栓|癌栓|血管侵犯")
_VP_LEVEL = fast(r"\bvp\s*([1-4])(?:\s*(?:-|to|/|or|and|,)\s*(?:vp)?\s*([1-4]))?")
_EXTRAHEPATIC = fast(r"extra-?hepatic|distant metasta\w*|(?:confined|limited|restricted) to the liver|"
                           r"liver[- ]confined|intrahepatic (?:only|disease only)|lymph node (?:and distant )?metasta\w*|"
                           r"(?:brain|cns|central nervous system|bone|lung|pulmonary|leptomeningeal) metasta\w*|"
                           r"metastatic brain|brain disease|肝外转移|远处转移|脑转移")
_BRAIN = fast(r"brain|cns|central nervous|leptomeningeal|脑")
_CONFINED = fast(r"(?:confined|limited|restricted) to the liver|liver[- ]confined|intrahepatic (?:only|disease only)")
_HBV = fast(r"hepatitis b\b|\bhbv\b|hbsag|hbv[- ]?dna|乙肝|乙型肝炎|hep b\b")
_HCV = fast(r"hepatitis c\b|\bhcv\b|hcv[- ]?rna|丙肝|丙型肝炎|hep c\b")
_DNA_LIMIT = fast(r"(?:dna|viral load)[^<>?]{0,25}?(<=|<|>=|>|\?=)\s*([\d.,]+)")
_ANTIVIRAL = fast(r"antiviral|anti-viral|anti-hbv|nucleos|entecavir|tenofovir|抗病毒")
_ACTIVE = fast(r"\bactive\b|uncontrolled|untreated|replicat|detectable|chronic active|活动性")
_COINFECTION = fast(r"co-?infect\w*|dual infection|(?:hbv|hepatitis b) and (?:hcv|hepatitis c)|合并感染")
# Tests to be done, risk scores and risk factors say nothing about the patient's status.
_NOT_STATUS = re.compile(r"\btest(?:ed|ing)?\b|(?:antigen|hbsag|rna) detection|screen|risk|检测|筛查")
_MEASURABLE = fast(r"measurable|target lesions?|可测量|靶病灶")
QUESTIONS = {
    "diagnosis": ("Is the diagnosis hepatocellular carcinoma (HCC), by imaging or biopsy?",
                  "是否已确诊为肝细胞癌（影像或病理）？"),
    "histology": ("Has pathology ever shown a fibrolamellar, sarcomatoid or mixed HCC-cholangiocarcinoma type?",
                  "病理是否显示为纤维板层型、肉瘤样或混合型肝癌-胆管癌？"),
    "vascular_invasion": ("Has the tumour invaded a major blood vessel (portal vein tumour thrombus; which Vp level)?",
                          "是否有大血管侵犯（门静脉癌栓，Vp几级）？"),
    "extrahepatic": ("Has the cancer spread outside the liver (and if so where: lymph nodes, lungs, bones, brain)?",
                     "肿瘤是否有肝外转移（如有，转移到哪里：淋巴结、肺、骨、脑）？"),
    "hbv": ("What is the current HBV DNA level, and is antiviral treatment ongoing?",
            "目前HBV DNA水平是多少，是否在持续抗病毒治疗？"),
    "hcv": ("Has the patient ever had hepatitis C (HCV antibody / HCV RNA)?", "患者是否曾感染丙肝（HCV抗体/HCV RNA）？"),
    "measurable_disease": ("Is there at least one measurable lesion on the latest scan (RECIST or mRECIST)?",
                           "最近的影像上是否有至少一个可测量病灶（RECIST或mRECIST）？"),
}


def read_diagnosis_item(clause: Clause, patient: Patient, today: date) -> list[Reading]:
    """HCC named in an inclusion clause as the disease ('confirmed HCC'), or an exclusion /
    negated clause about having HCC ('absence of HCC', 'history of HCC')."""
    low = clause.low
    match = _HCC_GATE.open(clause) and HCC.search(low)
    if not match or (_HISTOLOGY_GATE.open(clause) and _HISTOLOGY.search(low)):
        return []
    if clause.section == "inclusion" and not _DIAGNOSED.search(low):
        return []
    if clause.section == "exclusion" and not (re.search(
            r"^(?:\W*(?:patients? with|known|history of|confirmed|diagnosis of|diagnosed with)\b)", low)
            and re.match(r"\W*(?:$|\(|by\b|confirmed|diagnos|according|per\b|on\b|in the past|within)",
                         low[match.end():])):
        return []
    if re.search(r"\b(?:other|except|than|distinct|apart from|besides)\b|除外|以外", low[:match.start()]):
        return []
    want = wanted(clause, *match.span())
    if not want and _COHORT.search(clause.item_text.lower()):
        return []   # "Controls: ... without HCC": one cohort of several
    return [judge("diagnosis", _has_hcc(patient), want,
                  ("HCC", "肝细胞癌") if want else ("no HCC", "无肝癌"), QUESTIONS["diagnosis"], match.span())]


def _has_hcc(patient: Patient) -> bool | None:
    return None if patient.diagnosis is None else True


def diagnosis_from_conditions(details: Mapping[str, Any], inclusion: Sequence[str],
                              patient: Patient) -> tuple[Reading, str] | None:
    """A trial for another cancer: every condition names a cancer of another organ, and none of
    them nor any inclusion item names HCC, liver cancer or solid tumours. Quote: the conditions.
    (Conditions the patient may share, such as cirrhosis or hepatitis B, never exclude.)"""
    listed = details.get("conditions")
    conditions = [c for c in listed if isinstance(c, str)] if isinstance(listed, list) else []
    texts = [c.lower() for c in conditions] + [i.lower() for i in inclusion]
    if not conditions or any(HCC.search(t) or _SOLID.search(t) for t in texts):
        return None
    if not all(_OTHER_CANCER.search(c.lower()) for c in conditions) or patient.diagnosis is None:
        return None
    reading = Reading("diagnosis", EXCLUDES, "another disease (not HCC)", "其他疾病（非肝癌）", wanted=True)
    return reading, "Conditions: " + "; ".join(conditions)


def read_histology(clause: Clause, patient: Patient, today: date) -> list[Reading]:
    match = _HISTOLOGY_GATE.open(clause) and _HISTOLOGY.search(clause.low)
    if not match:
        return []
    want = wanted(clause, *match.span())
    if want and HCC.search(clause.low[:match.start()]) and re.search(r"\bor\b|或", clause.low):
        return []   # "HCC or mixed HCC-CCA": an alternative, not a requirement
    truth = None if patient.diagnosis is None else patient.diagnosis in _named_types(clause.low)
    return [judge("histology", truth, want, ("fibrolamellar/mixed type" if want else
                  "not fibrolamellar, sarcomatoid or mixed", "纤维板层/混合型" if want else "非纤维板层/肉瘤样/混合型"),
                  QUESTIONS["histology"], match.span())]


def _named_types(low: str) -> set[str]:
    types = set()
    if re.search(r"fibrolamellar|纤维板层", low):
        types.add("fibrolamellar")
    if re.search(r"mixed|combined|hcc-?cca|cholangio|混合型", low):
        types.add("hcc-cca")
    return types


def read_vascular(clause: Clause, patient: Patient, today: date) -> list[Reading]:
    match = _VASCULAR_GATE.open(clause) and _VASCULAR.search(clause.low)
    if not match:
        return []
    levels = _vp_levels(clause.low)
    bland = "thromb" in match.group(0) and "tumo" not in clause.low and "癌栓" not in clause.low \
        and "pvtt" not in clause.low
    truth = None if bland else _vascular_truth(patient.vascular_invasion, levels)
    label = "/".join(f"Vp{n}" for n in sorted(levels))
    en, zh = (label, label) if levels else ("macrovascular invasion", "大血管侵犯")
    want = wanted(clause, *match.span())
    return [judge("vascular_invasion", truth, want, (en, zh) if want else (f"no {en}", f"无{zh}"),
                  QUESTIONS["vascular_invasion"], match.span())]


def _vp_levels(low: str) -> set[int]:
    levels: set[int] = set()
    for first, last in _VP_LEVEL.findall(low):
        levels |= set(range(int(first), int(last or first) + 1))
    if re.search(r"main (?:trunk of the )?portal vein|portal vein trunk|main trunk", low):
        levels.add(4)
    return levels


def _vascular_truth(value: bool | str | None, levels: set[int]) -> bool | None:
    if value is None or value is False:
        return value if value is None else False
    if value is True:
        return True if not levels else None
    return int(value[-1]) in levels if levels else True


def read_extrahepatic(clause: Clause, patient: Patient, today: date) -> list[Reading]:
    match = _EXTRAHEPATIC_GATE.open(clause) and _EXTRAHEPATIC.search(clause.low)
    if not match:
        return []
    text = match.group(0)
    confined = bool(_CONFINED.search(text))
    truth = patient.extrahepatic
    if truth and _BRAIN.search(text):
        truth = None
    want = wanted(clause, *match.span()) != confined
    brain = bool(_BRAIN.search(text))
    label = ("brain metastases", "脑转移") if brain else ("extrahepatic spread", "肝外转移")
    why = label if want else (f"no {label[0]}", f"无{label[1]}")
    return [judge("extrahepatic", truth, want, why, QUESTIONS["extrahepatic"], match.span())]


def read_hbv(clause: Clause, patient: Patient, today: date) -> list[Reading]:
    low = clause.low
    match = _HBV_GATE.open(clause) and _HBV.search(low)
    if not match:
        return []
    if _NOT_STATUS.search(low):
        return []
    if _COINFECTION.search(low):
        return _coinfection(clause, patient, match.span())
    for reader in (_dna_limit, _antiviral, _controlled, _active_hbv, _hbv_required):
        reading = reader(clause, patient, match.span())
        if reading is not None:
            return [reading]
    return [unread("hbv", match.span())]


def _dna_limit(clause: Clause, patient: Patient, span: tuple[int, int]) -> Reading | None:
    limit = _DNA_LIMIT.search(clause.low)
    if not limit:
        return None
    op, number = limit.groups()
    below = op in ("<", "<=")
    if op == "?=" or below != (clause.section == "inclusion"):
        return unread("hbv", span)   # "patients with HBV DNA >= 10 must be treated": a condition
    low_dna = {"treated": True, "none": True, "active": None}.get(patient.hbv or "")
    truth = low_dna if below else (None if low_dna is None else not low_dna)
    want = clause.section == "inclusion"
    why = f"HBV DNA {op} {number}"
    return judge("hbv", truth, want, (why, why), QUESTIONS["hbv"], span)


def _antiviral(clause: Clause, patient: Patient, span: tuple[int, int]) -> Reading | None:
    if not _ANTIVIRAL.search(clause.low) or clause.section != "inclusion":
        return None
    truth = {"treated": True, "none": True}.get(patient.hbv or "")
    return judge("hbv", truth, True, ("antiviral therapy for hepatitis B", "乙肝需抗病毒治疗"),
                 QUESTIONS["hbv"], span)


def _controlled(clause: Clause, patient: Patient, span: tuple[int, int]) -> Reading | None:
    if not re.search(r"\bcontrolled\b|suppress|under control", clause.low) or "uncontrolled" in clause.low:
        return None
    truth = {"treated": True, "none": True}.get(patient.hbv or "")
    return judge("hbv", truth, clause.section == "inclusion", ("controlled hepatitis B", "乙肝已控制"),
                 QUESTIONS["hbv"], span)


def _active_hbv(clause: Clause, patient: Patient, span: tuple[int, int]) -> Reading | None:
    if not _ACTIVE.search(clause.low):
        return None
    truth = {"treated": False, "none": False, "active": True}.get(patient.hbv or "")
    want = wanted(clause, *span)
    return judge("hbv", truth, want, ("active hepatitis B" if want else "no active hepatitis B",
                 "活动性乙肝" if want else "无活动性乙肝"), QUESTIONS["hbv"], span)


def _hbv_required(clause: Clause, patient: Patient, span: tuple[int, int]) -> Reading | None:
    if clause.section != "inclusion" or not re.search(r"related|associated|positive|infection|carrier|相关", clause.low):
        return None
    if re.search(r"\bor\b|和/或|或|and/or|risk", clause.low):
        return None
    truth = None if patient.hbv is None else patient.hbv != "none"
    return judge("hbv", truth, wanted(clause, *span), ("hepatitis B", "乙肝"), QUESTIONS["hbv"], span)


def _coinfection(clause: Clause, patient: Patient, span: tuple[int, int]) -> list[Reading]:
    if patient.hbv == "none" or patient.hcv == "none":
        truth: bool | None = False
    elif patient.hbv in ("active", "treated") and patient.hcv == "active":
        truth = True
    else:
        truth = None
    return [judge("hcv", truth, wanted(clause, *span), ("HBV and HCV co-infection", "乙肝丙肝合并感染"),
                  QUESTIONS["hcv"], span)]


def read_hcv(clause: Clause, patient: Patient, today: date) -> list[Reading]:
    low = clause.low
    match = _HCV_GATE.open(clause) and _HCV.search(low)
    if not match or _COINFECTION.search(low) or _NOT_STATUS.search(low):
        return []
    if re.search(r"allowed|permitted|eligible|can be (?:considered|included)|antiviral|允许", low):
        return [Reading("hcv", "fits", "hepatitis C allowed", "允许丙肝", wanted=None, span=match.span())]
    if _ACTIVE.search(low) or re.search(r"rna (?:positive|\+)|positive rna", low):
        truth = {"none": False, "cured": False, "active": True}.get(patient.hcv or "")
        want = wanted(clause, *match.span())
        return [judge("hcv", truth, want, ("active hepatitis C" if want else "no active hepatitis C",
                      "活动性丙肝" if want else "无活动性丙肝"), QUESTIONS["hcv"], match.span())]
    return [unread("hcv", match.span())]


def read_measurable(clause: Clause, patient: Patient, today: date) -> list[Reading]:
    match = _MEASURABLE_GATE.open(clause) and _MEASURABLE.search(clause.low)
    if not match or clause.section != "inclusion" or not re.search(r"\bat least\b|>=|\bone\b|\b1\b|must|have|"
                                                                       r"presence|有|至少", clause.low):
        return []
    local = [t.kind for t in patient.prior_treatments if t.kind in LOCAL]
    question = _untreated_lesion(local) if local else QUESTIONS["measurable_disease"]
    return [judge("measurable_disease", patient.measurable_disease, True,
                  ("a measurable lesion", "可测量病灶"), question, match.span())]


def _untreated_lesion(kinds: Sequence[str]) -> tuple[str, str]:
    """After liver-directed treatment, a treated lesion may no longer count: the question names
    the patient's own treatments ("TACE", "TACE, HAIC or ablation"), each once."""
    names = [KIND_NAMES[kind] for kind in dict.fromkeys(kinds)]
    english, chinese = (_either([en for en, _ in names], ", ", " or "),
                        _either([zh for _, zh in names], "、", "或"))
    return (f"Is there a measurable lesion that {english} has not treated (or that has grown since)?",
            f"是否有未经{chinese}治疗（或{chinese}后增大）的可测量病灶？")


def _either(names: list[str], comma: str, last: str) -> str:
    return last.join([comma.join(names[:-1]), names[-1]] if len(names) > 1 else names)


def sex_reading(details: Mapping[str, Any], patient: Patient) -> tuple[Reading, str] | None:
    sex = str(details.get("sex") or "").upper()
    if sex not in ("MALE", "FEMALE"):
        return None
    truth = None if patient.sex is None else patient.sex == sex.lower()
    label = ("men only", "仅限男性") if sex == "MALE" else ("women only", "仅限女性")
    return judge("sex", truth, True, label, ("Is the patient male or female?", "患者的性别？")), f"Sex: {sex}"
