"""The verification checklists of a release (DESIGN.md §1, `verification`). Pure.

Before execution the checklist is the release model's `components` and `procedures` criteria
together (one decision: a release cannot become ready with its procedures never verified);
after execution starts it is the `release` criteria. Outcomes are an append-only history; the
latest outcome per criterion is what counts, so a failed check is put right by verifying it
again, and the earlier outcome stays in the record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.lifecycle import OUTCOMES, PRE_EXECUTION_STAGES, Stage, State

if TYPE_CHECKING:  # types only: the checklist stays pure (no storage, no templates)
    from bot.catalog import ReleaseModel
    from bot.records import VerificationRecord

#: What a release model without release criteria is verified by once execution has started.
#: Passing the release stage at once would announce `released` the moment execution starts,
#: before anything was deployed; so the owner (or an approver) says how it went instead.
IMPLICIT_RELEASE_CRITERION = "Release completed as planned"


class Phase(StrEnum):
    """Which checklist applies: before execution, or release verification after it."""

    PRE_EXECUTION = "pre"
    RELEASE = "release"

    @property
    def stages(self) -> tuple[Stage, ...]:
        return PRE_EXECUTION_STAGES if self is Phase.PRE_EXECUTION else (Stage.RELEASE,)

    @property
    def label(self) -> str:
        return "pre-execution checks" if self is Phase.PRE_EXECUTION else "release checks"


def phase_for(state: State) -> Phase:
    """The checklist of a release in `state`: release verification once execution started."""
    return Phase.RELEASE if state is State.EXECUTING or state in OUTCOMES or state is State.CLOSED \
        else Phase.PRE_EXECUTION


@dataclass(frozen=True)
class Item:
    """One criterion to verify, with the stage of the release model that lists it."""

    stage: Stage
    criterion: str


@dataclass(frozen=True)
class Entry:
    """One outcome being recorded now (from the checklist modal)."""

    stage: Stage
    criterion: str
    passed: bool
    note: str | None = None
    evidence_url: str | None = None

    @property
    def data(self) -> dict[str, object]:
        """What the `verification_recorded` event says about it."""
        data: dict[str, object] = {"stage": self.stage.value, "criterion": self.criterion, "passed": self.passed}
        if self.note:
            data["note"] = self.note
        if self.evidence_url:
            data["evidence"] = self.evidence_url
        return data


def items(model: ReleaseModel, phase: Phase) -> tuple[Item, ...]:
    """The criteria of `phase`, in the model's order. A criterion listed under both components
    and procedures is one check (the outcomes are keyed by criterion)."""
    if phase is Phase.RELEASE:
        listed = model.criteria(Stage.RELEASE)
        if not listed:
            return (Item(Stage.RELEASE, IMPLICIT_RELEASE_CRITERION),)
        return tuple(Item(Stage.RELEASE, c) for c in dict.fromkeys(listed))
    found: dict[str, Item] = {}
    for stage in PRE_EXECUTION_STAGES:
        for criterion in model.criteria(stage):
            found.setdefault(criterion, Item(stage, criterion))
    return tuple(found.values())


@dataclass(frozen=True)
class Checklist:
    """A phase's criteria and the latest outcome of each."""

    phase: Phase
    items: tuple[Item, ...]
    latest: Mapping[str, VerificationRecord]
    #: The release model lists no release criteria: `IMPLICIT_RELEASE_CRITERION` stands in.
    implicit: bool = False

    @classmethod
    def of(cls, model: ReleaseModel, phase: Phase, records: Iterable[VerificationRecord]) -> Checklist:
        """`records` oldest first (as stored); outcomes of criteria no longer listed are ignored."""
        listed = items(model, phase)
        names = {item.criterion for item in listed}
        latest: dict[str, VerificationRecord] = {}
        for record in records:
            if record.stage in phase.stages and record.criterion in names:
                latest[record.criterion] = record
        implicit = phase is Phase.RELEASE and not model.criteria(Stage.RELEASE)
        return cls(phase, listed, latest, implicit)

    @property
    def criteria(self) -> list[str]:
        return [item.criterion for item in self.items]

    @property
    def outcomes(self) -> dict[str, bool]:
        """The latest outcome per criterion, as `lifecycle.verify` takes them."""
        return {name: record.passed for name, record in self.latest.items()}

    def passed(self) -> list[Item]:
        return [i for i in self.items if self._outcome(i) is True]

    def failed(self) -> list[Item]:
        return [i for i in self.items if self._outcome(i) is False]

    def unverified(self) -> list[Item]:
        return [i for i in self.items if self._outcome(i) is None]

    def missing(self) -> list[str]:
        """What is still to pass, as a person reads it: failed ones first."""
        return ([f"{i.criterion} (failed)" for i in self.failed()]
                + [f"{i.criterion} (not verified)" for i in self.unverified()])

    def _outcome(self, item: Item) -> bool | None:
        record = self.latest.get(item.criterion)
        return None if record is None else record.passed
