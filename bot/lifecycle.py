"""States and transitions of a release instance (DESIGN.md §2). Pure.

Each transition takes a snapshot of the release, the actor and `now`, and returns a
decision: `Moved` (new state and the event to record), `Stayed` (a fact to record, no
state change) or `Refused` (a sentence the person can act on). Nothing here reads a
clock, a database or Slack, so every rule is testable with plain values, and nothing else
in the code base decides a state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.outcome import Refusal
from bot.release_plan import PlanFollowed, ReleasePlan, changed


class State(StrEnum):
    PLANNED = "planned"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    READY = "ready"
    EXECUTING = "executing"
    RELEASED = "released"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")

    @property
    def is_final(self) -> bool:
        return self in (State.REJECTED, State.CANCELLED, State.CLOSED)


#: States before execution starts, in which a release may still be cancelled.
BEFORE_EXECUTION = frozenset({State.PLANNED, State.AWAITING_APPROVAL, State.APPROVED, State.READY})
#: Outcomes of execution, which a release review closes.
OUTCOMES = frozenset({State.RELEASED, State.FAILED, State.ROLLED_BACK})
ROLLBACK_FROM = frozenset({State.EXECUTING, State.FAILED, State.RELEASED})


class EventKind(StrEnum):
    """What the release record can say happened. Lifecycle event names of the model's
    communication plan (`submitted`, `approved`, …) are members too."""

    PLANNED = "planned"
    SUBMITTED = "submitted"
    APPROVAL_RECORDED = "approval_recorded"
    APPROVED = "approved"
    REJECTED = "rejected"
    VERIFICATION_RECORDED = "verification_recorded"
    READY = "ready"
    NOT_READY = "not_ready"
    STARTED = "started"
    RELEASED = "released"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"
    CLOSED = "closed"
    MESSAGE_FAILED = "message_failed"
    SURVEY_SENT = "survey_sent"
    SURVEY_ANSWERED = "survey_answered"
    REVIEWED = "reviewed"
    LESSONS_LEARNT = "lessons_learnt"
    WINDOW_CHANGED = "window_changed"
    COMMUNICATION_SENT = "communication_sent"
    COMMUNICATION_SKIPPED = "communication_skipped"
    COMMUNICATIONS_WITHDRAWN = "communications_withdrawn"
    PLAN_CHANGED = "plan_changed"
    APPROVALS_RESET = "approvals_reset"
    ROLLBACK_PLAN_NOTED = "rollback_plan_noted"
    OWNER_CHANGED = "owner_changed"
    #: A release manager started the release through a freeze (DESIGN.md §8).
    FREEZE_OVERRIDDEN = "freeze_overridden"
    #: The release started after its planned start because a freeze held it (the metrics
    #: count it as delayed by a freeze, not as missing its window).
    DELAYED_BY_FREEZE = "delayed_by_freeze"
    #: An incident was related to the release (DESIGN.md §9): `ref`, `summary`, `url`.
    INCIDENT_LINKED = "incident_linked"
    #: The release model's early life support of a released release ran out (DESIGN.md §9).
    SUPPORT_ENDED = "early_life_support_ended"
    #: A release of a model with `approval: {pre_authorized: true}` was approved on
    #: submission, without a person: a standard, pre-authorized change (DESIGN.md §7).
    PRE_AUTHORIZED = "pre_authorized"


#: The events a communication plan may name with `on:` (DESIGN.md §5).
PLAN_EVENTS = frozenset({
    EventKind.SUBMITTED, EventKind.APPROVED, EventKind.REJECTED, EventKind.STARTED,
    EventKind.RELEASED, EventKind.FAILED, EventKind.ROLLED_BACK, EventKind.CANCELLED,
    EventKind.CLOSED,
})


class Role(StrEnum):
    OWNER = "owner"
    APPROVER = "approver"
    #: RELEASEBOT_MANAGERS: may do what an owner may on any release, and more (DESIGN.md §6).
    MANAGER = "manager"
    #: A pipeline API token of the release's model (DESIGN.md §6–7): the actor `token:NAME`.
    PIPELINE = "pipeline"


class Stage(StrEnum):
    """Verification stages: before execution (components, procedures) and after (release)."""

    COMPONENTS = "components"
    PROCEDURES = "procedures"
    RELEASE = "release"


PRE_EXECUTION_STAGES = (Stage.COMPONENTS, Stage.PROCEDURES)


@dataclass(frozen=True)
class Actor:
    user_id: str
    roles: frozenset[Role] = frozenset()
    #: Who holds the other roles, as configured (ids of users and user groups), so that a
    #: refusal can say who may act instead.
    approvers: tuple[str, ...] = ()
    managers: tuple[str, ...] = ()

    def has(self, role: Role) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Release:
    """The snapshot of a release instance that the rules look at."""

    id: int
    model_key: str
    title: str
    state: State
    owner: str
    planned_start: datetime
    planned_end: datetime

    @property
    def ref(self) -> str:
        return f"REL-{self.id}"


@dataclass(frozen=True)
class Event:
    kind: EventKind
    actor: str | None
    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Moved:
    to: State
    event: Event


@dataclass(frozen=True)
class Stayed:
    """A fact recorded without a state change; `changes` are the release's fields it sets
    (a new planned window, say)."""

    event: Event
    changes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Refused:
    """Not allowed, and why: a stable `code` and a plain sentence (no Slack markup; people
    are named by their bare ids, listed in `people` for each surface to render)."""

    code: str
    reason: str
    people: tuple[str, ...] = ()

    @property
    def refusal(self) -> Refusal:
        return Refusal(self.code, self.reason, self.people)


Decision = Moved | Stayed | Refused


@dataclass(frozen=True)
class ApprovalRules:
    quorum: int = 1
    self_approval: bool = False
    #: As the model lists them (users and user groups), to tell a refused person who decides.
    approvers: tuple[str, ...] = ()


# --- who may do what ----------------------------------------------------------------------


class Action(StrEnum):
    """What a person (or a pipeline) asks to do; `MAY` says who may."""

    SUBMIT = "submit"
    CANCEL = "cancel"
    CHANGE_WINDOW = "change_window"
    ANNOUNCE = "announce"
    SURVEY = "survey"
    HAND_OVER = "hand_over"
    START = "start"
    CLOSE = "close"
    LESSONS = "lessons"
    DECIDE = "decide"
    VERIFY = "verify"
    ROLLBACK = "rollback"
    EDIT_PLAN = "edit_plan"
    LINK_INCIDENT = "link_incident"
    REVIEW = "review"
    MODEL_REVIEW = "model_review"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    OVERRIDE_FREEZE = "override_freeze"


_OWNER_SIDE = frozenset({Role.OWNER, Role.MANAGER})
_HANDS_ON = frozenset({Role.OWNER, Role.APPROVER, Role.MANAGER})

#: The one table of who may do what (DESIGN.md §6). Deciding (approve, reject) has its own
#: rules beside the role (separation of duties): see `may_decide`. Planning is the model's
#: `planners` (`bot.roles.Roles.may_plan`); pipeline tokens are the pipeline API's.
MAY: Mapping[Action, frozenset[Role]] = {
    Action.SUBMIT: _OWNER_SIDE,
    Action.CANCEL: _OWNER_SIDE,
    Action.CHANGE_WINDOW: _OWNER_SIDE,
    Action.ANNOUNCE: _OWNER_SIDE,
    Action.SURVEY: _OWNER_SIDE,
    Action.HAND_OVER: _OWNER_SIDE,
    Action.START: _OWNER_SIDE,
    Action.CLOSE: _OWNER_SIDE,
    # The lessons learnt are the owner's part of the review (not a row of §6: as the owner's).
    Action.LESSONS: _OWNER_SIDE,
    Action.EDIT_PLAN: _OWNER_SIDE,
    Action.DECIDE: frozenset({Role.APPROVER}),
    Action.VERIFY: _HANDS_ON,
    Action.ROLLBACK: _HANDS_ON,
    Action.LINK_INCIDENT: _HANDS_ON,
    Action.REVIEW: _HANDS_ON,
    Action.MODEL_REVIEW: frozenset({Role.APPROVER, Role.MANAGER}),
    Action.FREEZE: frozenset({Role.MANAGER}),
    Action.UNFREEZE: frozenset({Role.MANAGER}),
    Action.OVERRIDE_FREEZE: frozenset({Role.MANAGER}),
}

_DOING: Mapping[Action, str] = {
    Action.SUBMIT: "submit {ref}",
    Action.CANCEL: "cancel {ref}",
    Action.CHANGE_WINDOW: "change the window of {ref}",
    Action.ANNOUNCE: "send or skip {ref}'s communications",
    Action.SURVEY: "send the survey of {ref}; it goes out by itself after the release",
    Action.LESSONS: "add the lessons learnt of {ref}",
    Action.CLOSE: "close {ref}",
    Action.EDIT_PLAN: "edit the plan of {ref}",
    Action.HAND_OVER: "hand {ref} over to someone else",
    Action.START: "start {ref}",
    Action.CLOSE: "close {ref}",
    Action.LESSONS: "add the lessons learnt of {ref}",
    Action.DECIDE: "decide {ref}",
    Action.VERIFY: "verify {ref}",
    Action.ROLLBACK: "roll back {ref}",
    Action.LINK_INCIDENT: "link an incident to {ref}",
    Action.REVIEW: "post the review of {ref}",
    Action.MODEL_REVIEW: "review the release model {ref}",
    Action.FREEZE: "freeze the change schedule",
    Action.UNFREEZE: "end a freeze",
    Action.OVERRIDE_FREEZE: "start {ref} through a freeze",
}


def _who_may(allowed: frozenset[Role], actor: Actor, owner: str | None, model_key: str) -> tuple[str, tuple[str, ...]]:
    """"the release owner, UALICE, the approvers of cab (UBOB, SCAB) or a release manager
    (UMGR)", and the ids it names. Release managers are named only when there are some."""
    parts: list[str] = []
    people: list[str] = []
    if Role.OWNER in allowed and owner:
        parts.append(f"the release owner, {owner},")
        people.append(owner)
    if Role.APPROVER in allowed:
        listed = f" ({', '.join(actor.approvers)})" if actor.approvers else ""
        parts.append(f"the approvers of {model_key}{listed}")
        people += actor.approvers
    if Role.MANAGER in allowed and actor.managers:
        parts.append(f"a release manager ({', '.join(actor.managers)})")
        people += actor.managers
    if not parts:
        return "a release manager (none is configured: RELEASEBOT_MANAGERS)", ()
    *head, last = parts
    text = last
    if head:
        text = " ".join(p if p.endswith(",") else p + "," for p in head[:-1])
        text = f"{text} {head[-1]} or {last}".lstrip()
    return text.rstrip(",") if not head and not last.endswith(",") else text, tuple(dict.fromkeys(people))


