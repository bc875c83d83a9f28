"""The release plan's rules (DESIGN.md §5a), decided with plain values: who may edit it and
until when, what an edit does to approvals given, what a model may require, and how typed
Markdown becomes mrkdwn that pings nobody."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.catalog import Catalog, CatalogError
from bot.lifecycle import (
    PLAN_EDITABLE,
    Actor,
    EventKind,
    Moved,
    Refused,
    Release,
    Role,
    State,
    Stayed,
    after_plan_change,
    edit_plan,
    note_rollback_plan,
    rollback,
)
from bot.release_plan import PlanFollowed, ReleasePlan, Risk, changed, describe_changes, is_link, problems
from bot.rendering.plan import excerpt, mrkdwn

NOW = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
OWNER = Actor("UALICE", frozenset({Role.OWNER}))
APPROVER = Actor("UBOB", frozenset({Role.APPROVER}))
BEFORE = ReleasePlan.of("Refunds in one click", "medium", "Checkout down 5 min", "Redeploy 2.2")
AFTER = ReleasePlan.of("Refunds in one click", "high", "Checkout down 30 min", "Redeploy 2.2")


def release(state: State) -> Release:
    start = datetime(2024, 5, 10, 22, 0, tzinfo=UTC)
    return Release(7, "cab", "Payments API 2.3", state, "UALICE", start, start + timedelta(hours=2))


@pytest.mark.parametrize("state", [s for s in State if s in PLAN_EDITABLE])
def test_the_owner_edits_the_plan_until_execution_starts(state: State) -> None:
    decision = edit_plan(release(state), OWNER, BEFORE, AFTER, NOW)
    assert isinstance(decision, Stayed)
    assert decision.event.kind is EventKind.PLAN_CHANGED and decision.event.actor == "UALICE"
    assert decision.event.data == {"changed": ["risk", "impact"],
                                   "from": {"risk": "medium", "impact": "Checkout down 5 min"},
                                   "to": {"risk": "high", "impact": "Checkout down 30 min"}}
    assert decision.changes == {"risk": "high", "impact": "Checkout down 30 min"}


@pytest.mark.parametrize("state", [s for s in State if s not in PLAN_EDITABLE])
def test_the_plan_is_fixed_once_execution_starts(state: State) -> None:
    decision = edit_plan(release(state), OWNER, BEFORE, AFTER, NOW)
    assert isinstance(decision, Refused) and decision.code == "wrong_state"
    assert "only until execution starts" in decision.reason


def test_only_the_owner_edits_and_the_refusal_names_them_by_id() -> None:
    decision = edit_plan(release(State.APPROVED), APPROVER, BEFORE, AFTER, NOW)
    assert isinstance(decision, Refused) and decision.code == "not_allowed"
    assert decision.people == ("UALICE",) and "UALICE" in decision.reason and "<@" not in decision.reason


def test_an_edit_that_changes_nothing_is_refused() -> None:
    decision = edit_plan(release(State.PLANNED), OWNER, BEFORE, BEFORE, NOW)
    assert isinstance(decision, Refused) and decision.code == "unchanged"


def test_clearing_a_field_is_a_change_stored_as_none() -> None:
    decision = edit_plan(release(State.PLANNED), OWNER, BEFORE, BEFORE.with_changes({"risk": ""}), NOW)
    assert isinstance(decision, Stayed) and decision.changes == {"risk": None}


def test_approvals_stand_when_the_model_does_not_ask_again() -> None:
    assert after_plan_change(release(State.APPROVED), frozenset({"UBOB"}), False, "UALICE", NOW) is None


def test_nothing_to_withdraw_without_approvals() -> None:
    assert after_plan_change(release(State.AWAITING_APPROVAL), frozenset(), True, "UALICE", NOW) is None
    assert after_plan_change(release(State.PLANNED), frozenset(), True, "UALICE", NOW) is None


@pytest.mark.parametrize("state", [State.APPROVED, State.READY])
def test_a_changed_plan_sends_an_approved_release_back_for_approval(state: State) -> None:
    decision = after_plan_change(release(state), frozenset({"UCAROL", "UBOB"}), True, "UALICE", NOW)
    assert isinstance(decision, Moved) and decision.to is State.AWAITING_APPROVAL
    assert decision.event.kind is EventKind.APPROVALS_RESET
    assert decision.event.data["approvers"] == ["UBOB", "UCAROL"] and decision.event.data["from"] == state.value


def test_approvals_short_of_the_quorum_are_withdrawn_in_place() -> None:
    decision = after_plan_change(release(State.AWAITING_APPROVAL), frozenset({"UBOB"}), True, "UALICE", NOW)
    assert isinstance(decision, Stayed) and decision.event.kind is EventKind.APPROVALS_RESET


def test_a_rollback_records_whether_its_plan_was_followed() -> None:
    decision = rollback(release(State.RELEASED), OWNER, "Errors", NOW, PlanFollowed.PARTLY)
    assert isinstance(decision, Moved) and decision.event.data["plan_followed"] == "partly"
    assert "plan_followed" not in rollback(release(State.RELEASED), OWNER, "Errors", NOW).event.data  # type: ignore


def test_whether_the_plan_was_followed_is_said_once_after_a_rollback() -> None:
    said = note_rollback_plan(release(State.ROLLED_BACK), APPROVER, PlanFollowed.FOLLOWED, False, NOW)
    assert isinstance(said, Stayed) and said.event.data == {"plan_followed": "followed"}
    again = note_rollback_plan(release(State.ROLLED_BACK), OWNER, PlanFollowed.PARTLY, True, NOW)
    assert isinstance(again, Refused) and again.code == "already_recorded"
    early = note_rollback_plan(release(State.RELEASED), OWNER, PlanFollowed.PARTLY, False, NOW)
    assert isinstance(early, Refused) and early.code == "wrong_state"
    stranger = note_rollback_plan(release(State.ROLLED_BACK), Actor("UEVE"), PlanFollowed.PARTLY, False, NOW)
    assert isinstance(stranger, Refused) and stranger.code == "not_allowed"


# --- what a model requires, and limits ---------------------------------------------------------

ALL = ("release_notes", "risk", "rollback_plan")


def test_a_model_requiring_every_part_names_each_missing_field() -> None:
    errors = problems(ReleasePlan(), ALL, model_name="Strict")
    assert set(errors) == {"release_notes", "risk", "impact", "rollback_plan"}
    assert errors["risk"] == "Strict requires a risk assessment: choose low, medium or high."


def test_a_complete_plan_passes_and_nothing_is_required_by_default() -> None:
    assert problems(BEFORE, ALL) == {}
    assert problems(ReleasePlan()) == {}


def test_a_risk_that_is_not_a_level_and_texts_too_long_are_refused() -> None:
    errors = problems(ReleasePlan.of("n" * 20_001, "extreme", "i" * 1_001, "r" * 20_001), risk_given="extreme")
    assert set(errors) == {"risk", "impact", "release_notes", "rollback_plan"}
    assert "“extreme” is not a risk level" in errors["risk"]
    assert "Put the rest behind a link" in errors["release_notes"]


def test_the_plan_parses_what_people_type() -> None:
    assert ReleasePlan.of(" notes ", "High", " x ", "").risk is Risk.HIGH
    assert ReleasePlan.of(risk="none").risk is None
    assert changed(BEFORE, AFTER) == ("risk", "impact")
    assert describe_changes(["risk", "impact", "rollback_plan"]) == "risk, impact and rollback plan"
    assert BEFORE.with_changes({"impact": None, "rollback_plan": ""}) == ReleasePlan.of(
        "Refunds in one click", "medium", "Checkout down 5 min", "")  # None keeps, "" clears


def test_a_model_may_require_only_the_parts_of_a_plan(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("key: m\nname: M\napproval: {channel: C01, approvers: [UBOB], "
                                     "reapprove_on_change: true}\nplan: {require: [risk, budget]}\n")
    with pytest.raises(CatalogError) as error:
        Catalog.load(tmp_path)
    assert "m.yaml: plan.require.1:" in str(error.value)
    (tmp_path / "m.yaml").write_text("key: m\nname: M\napproval: {channel: C01, approvers: [UBOB], "
                                     "reapprove_on_change: true}\nplan: {require: [risk]}\n")
    model = Catalog.load(tmp_path).get("m")
    assert model is not None and model.plan.require == ["risk"] and model.approval.reapprove_on_change


# --- Markdown to mrkdwn --------------------------------------------------------------------------


def test_markdown_becomes_mrkdwn_and_typed_markup_stays_inert() -> None:
    text = mrkdwn("# Refunds\n**Bold** and ~~old~~\n- one\n* two\n[guide](https://wiki.example/a?b=1&c=2)")
    assert text == ("*Refunds*\n*Bold* and ~old~\n• one\n• two\n<https://wiki.example/a?b=1&amp;c=2|guide>")
    hostile = mrkdwn("<!channel> [x](javascript:alert(1)) [y|z](https://ok.example) <https://evil|click>")
    assert "<!channel>" not in hostile and "javascript" in hostile and "<javascript" not in hostile
    assert "<https://ok.example|y/z>" in hostile and "<https://evil" not in hostile


def test_notes_that_are_a_link_become_that_link() -> None:
    assert is_link(" https://wiki.example/notes ") and not is_link("see https://wiki.example")
    assert mrkdwn("https://wiki.example/notes?a=1&b=2") == "<https://wiki.example/notes?a=1&amp;b=2>"


def test_an_excerpt_is_cut_in_the_typed_text_and_fits_after_escaping() -> None:
    shown, cut = excerpt("<" * 5000, 700)
    assert cut and len(shown) <= 700 and shown.endswith("…") and shown.count("&lt;") == len(shown) // 4
    assert excerpt("short", 700) == ("short", False)
