"""The release lifecycle (DESIGN.md §2), decided with plain values: no database, no server.

Every transition is checked from every state it accepts and from every state it refuses;
the refused states are the rest of the `State` enum, so a new state cannot be forgotten.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.lifecycle import (
    BEFORE_EXECUTION,
    OUTCOMES,
    Actor,
    ApprovalRules,
    Decision,
    Event,
    EventKind,
    Moved,
    Refused,
    Release,
    Role,
    Stage,
    State,
    Stayed,
    approve,
    become_ready,
    cancel,
    close,
    reject,
    rollback,
    start,
    submit,
    verify,
)

NOW = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
ALICE, BOB, CAROL, EVE = "UALICE", "UBOB", "UCAROL", "UEVE"

#: Alice plans and owns the release (she is its requester).
OWNER = Actor(ALICE, frozenset({Role.OWNER}))
#: Alice is also one of the model's approvers: separation of duties applies to her.
OWNER_AND_APPROVER = Actor(ALICE, frozenset({Role.OWNER, Role.APPROVER}))
APPROVER = Actor(BOB, frozenset({Role.APPROVER}))
MANAGER = Actor("UMGR", frozenset({Role.MANAGER}))
SECOND_APPROVER = Actor(CAROL, frozenset({Role.APPROVER}))
#: Eve is in the channel, but neither owns the release nor approves for its model.
BYSTANDER = Actor(EVE)

REF = "REL-7"
PRE_EXECUTION_CRITERIA = ("Build artefacts signed", "Rollback procedure rehearsed")
RELEASE_CRITERIA = ("Smoke tests pass", "No new errors in monitoring")
PRE_EXECUTION_STAGES = [Stage.COMPONENTS, Stage.PROCEDURES]
QUORUM_OF_TWO = ApprovalRules(quorum=2)


def release(state: State) -> Release:
    """REL-7 "Payments API 2.3" of the *cab* release model, owned by Alice, in `state`."""
    start_at = datetime(2024, 5, 10, 22, 0, tzinfo=UTC)
    return Release(
        id=7,
        model_key="cab",
        title="Payments API 2.3",
        state=state,
        owner=ALICE,
        planned_start=start_at,
        planned_end=start_at + timedelta(hours=2),
    )


def states_except(*accepted: State | frozenset[State]) -> list[State]:
    """Every state but the accepted ones, in enum order (for parametrize)."""
    allowed: set[State] = set()
    for item in accepted:
        allowed |= {item} if isinstance(item, State) else set(item)
    return [state for state in State if state not in allowed]


def in_order(states: frozenset[State]) -> list[State]:
    """The given states in enum order (for parametrize ids that read in lifecycle order)."""
    return [state for state in State if state in states]


def refusal(decision: Decision) -> str:
    """The reason of a refusal; fails if the decision is not a refusal."""
    assert isinstance(decision, Refused), f"expected a refusal, got {decision!r}"
    reason = decision.reason
    assert reason[:1].isupper(), f"a refusal should read as a sentence: {reason!r}"
    assert decision.code and decision.code.isidentifier(), f"a refusal has a stable code: {decision!r}"
    assert not any(mark in reason for mark in ("<@", "<!", "<#", "`", "*")), f"plain, no Slack markup: {reason!r}"
    return reason


def assert_wrong_state_refusal(decision: Decision, state: State) -> None:
    """Refused with a sentence naming the release and the state it is in."""
    reason = refusal(decision)
    assert REF in reason
    assert state.label in reason


def fact(actor: str, data: Mapping[str, Any] | None = None) -> Event:
    return Event(EventKind.VERIFICATION_RECORDED, actor, NOW, dict(data or {}))


def outcomes(criteria: tuple[str, ...], *failed: str, unverified: tuple[str, ...] = ()) -> dict[str, bool]:
    """Latest outcome per criterion: pass unless `failed`; `unverified` ones are absent."""
    return {c: c not in failed for c in criteria if c not in unverified}


# --- the states themselves ------------------------------------------------------------------


def test_state_labels_read_as_words() -> None:
    assert State.AWAITING_APPROVAL.label == "awaiting approval"
    assert State.ROLLED_BACK.label == "rolled back"
    assert State.PLANNED.label == "planned"


@pytest.mark.parametrize("state", list(State))
def test_only_rejected_cancelled_and_closed_are_final(state: State) -> None:
    assert state.is_final is (state in {State.REJECTED, State.CANCELLED, State.CLOSED})


# --- submit ---------------------------------------------------------------------------------


def test_owner_submits_a_planned_release_for_approval() -> None:
    decision = submit(release(State.PLANNED), OWNER, NOW)
    assert decision == Moved(State.AWAITING_APPROVAL, Event(EventKind.SUBMITTED, ALICE, NOW))


@pytest.mark.parametrize("state", states_except(State.PLANNED))
def test_submit_is_refused_unless_planned(state: State) -> None:
    decision = submit(release(state), OWNER, NOW)
    assert_wrong_state_refusal(decision, state)
    assert "submitted for approval" in refusal(decision)


@pytest.mark.parametrize("actor", [APPROVER, BYSTANDER], ids=["approver", "bystander"])
def test_only_the_owner_can_submit(actor: Actor) -> None:
    reason = refusal(submit(release(State.PLANNED), actor, NOW))
    assert REF in reason
    assert ALICE in reason  # the bare id: each surface renders it (a mention in Slack)


# --- approve --------------------------------------------------------------------------------


def test_single_approval_reaches_the_default_quorum_of_one() -> None:
    decision = approve(release(State.AWAITING_APPROVAL), APPROVER, ApprovalRules(), frozenset(), NOW)
    assert decision == Moved(
        State.APPROVED, Event(EventKind.APPROVED, BOB, NOW, {"count": 1, "quorum": 1})
    )


def test_first_approval_below_quorum_is_recorded_and_the_release_keeps_waiting() -> None:
    decision = approve(release(State.AWAITING_APPROVAL), APPROVER, QUORUM_OF_TWO, frozenset(), NOW)
    assert decision == Stayed(Event(EventKind.APPROVAL_RECORDED, BOB, NOW, {"count": 1, "quorum": 2}))


def test_second_approver_reaches_a_quorum_of_two() -> None:
    decision = approve(
        release(State.AWAITING_APPROVAL), SECOND_APPROVER, QUORUM_OF_TWO, frozenset({BOB}), NOW
    )
    assert decision == Moved(
        State.APPROVED, Event(EventKind.APPROVED, CAROL, NOW, {"count": 2, "quorum": 2})
    )


@pytest.mark.parametrize("rules", [ApprovalRules(), QUORUM_OF_TWO], ids=["quorum-1", "quorum-2"])
def test_the_same_approver_approving_twice_is_refused(rules: ApprovalRules) -> None:
    reason = refusal(approve(release(State.AWAITING_APPROVAL), APPROVER, rules, frozenset({BOB}), NOW))
    assert REF in reason
    assert "already approved" in reason


def test_earlier_approvals_of_others_count_toward_the_quorum() -> None:
    decision = approve(
        release(State.AWAITING_APPROVAL), APPROVER, ApprovalRules(quorum=3), frozenset({CAROL}), NOW
    )
    assert decision == Stayed(Event(EventKind.APPROVAL_RECORDED, BOB, NOW, {"count": 2, "quorum": 3}))


@pytest.mark.parametrize("state", states_except(State.AWAITING_APPROVAL))
def test_approve_is_refused_unless_awaiting_approval(state: State) -> None:
    decision = approve(release(state), APPROVER, ApprovalRules(), frozenset(), NOW)
    reason = refusal(decision)
    assert REF in reason
    if state is State.CANCELLED:
        assert "was cancelled, so there is nothing to decide" in reason
    elif state is State.REJECTED:
        assert "already been decided: it was rejected" in reason
    elif state is not State.PLANNED:  # a planned release gets its own answer, tested below
        assert f"already been decided: it was approved (now {state.label})" in reason


def test_approving_a_planned_release_says_it_was_not_submitted_yet() -> None:
    reason = refusal(approve(release(State.PLANNED), APPROVER, ApprovalRules(), frozenset(), NOW))
    assert reason == f"{REF} has not been submitted for approval yet."


@pytest.mark.parametrize("actor", [OWNER, BYSTANDER], ids=["owner-only", "bystander"])
def test_only_an_approver_of_the_release_model_can_approve(actor: Actor) -> None:
    reason = refusal(approve(release(State.AWAITING_APPROVAL), actor, ApprovalRules(), frozenset(), NOW))
    assert "not an approver" in reason
    assert "cab" in reason


def test_requester_cannot_approve_their_own_release() -> None:
    reason = refusal(
        approve(release(State.AWAITING_APPROVAL), OWNER_AND_APPROVER, ApprovalRules(), frozenset(), NOW)
    )
    assert REF in reason
    assert "separation of duties" in reason


def test_requester_may_approve_when_the_model_allows_self_approval() -> None:
    rules = ApprovalRules(self_approval=True)
    decision = approve(release(State.AWAITING_APPROVAL), OWNER_AND_APPROVER, rules, frozenset(), NOW)
    assert decision == Moved(
        State.APPROVED, Event(EventKind.APPROVED, ALICE, NOW, {"count": 1, "quorum": 1})
    )


def test_self_approval_counts_once_toward_a_quorum_of_two() -> None:
    rules = ApprovalRules(quorum=2, self_approval=True)
    decision = approve(release(State.AWAITING_APPROVAL), OWNER_AND_APPROVER, rules, frozenset(), NOW)
    assert decision == Stayed(Event(EventKind.APPROVAL_RECORDED, ALICE, NOW, {"count": 1, "quorum": 2}))


# --- reject ---------------------------------------------------------------------------------


def test_approver_rejects_with_a_reason_which_is_recorded_trimmed() -> None:
    decision = reject(
        release(State.AWAITING_APPROVAL), APPROVER, ApprovalRules(), "  No rollback plan \n", NOW
    )
    assert decision == Moved(
        State.REJECTED, Event(EventKind.REJECTED, BOB, NOW, {"reason": "No rollback plan"})
    )


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"], ids=["empty", "spaces", "whitespace"])
def test_reject_needs_a_reason(reason: str) -> None:
    answer = refusal(reject(release(State.AWAITING_APPROVAL), APPROVER, ApprovalRules(), reason, NOW))
    assert "Say why" in answer


@pytest.mark.parametrize("state", states_except(State.AWAITING_APPROVAL))
def test_reject_is_refused_unless_awaiting_approval(state: State) -> None:
    reason = refusal(reject(release(state), APPROVER, ApprovalRules(), "Too risky", NOW))
    assert REF in reason
    if state is not State.PLANNED:
        assert state.label in reason


@pytest.mark.parametrize("actor", [OWNER, BYSTANDER], ids=["owner-only", "bystander"])
def test_only_an_approver_of_the_release_model_can_reject(actor: Actor) -> None:
    reason = refusal(reject(release(State.AWAITING_APPROVAL), actor, ApprovalRules(), "Too risky", NOW))
    assert "not an approver" in reason


def test_requester_cannot_reject_their_own_release() -> None:
    reason = refusal(
        reject(release(State.AWAITING_APPROVAL), OWNER_AND_APPROVER, ApprovalRules(), "Changed my mind", NOW)
    )
    assert REF in reason
    assert "separation of duties" in reason


def test_requester_may_reject_when_the_model_allows_self_approval() -> None:
    rules = ApprovalRules(self_approval=True)
    decision = reject(release(State.AWAITING_APPROVAL), OWNER_AND_APPROVER, rules, "Changed my mind", NOW)
    assert isinstance(decision, Moved)
    assert decision.to is State.REJECTED


# --- verify: before execution (components, procedures) --------------------------------------


@pytest.mark.parametrize("stage", PRE_EXECUTION_STAGES)
def test_last_pre_execution_check_passing_makes_an_approved_release_ready(stage: Stage) -> None:
    all_passed = outcomes(PRE_EXECUTION_CRITERIA)
    decision = verify(release(State.APPROVED), APPROVER, stage, all_passed, PRE_EXECUTION_CRITERIA, NOW)
    assert decision == Moved(State.READY, Event(EventKind.READY, BOB, NOW))


@pytest.mark.parametrize("stage", PRE_EXECUTION_STAGES)
def test_partly_verified_approved_release_stays_approved(stage: Stage) -> None:
    recorded = {"criterion": "Build artefacts signed", "passed": True, "evidence": "https://ci/42"}
    decision = verify(
        release(State.APPROVED),
        OWNER,
        stage,
        outcomes(PRE_EXECUTION_CRITERIA, unverified=("Rollback procedure rehearsed",)),
        PRE_EXECUTION_CRITERIA,
        NOW,
        recorded,
    )
    assert decision == Stayed(fact(ALICE, recorded))


@pytest.mark.parametrize("stage", PRE_EXECUTION_STAGES)
def test_failed_pre_execution_check_keeps_an_approved_release_approved(stage: Stage) -> None:
    recorded = {"criterion": "Rollback procedure rehearsed", "passed": False}
    decision = verify(
        release(State.APPROVED),
        OWNER,
        stage,
        outcomes(PRE_EXECUTION_CRITERIA, "Rollback procedure rehearsed"),
        PRE_EXECUTION_CRITERIA,
        NOW,
        recorded,
    )
    assert decision == Stayed(fact(ALICE, recorded))


@pytest.mark.parametrize("stage", PRE_EXECUTION_STAGES)
def test_check_re_verified_as_failed_sends_a_ready_release_back_to_approved(stage: Stage) -> None:
    recorded = {"criterion": "Build artefacts signed", "passed": False, "evidence": "signature expired"}
    decision = verify(
        release(State.READY),
        APPROVER,
        stage,
        outcomes(PRE_EXECUTION_CRITERIA, "Build artefacts signed"),
        PRE_EXECUTION_CRITERIA,
        NOW,
        recorded,
    )
    assert decision == Moved(State.APPROVED, Event(EventKind.NOT_READY, BOB, NOW, recorded))


@pytest.mark.parametrize("stage", PRE_EXECUTION_STAGES)
def test_check_re_verified_as_passed_keeps_a_ready_release_ready(stage: Stage) -> None:
    recorded = {"criterion": "Build artefacts signed", "passed": True}
    all_passed = outcomes(PRE_EXECUTION_CRITERIA)
    decision = verify(release(State.READY), OWNER, stage, all_passed, PRE_EXECUTION_CRITERIA, NOW, recorded)
    assert decision == Stayed(fact(ALICE, recorded))


def test_verification_fact_without_details_records_empty_data() -> None:
    decision = verify(
        release(State.APPROVED), OWNER, Stage.COMPONENTS, {}, PRE_EXECUTION_CRITERIA, NOW
    )
    assert decision == Stayed(fact(ALICE))


@pytest.mark.parametrize("stage", PRE_EXECUTION_STAGES)
@pytest.mark.parametrize("state", states_except(State.APPROVED, State.READY))
def test_pre_execution_verification_is_refused_unless_approved_or_ready(state: State, stage: Stage) -> None:
    decision = verify(
        release(state), OWNER, stage, outcomes(PRE_EXECUTION_CRITERIA), PRE_EXECUTION_CRITERIA, NOW
    )
    assert_wrong_state_refusal(decision, state)
    assert "before execution" in refusal(decision)


# --- verify: release verification after execution ------------------------------------------


def test_all_release_checks_passing_means_released() -> None:
    decision = verify(
        release(State.EXECUTING), OWNER, Stage.RELEASE, outcomes(RELEASE_CRITERIA), RELEASE_CRITERIA, NOW
    )
    assert decision == Moved(State.RELEASED, Event(EventKind.RELEASED, ALICE, NOW))


@pytest.mark.parametrize(
    "latest",
    [
        {"Smoke tests pass": False},
        {"Smoke tests pass": False, "No new errors in monitoring": True},
        {"Smoke tests pass": True, "No new errors in monitoring": False},
    ],
    ids=["first-check-fails", "one-fails-one-passes", "last-check-fails"],
)
def test_any_release_check_failing_means_failed(latest: dict[str, bool]) -> None:
    decision = verify(release(State.EXECUTING), APPROVER, Stage.RELEASE, latest, RELEASE_CRITERIA, NOW)
    failed = [c for c in RELEASE_CRITERIA if latest.get(c) is False]
    assert decision == Moved(State.FAILED, Event(EventKind.FAILED, BOB, NOW, {"criteria": failed}))


def test_partly_verified_executing_release_keeps_executing() -> None:
    recorded = {"criterion": "Smoke tests pass", "passed": True}
    latest = {"Smoke tests pass": True}
    decision = verify(release(State.EXECUTING), OWNER, Stage.RELEASE, latest, RELEASE_CRITERIA, NOW, recorded)
    assert decision == Stayed(fact(ALICE, recorded))


@pytest.mark.parametrize("state", states_except(State.EXECUTING))
def test_release_verification_is_refused_unless_executing(state: State) -> None:
    decision = verify(release(state), OWNER, Stage.RELEASE, outcomes(RELEASE_CRITERIA), RELEASE_CRITERIA, NOW)
    assert_wrong_state_refusal(decision, state)
    assert "release verification" in refusal(decision)


@pytest.mark.parametrize("stage", list(Stage))
def test_only_the_owner_or_an_approver_can_verify(stage: Stage) -> None:
    state = State.EXECUTING if stage is Stage.RELEASE else State.APPROVED
    reason = refusal(verify(release(state), BYSTANDER, stage, {}, PRE_EXECUTION_CRITERIA, NOW))
    assert REF in reason
    assert "cab" in reason


# --- start ----------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", [OWNER, MANAGER], ids=["owner", "manager"])
def test_ready_release_starts_executing(actor: Actor) -> None:
    decision = start(release(State.READY), actor, [], NOW)
    assert decision == Moved(State.EXECUTING, Event(EventKind.STARTED, actor.user_id, NOW))


@pytest.mark.parametrize("state", [State.APPROVED, State.READY])
def test_start_is_refused_listing_the_checks_still_to_pass(state: State) -> None:
    missing = ["Build artefacts signed", "Rollback procedure rehearsed"]
    reason = refusal(start(release(state), OWNER, missing, NOW))
    assert REF in reason
    assert "not ready to start" in reason
    assert "Build artefacts signed, Rollback procedure rehearsed" in reason


def test_approved_release_cannot_start_before_it_is_ready() -> None:
    # Even with nothing missing (a release model without pre-execution criteria, quick.yaml):
    # such a release becomes ready first (`become_ready`, below), then starts from ready.
    reason = refusal(start(release(State.APPROVED), OWNER, [], NOW))
    assert REF in reason
    assert "not ready to start" in reason
    assert "left to verify" in reason


# --- become ready without a new outcome ------------------------------------------------------

NO_CHECKS = "the release model asks for no pre-execution checks"


def test_approved_release_with_no_pre_execution_checks_becomes_ready() -> None:
    decision = become_ready(release(State.APPROVED), [], NO_CHECKS, NOW)
    assert decision == Moved(State.READY, Event(EventKind.READY, None, NOW, {"reason": NO_CHECKS}))


def test_becoming_ready_on_request_records_who_asked() -> None:
    decision = become_ready(release(State.APPROVED), [], NO_CHECKS, NOW, actor=ALICE)
    assert decision == Moved(State.READY, Event(EventKind.READY, ALICE, NOW, {"reason": NO_CHECKS}))


def test_approved_release_with_checks_missing_does_not_become_ready() -> None:
    reason = refusal(become_ready(release(State.APPROVED), ["Rollback procedure rehearsed"], NO_CHECKS, NOW))
    assert REF in reason and "Rollback procedure rehearsed" in reason


@pytest.mark.parametrize("state", states_except(State.APPROVED))
def test_only_an_approved_release_becomes_ready(state: State) -> None:
    decision = become_ready(release(state), [], NO_CHECKS, NOW)
    assert_wrong_state_refusal(decision, state)
    assert "cannot become ready" in refusal(decision)


@pytest.mark.parametrize("state", states_except(State.APPROVED, State.READY))
def test_start_is_refused_unless_ready(state: State) -> None:
    decision = start(release(state), OWNER, [], NOW)
    assert_wrong_state_refusal(decision, state)
    assert "execution cannot start" in refusal(decision)


@pytest.mark.parametrize("actor", [BYSTANDER, APPROVER], ids=["bystander", "approver"])
def test_only_the_owner_or_a_release_manager_can_start(actor: Actor) -> None:
    """DESIGN.md §6: start is the owner's (or a release manager's), not the approvers'."""
    reason = refusal(start(release(State.READY), actor, [], NOW))
    assert REF in reason
    assert "the release owner" in reason