def permit(release: Release, actor: Actor, action: Action) -> Refused | None:
    """None when `actor` may do `action` on `release`; else who may instead."""
    allowed = MAY[action]
    if actor.roles & allowed:
        return None
    who, people = _who_may(allowed, actor, release.owner, release.model_key)
    return Refused("not_allowed", f"Only {who} can {_DOING[action].format(ref=release.ref)}.", people)


def permit_general(actor: Actor, action: Action, model_key: str = "") -> Refused | None:
    """`permit` where no release is concerned: a model review (of `model_key`), a freeze."""
    allowed = MAY[action]
    if actor.roles & allowed:
        return None
    who, people = _who_may(allowed, actor, None, model_key)
    return Refused("not_allowed", f"Only {who} can {_DOING[action].format(ref=model_key)}.", people)


def no_such_release(release_id: int) -> Refused:
    return Refused("no_such_release", f"There is no REL-{release_id}.")


def model_missing(release: Release) -> Refused:
    return Refused("model_missing", f"{release.ref} uses the release model {release.model_key}, whose version "
                                    "it was planned with cannot be read; ask an administrator to restore it.")


def conflict(release_id: int) -> Refused:
    return Refused("conflict", f"REL-{release_id} changed meanwhile; look at it again and retry.")


def _wrong_state(release: Release, expected: str) -> Refused:
    return Refused("wrong_state", f"{release.ref} is {release.state.label}, not {expected}.")


