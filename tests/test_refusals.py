"""Who may do what (the one table in `bot.lifecycle`), and a refusal rendered the same way
whichever surface asked: one code and one plain sentence, Slack adding only its markup."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.lifecycle import MAY, Action, Actor, Release, Role, State, permit
from bot.outcome import Outcome, Refusal
from bot.rendering.refusals import refusal_text

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
RELEASE = Release(7, "cab", "Payments API 2.3", State.PLANNED, "UALICE", NOW, NOW)
ROLE_SETS = [frozenset(), frozenset({Role.OWNER}), frozenset({Role.APPROVER}),
             frozenset({Role.OWNER, Role.APPROVER}), frozenset({Role.MANAGER})]
#: Actions that concern no one release: their refusals name no release.
GENERAL = {Action.FREEZE, Action.UNFREEZE}


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda r: "+".join(sorted(r)) or "nobody")
def test_each_row_of_the_table_allows_its_roles_and_refuses_the_rest(action: Action, roles: frozenset[Role]) -> None:
    refused = permit(RELEASE, Actor("UBOB", roles), action)
    if roles & MAY[action]:
        assert refused is None
    else:
        assert refused is not None and refused.code == "not_allowed"
        assert ("REL-7" in refused.reason or action in GENERAL) and "<@" not in refused.reason


def test_owner_only_refusals_name_the_owner_as_an_id_slack_turns_into_a_mention() -> None:
    refused = permit(RELEASE, Actor("UBOB"), Action.SUBMIT)
    assert refused is not None
    assert refused.reason == "Only the release owner, UALICE, can submit REL-7."
    assert refused.people == ("UALICE",)
    assert refusal_text(refused.refusal, "REL-7") == "Only the release owner, <@UALICE>, can submit REL-7."


def test_slack_escapes_the_sentence_and_renders_groups_and_channels() -> None:
    refusal = Refusal("not_allowed", "Ask SCAB or UBOB in C0APPROVALS about <!channel> & co.",
                      ("SCAB", "UBOB", "C0APPROVALS"))
    assert refusal_text(refusal) == ("Ask <!subteam^SCAB> or <@UBOB> in <#C0APPROVALS> about &lt;!channel&gt; "
                                     "&amp; co.")


def test_slack_adds_what_to_type_for_some_codes_only() -> None:
    assert refusal_text(Refusal("no_such_release", "There is no REL-9."), "REL-9") == (
        "There is no REL-9. `/release list` shows the releases.")
    assert refusal_text(Refusal("not_ready", "REL-9 is not ready."), "REL-9").endswith(
        "`/release verify REL-9` shows what is left to verify.")
    assert refusal_text(Refusal("self_approval", "You requested REL-9.")) == "You requested REL-9."


def test_an_outcome_is_a_success_a_refusal_or_field_errors() -> None:
    assert Outcome.success(3).ok and Outcome.success(3).unwrap() == 3
    refused: Outcome[int] = Outcome.refuse("wrong_state", "REL-1 is closed.")
    assert refused.refused and not refused.ok and refused.refusal == Refusal("wrong_state", "REL-1 is closed.")
    invalid: Outcome[int] = Outcome.invalid({"title": "Give it a title."})
    assert not invalid.ok and not invalid.refused and invalid.errors == {"title": "Give it a title."}