# --- rollback -------------------------------------------------------------------------------

ROLLBACK_FROM = [State.EXECUTING, State.RELEASED, State.FAILED]


@pytest.mark.parametrize("state", ROLLBACK_FROM)
@pytest.mark.parametrize("actor", [OWNER, APPROVER], ids=["owner", "approver"])
def test_release_is_rolled_back_with_its_reason_and_previous_state(state: State, actor: Actor) -> None:
    decision = rollback(release(state), actor, " Error rate doubled ", NOW)
    assert decision == Moved(
        State.ROLLED_BACK,
        Event(
            EventKind.ROLLED_BACK, actor.user_id, NOW, {"reason": "Error rate doubled", "from": state.value}
        ),
    )


@pytest.mark.parametrize("state", states_except(*ROLLBACK_FROM))
def test_rollback_is_refused_unless_executing_released_or_failed(state: State) -> None:
    decision = rollback(release(state), OWNER, "Error rate doubled", NOW)
    assert_wrong_state_refusal(decision, state)
    assert "nothing to roll back" in refusal(decision)


@pytest.mark.parametrize("reason", ["", "  "], ids=["empty", "blank"])
def test_rollback_needs_a_reason(reason: str) -> None:
    answer = refusal(rollback(release(State.RELEASED), OWNER, reason, NOW))
    assert "Say why" in answer