def submit(release: Release, actor: Actor, now: datetime) -> Decision:
    if release.state is not State.PLANNED:
        return _wrong_state(release, "planned, so it cannot be submitted for approval")
    if refusal := permit(release, actor, Action.SUBMIT):
        return refusal
    return Moved(State.AWAITING_APPROVAL, Event(EventKind.SUBMITTED, actor.user_id, now))


def approve(
    release: Release, actor: Actor, rules: ApprovalRules, approved_by: frozenset[str], now: datetime
) -> Decision:
    """Record one approval; the release is approved when the quorum is reached.

    `approved_by` are those who approved before. The unique constraint on approvals is the
    real guard against counting a person twice; this gives the readable answer.
    """
    refusal = may_decide(release, actor, rules)
    if refusal:
        return refusal
    if actor.user_id in approved_by:
        return Refused("already_decided", f"You have already approved {release.ref}; each approver counts once.")
    count = len(approved_by | {actor.user_id})
    data = {"count": count, "quorum": rules.quorum}
    if count >= rules.quorum:
        return Moved(State.APPROVED, Event(EventKind.APPROVED, actor.user_id, now, data))
    return Stayed(Event(EventKind.APPROVAL_RECORDED, actor.user_id, now, data))


def reject(release: Release, actor: Actor, rules: ApprovalRules, reason: str, now: datetime) -> Decision:
    refusal = may_decide(release, actor, rules)
    if refusal:
        return refusal
    if not reason.strip():
        return Refused("reason_required",
                       f"Say why you reject {release.ref}: the reason is recorded and sent to the owner.")
    return Moved(State.REJECTED, Event(EventKind.REJECTED, actor.user_id, now, {"reason": reason.strip()}))


