"""The eligibility pre-screen as a trial's page shows it: the verdict stored with the finding
(Finding.eligibility, written by the pipeline as Eligibility.to_json()) or, while none is stored,
one computed from the trial's details by the screener the app was given."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from assess.eligibility import CONCEPTS, EFFECTS, Eligibility, Reason, screen
from assess.profile import Patient

Screener = Callable[[Mapping[str, Any], Patient], Eligibility]


def default_screener(details: Mapping[str, Any], patient: Patient) -> Eligibility:
    return screen(details, patient, today=date.today())


@dataclass(frozen=True)
class Criterion:
    """One criterion item with the concepts read in it."""

    text: str
    marks: tuple[Reason, ...]


@dataclass(frozen=True)
class EligibilityView:
    result: Eligibility
    inclusion: tuple[Criterion, ...]
    exclusion: tuple[Criterion, ...]
    registry: tuple[Reason, ...]      # read from the structured fields (age limits, sex, conditions)
    stored: bool                      # False: computed for this page, not yet stored

    @staticmethod
    def concept(name: str) -> tuple[str, str]:
        return CONCEPTS.get(name, (name.replace("_", " "), name))

    @staticmethod
    def effect(name: str) -> tuple[str, str]:
        return EFFECTS.get(name, (name, name))


def eligibility_view(kind: str, stored: Any, details: Mapping[str, Any], patient: Patient | None,
                     screener: Screener | None) -> EligibilityView | None:
    """The page's view of a trial's pre-screen, or None (not a trial, or nothing to show)."""
    if kind != "trial":
        return None
    result = _stored(stored)
    from_store = result is not None
    if result is None and screener is not None and patient is not None:
        result = screener(details, patient)
    if result is None:
        return None
    return EligibilityView(result, _items(result, "inclusion"), _items(result, "exclusion"),
                           tuple(r for r in result.reasons if r.section is None), from_store)


def _stored(value: Any) -> Eligibility | None:
    """The stored object; one this version cannot read counts as not stored (it is recomputed)."""
    if not value:
        return None
    try:
        data = json.loads(value) if isinstance(value, str) else value
        return Eligibility.from_json(data)
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def _items(result: Eligibility, section: str) -> tuple[Criterion, ...]:
    texts = getattr(result, section)
    return tuple(Criterion(text, tuple(result.marks(section, index))) for index, text in enumerate(texts))
