"""The patient profile (the watchlist's `[patient]` table) as a typed, frozen value.
Every field may be unknown (None, or an empty tuple): unknown is never filled with a default."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SEXES = ("male", "female")
DIAGNOSES = ("hcc", "fibrolamellar", "hcc-cca")
BCLC_STAGES = ("0", "A", "B", "C", "D")
HEPATITIS = {"hbv": ("none", "active", "treated"), "hcv": ("none", "active", "cured")}
TREATMENT_KINDS = ("tace", "tare", "haic", "ablation", "resection", "transplant", "radiotherapy",
                   "systemic")
VP_LEVELS = ("vp1", "vp2", "vp3", "vp4")
CHILD_PUGH_SCORES = {"A": range(5, 7), "B": range(7, 10), "C": range(10, 16)}
PATIENT_KEYS = {"label", "label_zh", "birth_year", "sex", "diagnosis", "bclc", "child_pugh",
                "ecog", "hbv", "hcv", "vascular_invasion", "extrahepatic", "prior_treatments",
                "no_prior", "progressed_after", "measurable_disease", "notes"}
TREATMENT_KEYS = {"kind", "date", "drugs", "notes"}
# The facts the pre-screen asks about, as people name them (for "what is still unknown").
FACT_NAMES = {"birth_year": "birth year", "sex": "sex", "diagnosis": "diagnosis",
              "bclc": "BCLC stage", "child_pugh_class": "Child-Pugh", "ecog": "ECOG",
              "hbv": "hepatitis B", "hcv": "hepatitis C", "vascular_invasion": "vascular invasion",
              "extrahepatic": "spread outside the liver", "measurable_disease": "measurable lesion"}
_DATE_RE = re.compile(r"^(19|20)\d\d-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")
_CHILD_PUGH_RE = re.compile(r"^([ABC])(\d{1,2})?$")


class ProfileError(ValueError):
    """A bad [patient] value; `key` is the dotted path ("patient.child_pugh") for the loader,
    which adds the file and line."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class Treatment:
    kind: str
    date: str | None = None          # "YYYY-MM" or "YYYY-MM-DD"
    drugs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Patient:
    label: str | None = None
    label_zh: str | None = None
    birth_year: int | None = None
    sex: str | None = None
    diagnosis: str | None = None
    bclc: str | None = None
    child_pugh_class: str | None = None
    child_pugh_score: int | None = None
    ecog: int | None = None
    hbv: str | None = None
    hcv: str | None = None
    vascular_invasion: bool | str | None = None   # False, True, or a level "vp1".."vp4"
    extrahepatic: bool | None = None
    measurable_disease: bool | None = None
    prior_treatments: tuple[Treatment, ...] = ()
    # Treatment kinds the patient is known never to have had ("none" said explicitly):
    # a kind in neither list is unknown.
    no_prior: tuple[str, ...] = ()
    progressed_after: tuple[str, ...] = ()

    def treatments(self, kind: str) -> tuple[Treatment, ...]:
        return tuple(t for t in self.prior_treatments if t.kind == kind)

    def facts(self) -> tuple[list[str], list[str]]:
        """(known, unknown): what the profile states and what it leaves open, in plain words."""
        known = [name for key, name in FACT_NAMES.items() if getattr(self, key) is not None]
        unknown = [name for key, name in FACT_NAMES.items() if getattr(self, key) is None]
        known += [f"{_shown(t.kind)} {t.date or '(no date)'}" for t in self.prior_treatments]
        known += [f"progressed after {_shown(kind)}" for kind in self.progressed_after]
        known += [f"no {_shown(kind)}" for kind in self.no_prior]
        return known, unknown


def _shown(kind: str) -> str:
    return kind.upper() if kind in ("tace", "tare", "haic") else kind


def patient_from_table(table: Mapping[str, Any]) -> Patient:
    """The [patient] table -> Patient; a bad value raises ProfileError naming the key."""
    if not isinstance(table, Mapping):
        raise ProfileError("patient", "must be a table ([patient])")
    for key in table:
        if key not in PATIENT_KEYS:
            raise ProfileError(f"patient.{key}", f"unknown key (known: {', '.join(sorted(PATIENT_KEYS))})")
    cp_class, cp_score = _child_pugh(table.get("child_pugh"))
    treatments = tuple(_treatment(t, i) for i, t in enumerate(_list(table, "prior_treatments")))
    no_prior = _kinds(table, "no_prior")
    progressed_after = _kinds(table, "progressed_after")
    _consistent(treatments, no_prior, progressed_after)
    return Patient(
        label=_text(table, "label"), label_zh=_text(table, "label_zh"),
        birth_year=_int(table, "birth_year", 1900, 2100), sex=_choice(table, "sex", SEXES),
        diagnosis=_choice(table, "diagnosis", DIAGNOSES), bclc=_bclc(table.get("bclc")),
        child_pugh_class=cp_class, child_pugh_score=cp_score, ecog=_int(table, "ecog", 0, 4),
        hbv=_choice(table, "hbv", HEPATITIS["hbv"]), hcv=_choice(table, "hcv", HEPATITIS["hcv"]),
        vascular_invasion=_vascular(table.get("vascular_invasion")),
        extrahepatic=_bool(table, "extrahepatic"),
        measurable_disease=_bool(table, "measurable_disease"),
        prior_treatments=treatments, no_prior=no_prior,
        progressed_after=progressed_after,
    )