def may_decide(release: Release, actor: Actor, rules: ApprovalRules) -> Refused | None:
    """Whether `actor` may approve or reject now (asked before the rejection modal opens)."""
    if release.state is not State.AWAITING_APPROVAL:
        if release.state is State.PLANNED:
            return Refused("not_awaiting_approval", f"{release.ref} has not been submitted for approval yet.")
        if release.state is State.CANCELLED:
            return Refused("not_awaiting_approval", f"{release.ref} was cancelled, so there is nothing to decide.")
        if release.state is State.REJECTED:
            return Refused("not_awaiting_approval", f"{release.ref} has already been decided: it was rejected.")
        return Refused("not_awaiting_approval",
                       f"{release.ref} has already been decided: it was approved (now {release.state.label}).")
    if not actor.has(Role.APPROVER):
        listed = f" (approvers: {', '.join(rules.approvers)})" if rules.approvers else ""
        return Refused("not_allowed", f"You are not an approver for the {release.model_key} release model{listed}, "
                                      f"so you cannot decide {release.ref}.", rules.approvers)
    if actor.user_id == release.owner and not rules.self_approval:
        return Refused(
            "self_approval",
            f"You requested {release.ref}, so you cannot approve or reject it yourself: "
            "the release model asks for separation of duties."
        )
    return None


def verify(
    release: Release,
    actor: Actor,
    stage: Stage,
    outcomes: Mapping[str, bool],
    criteria: Sequence[str],
    now: datetime,
    recorded: Mapping[str, Any] | None = None,
) -> Decision:
    """Decide what the latest verification outcomes mean for the release.

    `outcomes` holds the latest outcome per criterion of `stage` *including* the one being
    recorded (`recorded` describes it for the event). Pre-execution stages move an approved
    release to ready when every pre-execution criterion has passed (and a ready release back
    to approved if one is re-verified as failed); the release stage decides released or
    failed.
    """
    if refusal := permit(release, actor, Action.VERIFY):
        return refusal
    fact = Event(EventKind.VERIFICATION_RECORDED, actor.user_id, now, dict(recorded or {}))
    if stage is Stage.RELEASE:
        if release.state is not State.EXECUTING:
            return _wrong_state(release, "executing, so release verification cannot be recorded")
        if any(outcomes.get(c) is False for c in criteria):
            failed = [c for c in criteria if outcomes.get(c) is False]
            return Moved(State.FAILED, Event(EventKind.FAILED, actor.user_id, now, {"criteria": failed}))
        if all(outcomes.get(c) is True for c in criteria):
            return Moved(State.RELEASED, Event(EventKind.RELEASED, actor.user_id, now))
        return Stayed(fact)
    if release.state not in (State.APPROVED, State.READY):
        return _wrong_state(release, "approved, so it cannot be verified before execution")
    all_passed = all(outcomes.get(c) is True for c in criteria)
    if release.state is State.APPROVED and all_passed:
        return Moved(State.READY, Event(EventKind.READY, actor.user_id, now))
    if release.state is State.READY and not all_passed:
        return Moved(State.APPROVED, Event(EventKind.NOT_READY, actor.user_id, now, dict(recorded or {})))
    return Stayed(fact)


