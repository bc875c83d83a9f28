"""Checklists and how they render, with plain values: which criteria apply, what the latest
outcome of each is, and modals that Slack accepts for any number of criteria."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.catalog import ReleaseModel
from bot.checklist import IMPLICIT_RELEASE_CRITERION, Checklist, Entry, Item, Phase, items, phase_for
from bot.lifecycle import Stage, State
from bot.records import ReleaseRecord, VerificationRecord
from bot.rendering.verification import (
    PAGE_SIZE,
    ChecklistModal,
    Mark,
    checklist_view,
    evidence,
    field_id,
    outcome_lines,
    progress_lines,
)
from tests.blockkit_lint import lint_view

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def model(components: list[str] | None = None, procedures: list[str] | None = None,
          release: list[str] | None = None, name: str = "CAB release") -> ReleaseModel:
    return ReleaseModel.model_validate({
        "key": "cab", "name": name, "approval": {"channel": "CAPPROVALS", "approvers": ["UBOB"]},
        "verification": {"components": components or [], "procedures": procedures or [],
                         "release": release or []},
    })


def record(criterion: str, passed: bool, *, stage: Stage = Stage.COMPONENTS, by: str = "UBOB",
           minutes: int = 0, note: str | None = None, url: str | None = None) -> VerificationRecord:
    return VerificationRecord(stage, criterion, passed, note, url, by, NOW + timedelta(minutes=minutes))


def release_record(state: State = State.APPROVED, title: str = "Payments API 2.3") -> ReleaseRecord:
    return ReleaseRecord(7, "cab", title, "", state, "UALICE", "C0RELEASES", NOW, NOW + timedelta(hours=1),
                         (), None, 3, NOW, NOW)


CAB = model(["Build artefacts signed"], ["Rollback rehearsed"], ["Smoke tests pass"])


def test_pre_execution_checklist_is_components_then_procedures() -> None:
    assert items(CAB, Phase.PRE_EXECUTION) == (Item(Stage.COMPONENTS, "Build artefacts signed"),
                                               Item(Stage.PROCEDURES, "Rollback rehearsed"))
    assert items(CAB, Phase.RELEASE) == (Item(Stage.RELEASE, "Smoke tests pass"),)


def test_a_criterion_listed_in_both_pre_execution_stages_is_one_check() -> None:
    both = model(["Docs updated", "Signed"], ["Docs updated"])
    assert [i.criterion for i in items(both, Phase.PRE_EXECUTION)] == ["Docs updated", "Signed"]


def test_a_model_without_criteria_has_nothing_before_execution_and_one_implicit_release_check() -> None:
    bare = model()
    assert items(bare, Phase.PRE_EXECUTION) == ()
    assert items(bare, Phase.RELEASE) == (Item(Stage.RELEASE, IMPLICIT_RELEASE_CRITERION),)
    assert Checklist.of(bare, Phase.RELEASE, []).implicit


@pytest.mark.parametrize("state,phase", [(State.APPROVED, Phase.PRE_EXECUTION), (State.READY, Phase.PRE_EXECUTION),
                                         (State.EXECUTING, Phase.RELEASE), (State.FAILED, Phase.RELEASE)])
def test_the_phase_follows_the_state(state: State, phase: Phase) -> None:
    assert phase_for(state) is phase


def test_the_latest_outcome_per_criterion_counts() -> None:
    history = [record("Build artefacts signed", False, minutes=1),
               record("Rollback rehearsed", True, stage=Stage.PROCEDURES, minutes=2),
               record("Build artefacts signed", True, minutes=3),
               record("Smoke tests pass", False, stage=Stage.RELEASE, minutes=4),
               record("No longer listed", False, minutes=5)]
    pre = Checklist.of(CAB, Phase.PRE_EXECUTION, history)
    assert pre.outcomes == {"Build artefacts signed": True, "Rollback rehearsed": True}
    assert pre.missing() == []
    release = Checklist.of(CAB, Phase.RELEASE, history)
    assert release.outcomes == {"Smoke tests pass": False}


def test_missing_names_failed_then_unverified_criteria() -> None:
    pre = Checklist.of(CAB, Phase.PRE_EXECUTION, [record("Rollback rehearsed", False, stage=Stage.PROCEDURES)])
    assert pre.missing() == ["Rollback rehearsed (failed)", "Build artefacts signed (not verified)"]


def test_entry_data_is_what_the_event_records() -> None:
    entry = Entry(Stage.RELEASE, "Smoke tests pass", False, "500s on /refund", "https://ci/42")
    assert entry.data == {"stage": "release", "criterion": "Smoke tests pass", "passed": False,
                          "note": "500s on /refund", "evidence": "https://ci/42"}
    assert Entry(Stage.RELEASE, "Smoke tests pass", True).data == {
        "stage": "release", "criterion": "Smoke tests pass", "passed": True}


# --- the checklist modal --------------------------------------------------------------------


def opening(m: ReleaseModel, history: list[VerificationRecord], phase: Phase = Phase.PRE_EXECUTION,
            title: str = "Payments API 2.3") -> ChecklistModal:
    return ChecklistModal.opening(release_record(title=title), Checklist.of(m, phase, history), "C0RELEASES")


def all_pages(m: ReleaseModel, first: ChecklistModal) -> list[dict[str, Any]]:
    views, modal = [], first
    while True:
        views.append(checklist_view(modal, m))
        following = modal.after({}, "UBOB", NOW)
        if following is None:
            return views
        modal = ChecklistModal.from_metadata(views[-1]["private_metadata"]).after({}, "UBOB", NOW)
        assert modal == following


def test_a_model_with_sixty_criteria_renders_valid_pages() -> None:
    long = model([f"Component check {n} " + "x" * 250 for n in range(30)],
                 [f"Procedure check {n}" for n in range(30)], name="N" * 150)
    history = [record(f"Procedure check {n}", n % 2 == 0, stage=Stage.PROCEDURES, by="U0123456789AB")
               for n in range(30)]
    views = all_pages(long, opening(long, history, title="T" * 500))
    assert len(views) == 60 // PAGE_SIZE
    for view in views:
        assert lint_view(view) == [], lint_view(view)
    inputs = [b["block_id"] for v in views for b in v["blocks"] if b["type"] == "input"]
    assert len(inputs) == 60 * 3 and len(set(inputs)) == len(inputs)
    assert [v["submit"]["text"] for v in views] == ["Record & next"] * 5 + ["Record"]
    assert views[0]["title"]["text"] == "Verify REL-7 1/6"


def test_a_huge_checklist_keeps_private_metadata_within_slacks_limit() -> None:
    huge = model([f"Check {n}" for n in range(1200)])
    history = [record(f"Check {n}", True, by="U0123456789AB") for n in range(1200)]
    first = opening(huge, history)
    view = checklist_view(first, huge)
    assert lint_view(view) == []
    assert ChecklistModal.from_metadata(view["private_metadata"]).marks[5] == Mark(True)


def test_the_next_page_shows_what_this_page_recorded() -> None:
    m = model([f"Check {n}" for n in range(15)])
    first = opening(m, [])
    recorded = {3: Entry(Stage.COMPONENTS, "Check 3", False)}
    second = first.after(recorded, "UCAROL", NOW)
    assert second is not None and second.page == 1
    assert second.marks[3] == Mark(False, "UCAROL", int(NOW.timestamp()))
    assert list(second.indices) == list(range(10, 15))
    view = checklist_view(second, m)
    assert "0 of 15 passed, 1 failed" in view["blocks"][0]["text"]["text"]
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"][0] == field_id(10, "o")
    assert second.after({}, "UCAROL", NOW) is None


def test_the_modal_shows_the_latest_outcome_with_who_and_escapes_criteria() -> None:
    m = model(["<!channel> ping"])
    view = checklist_view(opening(m, [record("<!channel> ping", True, by="UDAVE")]), m)
    text = view["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt; ping" in text and "passed by <@UDAVE>" in text
    assert view["submit"]["text"] == "Record" and "Page" not in str(view["blocks"][-1])


def test_release_checklist_of_a_model_without_release_criteria_explains_itself() -> None:
    bare = model()
    view = checklist_view(opening(bare, [], Phase.RELEASE), bare)
    assert "no release verification criteria" in str(view["blocks"])
    assert IMPLICIT_RELEASE_CRITERION in str(view["blocks"])


# --- the card and the record ----------------------------------------------------------------


def test_card_progress_names_failed_checks_with_their_note() -> None:
    history = [record("Rollback rehearsed", False, stage=Stage.PROCEDURES, note="No <b>runbook</b>")]
    lines = progress_lines(release_record(), CAB, history)
    assert lines == ["*Pre-execution checks*: 0 of 2 passed; failed: *Rollback rehearsed* "
                     "(<@UBOB>: No &lt;b&gt;runbook&lt;/b&gt;)"]


def test_card_progress_after_execution_shows_both_checklists() -> None:
    history = [record("Build artefacts signed", True), record("Rollback rehearsed", True, stage=Stage.PROCEDURES)]
    lines = progress_lines(release_record(State.EXECUTING), CAB, history)
    assert lines == ["*Pre-execution checks*: all 2 passed", "*Release checks*: 0 of 1 passed"]


def test_card_says_when_the_model_asks_for_no_pre_execution_checks() -> None:
    lines = progress_lines(release_record(State.READY), model(name="Quick"), [])
    assert "none in the *Quick* release model" in lines[0]


@pytest.mark.parametrize("state", [State.PLANNED, State.AWAITING_APPROVAL, State.REJECTED, State.CANCELLED])
def test_card_shows_no_progress_before_approval(state: State) -> None:
    assert progress_lines(release_record(state), CAB, []) == []


@pytest.mark.parametrize("url,shown", [
    ("https://ci.example/run/42?a=1&b=2", "<https://ci.example/run/42?a=1&amp;b=2|evidence>"),
    ("http://grafana/d/x", "<http://grafana/d/x|evidence>"),
    ("javascript:alert(1)", "evidence: javascript:alert(1)"),
    ("https://x|fake link", "evidence: https://x|fake link"),
    ("<https://evil|click>", "evidence: &lt;https://evil|click&gt;"),
    ("JIRA-123", "evidence: JIRA-123"),
])
def test_evidence_is_a_link_only_when_it_is_an_http_url(url: str, shown: str) -> None:
    assert evidence(url) == shown


def test_record_lines_say_who_when_and_what() -> None:
    lines = outcome_lines([record("Smoke tests pass", False, stage=Stage.RELEASE, by="UCAROL",
                                  note="500s on /refund", url="https://ci/42")])
    assert len(lines) == 1
    line = lines[0]
    assert "*Release* · Smoke tests pass: :x: failed by <@UCAROL> — 500s on /refund · <https://ci/42|evidence>" in line
    assert f"<!date^{int(NOW.timestamp())}^" in line