def test_only_the_owner_or_an_approver_can_roll_back() -> None:
    reason = refusal(rollback(release(State.RELEASED), BYSTANDER, "Error rate doubled", NOW))
    assert REF in reason
    assert "roll back" in reason


# --- cancel ---------------------------------------------------------------------------------


@pytest.mark.parametrize("state", in_order(BEFORE_EXECUTION))
def test_owner_cancels_a_release_before_execution(state: State) -> None:
    decision = cancel(release(state), OWNER, "Superseded by 2.4", NOW)
    assert decision == Moved(
        State.CANCELLED,
        Event(EventKind.CANCELLED, ALICE, NOW, {"reason": "Superseded by 2.4", "from": state.value}),
    )


@pytest.mark.parametrize("state", [State.EXECUTING, *in_order(OUTCOMES)])
def test_cancel_after_execution_started_points_to_rollback(state: State) -> None:
    reason = refusal(cancel(release(state), OWNER, "Superseded by 2.4", NOW))
    assert REF in reason
    assert "cannot be cancelled" in reason
    assert "roll it back instead" in reason


@pytest.mark.parametrize("state", states_except(BEFORE_EXECUTION, OUTCOMES, State.EXECUTING))
def test_cancel_is_refused_for_a_release_that_is_no_longer_open(state: State) -> None:
    decision = cancel(release(state), OWNER, "Superseded by 2.4", NOW)
    assert_wrong_state_refusal(decision, state)
    assert "nothing to cancel" in refusal(decision)