def become_ready(release: Release, missing: Sequence[str], why: str, now: datetime,
                 actor: str | None = None) -> Decision:
    """An approved release is ready when nothing is left to pass before execution, even with
    no outcome being recorded now: its release model asks for no pre-execution checks (nobody
    can verify nothing, so waiting for a verification would strand it), or the checks it
    asks for stand passed already. `why` goes into the event; `actor` is whoever asked, or
    None when releasebot noticed (on approval)."""
    if release.state is not State.APPROVED:
        return _wrong_state(release, "approved, so it cannot become ready")
    if missing:
        return Refused("not_ready", f"{release.ref} is not ready: still to pass: {', '.join(missing)}.")
    return Moved(State.READY, Event(EventKind.READY, actor, now, {"reason": why}))


@dataclass(frozen=True)
class FreezeInForce:
    """A freeze of the change schedule as the rules see it: `ref` is `FRZ-n` for a one-off
    freeze, the blackout's name for a recurring one; `end` is aware, in the zone people read."""

    ref: str
    reason: str
    start: datetime
    end: datetime
    recurring: bool = False

    @property
    def named(self) -> str:
        what = f"the recurring blackout “{self.ref}”" if self.recurring else self.ref
        return f"{what} ({self.reason})" if self.reason and self.reason != self.ref else what

    @property
    def until(self) -> str:
        return self.end.strftime("%Y-%m-%d %H:%M %Z").strip()


def start(release: Release, actor: Actor, missing: Sequence[str], now: datetime,
          freezes: Sequence[FreezeInForce] = (), override: str | None = None) -> Decision:
    """Start execution. `missing` lists the pre-execution criteria not (yet) passed;
    `freezes` those in force for the release's model now.

    Only a ready release starts: an approved one with nothing missing becomes ready first
    (`become_ready`), so that the record always says why execution was allowed. A freeze
    stops execution (DESIGN.md §8): only a release manager starts through it, with a reason
    (`override`), and the started event says which freezes were overridden and why.
    """
    if refusal := permit(release, actor, Action.START):
        return refusal
    if release.state in (State.APPROVED, State.READY) and missing:
        return Refused("not_ready", f"{release.ref} is not ready to start: still to pass: {', '.join(missing)}.")
    if release.state is State.APPROVED:
        return Refused("not_ready", f"{release.ref} is not ready to start: it is approved but not yet ready; "
                                    "its checklist shows what is left to verify.")
    if release.state is not State.READY:
        return _wrong_state(release, "ready, so execution cannot start")
    if freezes and override is None:
        named = "; ".join(f"{f.named} is in force until {f.until}" for f in freezes)
        return Refused("frozen", f"{release.ref} cannot start now: the change schedule is frozen: {named}. "
                                 "A release manager may start it anyway, with a reason.")
    if freezes and override is not None:
        if not actor.has(Role.MANAGER):
            return Refused("not_allowed", f"Only a release manager can start {release.ref} through a freeze.")
        if not override.strip():
            return Refused("reason_required",
                           f"Say why {release.ref} must start during the freeze: the reason is recorded.")
        return Moved(State.EXECUTING, Event(EventKind.STARTED, actor.user_id, now, {
            "freeze_overridden": {"freezes": [f.ref for f in freezes], "reason": override.strip()}}))
    return Moved(State.EXECUTING, Event(EventKind.STARTED, actor.user_id, now))


