"""The release plan a release authority decides on (DESIGN.md §5a). Pure.

Beside the window, a release carries its **release notes** (what changes for users, in
Markdown, or a link to them), its **risk** (low, medium or high) with a line on the
**impact**, and its **rollback plan** (how to back out). A release model may require any of
the three parts; this module says what is missing or too long, field by field, and what an
edit changes. Who may edit, until when, and what an edit does to approvals given already are
rules of the lifecycle (`bot.lifecycle.edit_plan`, `bot.lifecycle.after_plan_change`).

Field names double as the planning modal's block ids and the API's field names, so an
error lands on the field it is about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

RELEASE_NOTES = "release_notes"
RISK = "risk"
IMPACT = "impact"
ROLLBACK_PLAN = "rollback_plan"

#: Every field of the plan, in the order people read them.
FIELDS = (RISK, IMPACT, ROLLBACK_PLAN, RELEASE_NOTES)
#: The parts a release model may require (`plan: {require: [...]}`); requiring the risk
#: requires its impact line too: a level alone tells an approver little.
PARTS = (RELEASE_NOTES, RISK, ROLLBACK_PLAN)

#: Long enough for real release notes and runbooks; longer ones belong behind a link.
TEXT_LIMIT = 20_000
#: The impact is a line, not a document.
IMPACT_LIMIT = 1_000

LABELS = {RELEASE_NOTES: "release notes", RISK: "risk", IMPACT: "impact", ROLLBACK_PLAN: "rollback plan"}

_URL = re.compile(r"^https?://[^\s<>|]+$", re.IGNORECASE)


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @classmethod
    def parse(cls, value: Any) -> Risk | None:
        """`"High"`, `"high"` → Risk.HIGH; empty, `none` or unknown → None."""
        try:
            return cls(str(value or "").strip().lower())
        except ValueError:
            return None


def is_link(text: str) -> bool:
    """Release notes that are only a link (http or https), to be shown as one."""
    return bool(_URL.match(text.strip()))


@dataclass(frozen=True)
class ReleasePlan:
    release_notes: str = ""
    risk: Risk | None = None
    impact: str = ""
    rollback_plan: str = ""

    @classmethod
    def of(cls, release_notes: str | None = "", risk: str | Risk | None = None, impact: str | None = "",
           rollback_plan: str | None = "") -> ReleasePlan:
        """From what a person typed (or a row holds): text stripped, risk parsed."""
        return cls((release_notes or "").strip(), Risk.parse(risk) if not isinstance(risk, Risk) else risk,
                   (impact or "").strip(), (rollback_plan or "").strip())

    @property
    def empty(self) -> bool:
        return self == ReleasePlan()

    def columns(self) -> dict[str, Any]:
        """As stored on the release row (empty text is NULL: "not given")."""
        return {RELEASE_NOTES: self.release_notes or None, RISK: self.risk.value if self.risk else None,
                IMPACT: self.impact or None, ROLLBACK_PLAN: self.rollback_plan or None}

    def value(self, name: str) -> str:
        """A field as text, the risk as its word ("" when not given)."""
        raw = getattr(self, name)
        return raw.value if isinstance(raw, Risk) else str(raw or "")

    def with_changes(self, changes: Mapping[str, str | None]) -> ReleasePlan:
        """This plan with the given fields replaced ("" clears one); fields not mentioned, or
        None, are kept."""
        known = {name: value for name, value in changes.items() if name in FIELDS and value is not None}
        merged = {name: self.value(name) for name in FIELDS} | known
        return ReleasePlan.of(**merged)


def changed(old: ReleasePlan, new: ReleasePlan) -> tuple[str, ...]:
    """The fields an edit changes, in reading order."""
    return tuple(name for name in FIELDS if old.value(name) != new.value(name))


def required_parts(require: Iterable[str]) -> tuple[str, ...]:
    return tuple(part for part in PARTS if part in set(require))


def problems(plan: ReleasePlan, require: Iterable[str] = (), *, model_name: str = "The release model",
             risk_given: str = "") -> dict[str, str]:
    """What is wrong with a plan, by field: a part the release model requires and is missing,
    a risk that is not a level, a text too long. Empty when the plan may be stored.

    `risk_given` is the risk as typed (the API may send a word that is not a level).
    """
    errors: dict[str, str] = {}
    wanted = set(require)
    if risk_given.strip() and plan.risk is None and risk_given.strip().lower() not in ("none", "not assessed"):
        errors[RISK] = f"“{risk_given.strip()[:40]}” is not a risk level: choose low, medium or high."
    if RELEASE_NOTES in wanted and not plan.release_notes:
        errors[RELEASE_NOTES] = (f"{model_name} requires release notes: what changes for users "
                                 "(Markdown), or a link to them.")
    if RISK in wanted:
        if plan.risk is None and RISK not in errors:
            errors[RISK] = f"{model_name} requires a risk assessment: choose low, medium or high."
        if not plan.impact:
            errors[IMPACT] = f"{model_name} requires the impact: one line on what is hit if it goes wrong."
    if ROLLBACK_PLAN in wanted and not plan.rollback_plan:
        errors[ROLLBACK_PLAN] = f"{model_name} requires a rollback plan: how to back out if it goes wrong."
    for name, limit in ((RELEASE_NOTES, TEXT_LIMIT), (ROLLBACK_PLAN, TEXT_LIMIT), (IMPACT, IMPACT_LIMIT)):
        size = len(plan.value(name))
        if size > limit and name not in errors:
            hint = " Put the rest behind a link." if name == RELEASE_NOTES else ""
            errors[name] = (f"The {LABELS[name]} are {size:,} characters; keep them to {limit:,}.{hint}"
                            if name == RELEASE_NOTES else
                            f"The {LABELS[name]} is {size:,} characters; keep it to {limit:,}.")
    return errors


def describe_changes(names: Iterable[str]) -> str:
    """`("risk", "rollback_plan")` → "risk and rollback plan"."""
    words = [LABELS[n] for n in names if n in LABELS]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


class PlanFollowed(StrEnum):
    """Whether a rollback went by the rollback plan: the review says, and the model review
    learns whether the plans are worth writing."""

    FOLLOWED = "followed"
    PARTLY = "partly"
    NOT_FOLLOWED = "not_followed"
    NO_PLAN = "no_plan"

    @property
    def label(self) -> str:
        return {"followed": "followed", "partly": "partly followed", "not_followed": "not followed",
                "no_plan": "none was written"}[self.value]
