"""Benchmark: the eligibility pre-screen on the labelled dev set (tests/fixtures/eligibility: 44
real HCC trial texts from public mirrors, plus our labels of the cancer trials among
tests/fixtures/ctgov). Quality for the dev set's profile and for the bundled watchlist's
profile: false exclusions (goal 0), exclusion recall with the deciding concept among the
excluding reasons (goal >= 80%), criteria left unread; speed: 5,000 trials pre-screened
(goal < 10 s), the real texts cycled."""

from __future__ import annotations

import json
import os
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from assess.eligibility import Eligibility, screen
from assess.profile import Patient, patient_from_table
from hccwatch.watchlist import load_watchlist
from sources.clinicaltrials import parse_study

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
DEVSET = FIXTURES / "eligibility"
TODAY = date(2026, 11, 27)
TRIALS = 5000
TARGET_SECONDS = 10.0
RECALL_GOAL = 0.8
BUNDLED_WATCHLIST = Path(__file__).resolve().parent.parent / "hccwatch" / "watchlist.toml"
# The profile the labels are for (DEVSET_README.md: the bundled watchlist's facts, and also no
# resection, ablation, transplant, radiotherapy or HAIC); and the bundled watchlist's own.
DEVSET_PROFILE = {"diagnosis": "hcc", "hbv": "treated", "progressed_after": ["tace"],
                  "prior_treatments": [{"kind": "tace", "date": "2021-07"},
                                       {"kind": "tace", "date": "2021-08"}],
                  "no_prior": ["systemic", "resection", "ablation", "transplant", "radiotherapy",
                               "haic"]}
PROFILES = ("dev-set profile", "bundled profile")


@dataclass(frozen=True)
class Case:
    nct: str
    details: dict[str, Any]
    expected: str                 # "likely_excluded" | "not_excluded"
    concept: str | None = None    # the labelled deciding concept


@dataclass
class Score:
    false_exclusions: list[str]
    expected_exclusions: int
    found: int
    concept_right: int
    unread: int
    items: int

    @property
    def recall(self) -> float:
        return self.concept_right / self.expected_exclusions if self.expected_exclusions else 1.0


def cases() -> Iterator[Case]:
    """Every labelled trial: the mirrored texts, then the ClinicalTrials.gov recordings."""
    labels = tomllib.loads((DEVSET / "labels.toml").read_text(encoding="utf-8"))
    for nct, label in labels.items():
        details = {"eligibility_criteria": (DEVSET / f"{nct}.txt").read_text(encoding="utf-8"),
                   "minimum_age": label.get("minimum_age"), "sex": label.get("sex")}
        yield Case(nct, details, label["expected"], label.get("deciding_concept"))
    recorded = tomllib.loads((DEVSET / "ctgov_labels.toml").read_text(encoding="utf-8"))
    for nct, label in recorded.items():
        body = json.loads((FIXTURES / "ctgov" / label["file"]).read_text(encoding="utf-8"))
        study = next(s for s in body.get("studies") or [body]
                     if s["protocolSection"]["identificationModule"]["nctId"] == nct)
        yield Case(nct, parse_study(study).details, label["expected"], label.get("deciding_concept"))


def profile(name: str) -> Patient:
    if name == "bundled profile":
        return load_watchlist(BUNDLED_WATCHLIST).patient
    return patient_from_table(DEVSET_PROFILE)


def evaluate(patient: Patient) -> tuple[Score, dict[str, Eligibility]]:
    results = {case.nct: screen(case.details, patient, today=TODAY) for case in cases()}
    score = Score([], 0, 0, 0, 0, 0)
    for case in cases():
        result = results[case.nct]
        excluded = result.verdict == "likely_excluded"
        score.unread += result.unread
        score.items += len(result.inclusion) + len(result.exclusion)
        if case.expected == "not_excluded" and excluded:
            score.false_exclusions.append(case.nct)
        elif case.expected == "likely_excluded":
            score.expected_exclusions += 1
            score.found += excluded
            concepts = {r.concept for r in result.reasons if r.effect == "excludes"}
            score.concept_right += excluded and case.concept in concepts
    return score, results


def quality_rows(name: str) -> list[dict[str, Any]]:
    """The goals hold for the profile the labels are for; the bundled profile states fewer
    facts (no "no resection" etc.), so its recall is reported, not held to the goal."""
    score, _ = evaluate(profile(name))
    wrong = ", ".join(score.false_exclusions) or "none"
    labelled = name == "dev-set profile"
    return [
        {"benchmark": f"eligibility, {name}: false exclusions",
         "result": f"{len(score.false_exclusions)} ({wrong})", "target": "0",
         "ok": not score.false_exclusions},
        {"benchmark": f"eligibility, {name}: exclusion recall, deciding concept right",
         "result": f"{score.concept_right}/{score.expected_exclusions} ({score.recall:.0%}; "
                   f"{score.found} excluded)",
         "target": f">= {RECALL_GOAL:.0%}" if labelled else "reported (labels assume more facts)",
         "ok": score.recall >= RECALL_GOAL or not labelled},
        {"benchmark": f"eligibility, {name}: criteria left unread",
         "result": f"{score.unread} of {score.items} items", "target": "reported", "ok": True},
    ]


def speed_row(trials: int) -> dict[str, Any]:
    """Time to pre-screen `trials` trials, the labelled texts cycled. The goal is judged on the
    process's CPU time: the machine is shared (2 cores, up to 6 engineers), and wall time there
    measures the others' load as much as this code; both are shown, with the load average."""
    corpus = [case.details for case in cases()]
    details = [dict(corpus[i % len(corpus)], nct=i) for i in range(trials)]
    chars = sum(len(d.get("eligibility_criteria") or "") for d in details) / trials
    patient = profile("bundled profile")
    wall, cpu = time.perf_counter(), time.process_time()
    for trial in details:
        screen(trial, patient, today=TODAY)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    scale = TRIALS / trials
    label = f"{trials:,}" if trials == TRIALS else f"{trials:,} (scaled to {TRIALS:,})"
    return {"benchmark": f"eligibility: pre-screen {label} trials (mean {chars:,.0f} chars)",
            "result": f"CPU {cpu * scale:.1f} s, wall {wall * scale:.1f} s "
                      f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)",
            "target": f"< {TARGET_SECONDS:.0f} s", "ok": cpu * scale < TARGET_SECONDS}


def run(quick: bool = False) -> list[dict[str, Any]]:
    rows = [row for name in PROFILES for row in quality_rows(name)]
    return rows + [speed_row(1000 if quick else TRIALS)]


if __name__ == "__main__":
    for row in run():
        print(f"{row['benchmark']}: {row['result']} (target {row['target']}) {'ok' if row['ok'] else 'NOT MET'}")