def may_freeze(actor: Actor, managers: Sequence[str] = ()) -> Refused | None:
    """Freezing and unfreezing the change schedule is for release managers (DESIGN.md §6)."""
    if actor.has(Role.MANAGER):
        return None
    listed = f" ({', '.join(managers)})" if managers else " (none are configured: set RELEASEBOT_MANAGERS)"
    return Refused("not_allowed", f"Only release managers{listed} can freeze or unfreeze the change schedule.",
                   tuple(managers))


def rollback(release: Release, actor: Actor, reason: str, now: datetime,
             plan_followed: PlanFollowed | None = None) -> Decision:
    """Roll back; `plan_followed` says whether the release's rollback plan was followed
    (None: not said, which `note_rollback_plan` can record afterwards)."""
    if release.state not in ROLLBACK_FROM:
        return _wrong_state(release, "executing, released or failed, so there is nothing to roll back")
    if refusal := permit(release, actor, Action.ROLLBACK):
        return refusal
    if not reason.strip():
        return Refused("reason_required", f"Say why you roll back {release.ref}: the reason is recorded.")
    data: dict[str, Any] = {"reason": reason.strip(), "from": release.state.value}
    if plan_followed is not None:
        data["plan_followed"] = plan_followed.value
    return Moved(State.ROLLED_BACK, Event(EventKind.ROLLED_BACK, actor.user_id, now, data))


def cancel(release: Release, actor: Actor, reason: str, now: datetime) -> Decision:
    if release.state not in BEFORE_EXECUTION:
        if release.state is State.EXECUTING or release.state in OUTCOMES:
            return Refused("already_executing",
                           f"{release.ref} has started executing, so it cannot be cancelled; roll it back instead.")
        return _wrong_state(release, "open, so there is nothing to cancel")
    if refusal := permit(release, actor, Action.CANCEL):
        return refusal
    if not reason.strip():
        return Refused("reason_required", f"Say why you cancel {release.ref}: the reason is recorded.")
    return Moved(
        State.CANCELLED,
        Event(EventKind.CANCELLED, actor.user_id, now, {"reason": reason.strip(), "from": release.state.value}),
    )


def change_window(release: Release, actor: Actor, start: datetime, end: datetime, now: datetime,
                  reason: str = "") -> Decision:
    """Move the planned window (not a transition: a recorded fact that changes the release).

    Only before execution, and only by the owner. The communication plan reschedules from the
    event; the minute of grace on the start allows for the date picker's minute resolution.
    """
    if refusal := may_change_window(release, actor):
        return refusal
    if end <= start:
        return Refused("invalid_window", "The planned end must be after the planned start.")
    if start < now - timedelta(minutes=1):
        return Refused("invalid_window", "The new start has already passed; choose a time from now on.")
    if (start, end) == (release.planned_start, release.planned_end):
        return Refused("unchanged", f"{release.ref} already has that window; nothing changed.")
    data: dict[str, Any] = {
        "from": [release.planned_start.isoformat(), release.planned_end.isoformat()],
        "to": [start.isoformat(), end.isoformat()],
    }
    if reason.strip():
        data["reason"] = reason.strip()
    return Stayed(Event(EventKind.WINDOW_CHANGED, actor.user_id, now, data),
                  changes={"planned_start": start, "planned_end": end})


def hand_over(release: Release, actor: Actor, new_owner: str, now: datetime) -> Decision:
    """The owner or a release manager hands the release to someone else: recorded, and the
    new owner is the owner from now on (reminders, notices, the rules of the table)."""
    if release.state.is_final:
        return _wrong_state(release, "open, so it can no longer be handed over")
    if refusal := permit(release, actor, Action.HAND_OVER):
        return refusal
    if new_owner == release.owner:
        return Refused("unchanged", f"{new_owner} already owns {release.ref}; nothing changed.", (new_owner,))
    return Stayed(Event(EventKind.OWNER_CHANGED, actor.user_id, now, {"from": release.owner, "to": new_owner}),
                  changes={"owner": new_owner})