@pytest.mark.parametrize("reason", ["", "  "], ids=["empty", "blank"])
def test_cancel_needs_a_reason(reason: str) -> None:
    answer = refusal(cancel(release(State.PLANNED), OWNER, reason, NOW))
    assert "Say why" in answer


@pytest.mark.parametrize("actor", [APPROVER, BYSTANDER], ids=["approver", "bystander"])
def test_only_the_owner_can_cancel(actor: Actor) -> None:
    reason = refusal(cancel(release(State.AWAITING_APPROVAL), actor, "Superseded by 2.4", NOW))
    assert REF in reason
    assert ALICE in reason  # the bare id: each surface renders it (a mention in Slack)


# --- close ----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", in_order(OUTCOMES))
def test_owner_closes_a_reviewed_release(state: State) -> None:
    decision = close(release(state), OWNER, True, NOW)
    assert decision == Moved(State.CLOSED, Event(EventKind.CLOSED, ALICE, NOW))


@pytest.mark.parametrize("state", in_order(OUTCOMES))
def test_close_needs_the_review_done_first(state: State) -> None:
    reason = refusal(close(release(state), OWNER, False, NOW))
    assert REF in reason
    assert "post its release review" in reason


@pytest.mark.parametrize("state", states_except(OUTCOMES))
def test_close_is_refused_unless_released_failed_or_rolled_back(state: State) -> None:
    decision = close(release(state), OWNER, True, NOW)
    assert_wrong_state_refusal(decision, state)
    assert "cannot be closed" in refusal(decision)


@pytest.mark.parametrize("actor", [APPROVER, BYSTANDER], ids=["approver", "bystander"])
def test_only_the_owner_can_close(actor: Actor) -> None:
    reason = refusal(close(release(State.RELEASED), actor, True, NOW))
    assert REF in reason
    assert ALICE in reason  # the bare id: each surface renders it (a mention in Slack)