def _text(table: Mapping[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"patient.{key}", "must be a non-empty string")
    return value.strip()


def _choice(table: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        raise ProfileError(f"patient.{key}", f"{value!r} is not one of {', '.join(allowed)}")
    return value.strip().lower()


def _int(table: Mapping[str, Any], key: str, low: int, high: int) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProfileError(f"patient.{key}", f"{value!r} is not a whole number {low}-{high}")
    return value


def _bool(table: Mapping[str, Any], key: str) -> bool | None:
    value = table.get(key)
    if value is not None and not isinstance(value, bool):
        raise ProfileError(f"patient.{key}", f"{value!r} is not true or false")
    return value


def _bclc(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().upper()
    if isinstance(value, bool) or text not in BCLC_STAGES:
        raise ProfileError("patient.bclc", f"{value!r} is not one of {', '.join(BCLC_STAGES)}")
    return text


def _child_pugh(value: Any) -> tuple[str | None, int | None]:
    if value is None:
        return None, None
    match = _CHILD_PUGH_RE.match(str(value).strip().upper()) if isinstance(value, str) else None
    if not match:
        raise ProfileError("patient.child_pugh", f"{value!r} is not a class A/B/C or a class "
                           "with its score (A5, A6, B7, ... C15)")
    cls, score = match.group(1), match.group(2)
    if score is not None and int(score) not in CHILD_PUGH_SCORES[cls]:
        scores = CHILD_PUGH_SCORES[cls]
        raise ProfileError("patient.child_pugh", f"class {cls} has scores {scores.start}-"
                           f"{scores.stop - 1}, not {score}")
    return cls, int(score) if score else None


def _vascular(value: Any) -> bool | str | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in VP_LEVELS:
        return value.strip().lower()
    raise ProfileError("patient.vascular_invasion",
                       f"{value!r} is not true, false or a level {', '.join(VP_LEVELS)}")


def _list(table: Mapping[str, Any], key: str) -> list[Any]:
    value = table.get(key, [])
    if not isinstance(value, list):
        raise ProfileError(f"patient.{key}", "must be a list")
    return value


def _kinds(table: Mapping[str, Any], key: str) -> tuple[str, ...]:
    kinds = []
    for value in _list(table, key):
        if not isinstance(value, str) or value.strip().lower() not in TREATMENT_KINDS:
            raise ProfileError(f"patient.{key}", f"{value!r} is not a treatment kind "
                               f"({', '.join(TREATMENT_KINDS)})")
        kinds.append(value.strip().lower())
    return tuple(dict.fromkeys(kinds))


def _treatment(value: Any, index: int) -> Treatment:
    key = f"patient.prior_treatments[{index}]"
    if not isinstance(value, Mapping):
        raise ProfileError(key, 'must be a table like { kind = "tace", date = "2021-07" }')
    unknown = set(value) - TREATMENT_KEYS
    if unknown:
        raise ProfileError(f"{key}.{sorted(unknown)[0]}", "unknown key (known: date, drugs, kind, notes)")
    kind = str(value.get("kind", "")).strip().lower()
    if kind not in TREATMENT_KINDS:
        raise ProfileError(f"{key}.kind", f"{value.get('kind')!r} is not one of {', '.join(TREATMENT_KINDS)}")
    date = value.get("date")
    if date is not None and (not isinstance(date, str) or not _DATE_RE.match(date)):
        raise ProfileError(f"{key}.date", f"{date!r} is not a date YYYY-MM or YYYY-MM-DD")
    drugs = value.get("drugs", [])
    if not isinstance(drugs, list) or not all(isinstance(d, str) and d.strip() for d in drugs):
        raise ProfileError(f"{key}.drugs", "must be a list of drug names")
    return Treatment(kind=kind, date=date, drugs=tuple(d.strip().lower() for d in drugs))


def _consistent(treatments: tuple[Treatment, ...], no_prior: tuple[str, ...],
                progressed_after: tuple[str, ...]) -> None:
    for treatment in treatments:
        if treatment.kind in no_prior:
            raise ProfileError("patient.no_prior", f"{treatment.kind!r} is also listed in "
                               "prior_treatments")
    for kind in progressed_after:
        if kind in no_prior:
            raise ProfileError("patient.progressed_after", f"{kind!r} is also listed in no_prior")