def close(release: Release, actor: Actor, review_done: bool, now: datetime,
          support_until: datetime | None = None, confirmed: bool = False) -> Decision:
    """`support_until`: the end of the release's early life support, when it has one; closing
    before it is asked to be confirmed (incidents of the support period are still coming)."""
    if release.state not in OUTCOMES:
        return _wrong_state(release, "released, failed or rolled back, so it cannot be closed")
    if refusal := permit(release, actor, Action.CLOSE):
        return refusal
    if not review_done:
        return Refused("review_first", f"Review {release.ref} first (post its release review), then close it.")
    if support_until is not None and now < support_until and not confirmed:
        return Refused("support_running",
                       f"{release.ref} is still in early life support until "
                       f"{support_until.strftime('%Y-%m-%d %H:%M UTC')}: incidents it causes may still surface. "
                       "Confirm to close it anyway.")
    data = {"during_support": True} if support_until is not None and now < support_until else {}
    return Moved(State.CLOSED, Event(EventKind.CLOSED, actor.user_id, now, data))


def may_change_window(release: Release, actor: Actor) -> Refused | None:
    """Asked before the window modal opens, and again when it is submitted."""
    if release.state not in BEFORE_EXECUTION:
        return Refused("wrong_state",
                       f"{release.ref} is {release.state.label}, so its planned window can no longer change.")
    return permit(release, actor, Action.CHANGE_WINDOW)


#: States whose release has been executed: a survey asks about them, a review looks back.
EXECUTED = OUTCOMES | {State.CLOSED}


def may_send_survey(release: Release, actor: Actor | None, has_survey: bool) -> Refused | None:
    """`actor` None: releasebot itself, when the survey comes due after the release."""
    if not has_survey:
        return no_survey(release)
    if actor is not None and (refusal := permit(release, actor, Action.SURVEY)):
        return refusal
    if release.state not in EXECUTED:
        return Refused("wrong_state", f"{release.ref} is {release.state.label}: the survey is for releases that "
                                      "have been executed.")
    return None


def no_survey(release: Release) -> Refused:
    return Refused("no_survey", f"The {release.model_key} release model has no survey, so there is nothing to send.")


def may_review(release: Release, actor: Actor | None = None) -> Refused | None:
    """`actor` None: asked without a person (the rules of the state only)."""
    if actor is not None and (refusal := permit(release, actor, Action.REVIEW)):
        return refusal
    if release.state not in EXECUTED:
        return Refused("wrong_state", f"{release.ref} is {release.state.label}: a review is for releases that "
                                      "were released, failed or rolled back.")
    return None


def may_add_lessons(release: Release, actor: Actor) -> Refused | None:
    return permit(release, actor, Action.LESSONS)


def may_announce(release: Release, actor: Actor) -> Refused | None:
    """Send a queued communication now, or skip it."""
    return permit(release, actor, Action.ANNOUNCE)

# --- the release plan (DESIGN.md §5a) ------------------------------------------------------------

#: States in which the release plan may change: until execution starts, as the window.
PLAN_EDITABLE = BEFORE_EXECUTION
#: States in which approvals given stand for the plan as it was.
APPROVAL_STANDS = frozenset({State.AWAITING_APPROVAL, State.APPROVED, State.READY})


def may_edit_plan(release: Release, actor: Actor) -> Refused | None:
    """Why `actor` cannot edit the plan now, if they cannot: before opening a form for it."""
    if release.state not in PLAN_EDITABLE:
        return Refused("wrong_state", f"{release.ref} is {release.state.label}: its release plan can change only "
                                      "until execution starts.")
    return permit(release, actor, Action.EDIT_PLAN)


def edit_plan(release: Release, actor: Actor, old: ReleasePlan, new: ReleasePlan, now: datetime) -> Decision:
    """Change the release notes, risk, impact or rollback plan: a recorded fact (not a
    transition) whose event says what changed from what to what.

    Only the owner, and only until execution starts: what the approvers decided on and what
    is executed must be the same plan. Whether approvals given stand is `after_plan_change`.
    """
    refusal = may_edit_plan(release, actor)
    if refusal:
        return refusal
    fields = changed(old, new)
    if not fields:
        return Refused("unchanged", f"The plan of {release.ref} already says that; nothing changed.")
    data: dict[str, Any] = {
        "changed": list(fields),
        "from": {name: old.value(name) for name in fields},
        "to": {name: new.value(name) for name in fields},
    }
    return Stayed(Event(EventKind.PLAN_CHANGED, actor.user_id, now, data),
                  changes={name: new.columns()[name] for name in fields})


def after_plan_change(release: Release, approved_by: frozenset[str], reapprove_on_change: bool, by: str,
                      now: datetime) -> Decision | None:
    """What a plan edit does to the approvals already given: None when they stand (the
    approval request then says the plan changed after them).

    A release model with `approval: {reapprove_on_change: true}` does not keep approvals
    given for a different plan: they are withdrawn (recorded, naming who had approved), and
    an approved or ready release goes back to awaiting approval.
    """
    if not reapprove_on_change or not approved_by or release.state not in APPROVAL_STANDS:
        return None
    data: dict[str, Any] = {"approvers": sorted(approved_by), "from": release.state.value,
                            "reason": "the release plan changed after approval"}
    event = Event(EventKind.APPROVALS_RESET, by, now, data)
    if release.state is State.AWAITING_APPROVAL:
        return Stayed(event)
    return Moved(State.AWAITING_APPROVAL, event)


def note_rollback_plan(release: Release, actor: Actor, followed: PlanFollowed, already_said: bool,
                       now: datetime) -> Decision:
    """Record, after a rollback, whether its rollback plan was followed (when the rollback
    itself did not say): once, by those who may roll back."""
    if release.state is not State.ROLLED_BACK:
        return _wrong_state(release, "rolled back")
    if refusal := permit(release, actor, Action.ROLLBACK):
        return refusal
    if already_said:
        return Refused("already_recorded",
                       f"Whether the rollback plan of {release.ref} was followed is recorded already.")
    return Stayed(Event(EventKind.ROLLBACK_PLAN_NOTED, actor.user_id, now, {"plan_followed": followed.value}))


# --- incidents and early life support (DESIGN.md §9) ---------------------------------------------

#: States in which an incident may be related to a release: it has been executed (or is being).
INCIDENT_STATES = frozenset({State.EXECUTING}) | OUTCOMES | {State.CLOSED}


def may_link_incident(release: Release, actor: Actor | None) -> Refused | None:
    """`actor` None: a pipeline token, which the pipeline API has checked against the
    release's model already (tokens of the model may link incidents, DESIGN.md §6)."""
    if actor is not None and (refusal := permit(release, actor, Action.LINK_INCIDENT)):
        return refusal
    if release.state not in INCIDENT_STATES:
        return Refused("wrong_state", f"{release.ref} is {release.state.label}: it has not been executed, so no "
                                      "incident can be related to it yet.")
    return None


def support_until(released_at: datetime | None, duration: timedelta | None) -> datetime | None:
    """The end of a release's early life support: its first release plus the model's duration."""
    if released_at is None or duration is None:
        return None
    return released_at + duration


def in_support(state: State, until: datetime | None, now: datetime) -> bool:
    """Whether a release is in early life support now: released, and before the end."""
    return state is State.RELEASED and until is not None and now < until
# --- pipelines (DESIGN.md §6–7) -----------------------------------------------------------

#: What a pipeline token of the release's model may do through the API, beside the people of
#: the `MAY` table: plan (its own check), submit, start, cancel, verify, roll back, link an
#: incident. Never decide, never freeze, never override one.
PIPELINE_MAY = frozenset({Action.SUBMIT, Action.START, Action.CANCEL, Action.VERIFY, Action.ROLLBACK,
                          Action.LINK_INCIDENT})
MAY = {action: roles | ({Role.PIPELINE} if action in PIPELINE_MAY else frozenset())
       for action, roles in MAY.items()}

#: The actor of a pipeline: `token:NAME` on events and on `/release show`.
PIPELINE_PREFIX = "token:"


def is_pipeline(user: str | None) -> bool:
    return bool(user) and str(user).startswith(PIPELINE_PREFIX)


def pre_authorize(release: Release, now: datetime) -> Decision:
    """A submitted release of a pre-authorized model is approved without a person: the
    approved event says so (`pre_authorized`), and all that follows approval follows."""
    if release.state is not State.AWAITING_APPROVAL:
        return _wrong_state(release, "awaiting approval, so it cannot be pre-authorized")
    return Moved(State.APPROVED, Event(EventKind.APPROVED, None, now, {"pre_authorized": True}))
