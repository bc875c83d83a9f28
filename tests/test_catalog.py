"""Release models: a folder of YAML files, validated on load, every problem reported with its
file and field (DESIGN.md §5), and `releasebot models check` saying so on the command line."""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.catalog import Approach, Catalog, CatalogError, Problem, format_duration, parse_duration
from bot.config import BUNDLED_MODELS
from bot.lifecycle import ApprovalRules, Stage
from handlers.cli import main

TEST_MODELS = Path(__file__).parent / "release_models"

#: The smallest valid release model: a key, a name and who approves.
MINIMAL: dict[str, Any] = {
    "key": "standard",
    "name": "Standard release",
    "approval": {"channel": "C0123APPROVALS", "approvers": ["U0123ALICE", "S0123CAB"]},
}


def model(**changes: Any) -> dict[str, Any]:
    """MINIMAL with fields set by dotted path: `model(**{"approval.quorum": 2})`."""
    data = copy.deepcopy(MINIMAL)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for name in parents:
            node = node.setdefault(name, {})
        node[last] = value
    return data


def without(path: str) -> dict[str, Any]:
    """MINIMAL with the field at the dotted path left out."""
    data = copy.deepcopy(MINIMAL)
    *parents, last = path.split(".")
    node = data
    for name in parents:
        node = node[name]
    del node[last]
    return data


def write(folder: Path, name: str, content: dict[str, Any] | str) -> Path:
    """Write a release model file: a mapping is dumped as YAML, a string is written as is."""
    folder.mkdir(parents=True, exist_ok=True)
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_in(folder: Path) -> list[Problem]:
    with pytest.raises(CatalogError) as caught:
        Catalog.load(folder)
    return caught.value.problems


def the_problem(problems: list[Problem], file: str, field: str) -> Problem:
    """The one problem reported for `file` at `field`."""
    found = [p for p in problems if p.file == file and p.field == field]
    assert len(found) == 1, f"expected one problem at {file}: {field}, got {problems}"
    return found[0]


def load_one(tmp_path: Path, content: dict[str, Any] | str) -> Catalog:
    write(tmp_path, "standard.yaml", content)
    return Catalog.load(tmp_path)


# --- the models that ship, and the ones the tests use ---------------------------------------


def test_bundled_release_models_load() -> None:
    catalog = Catalog.load(BUNDLED_MODELS)
    assert {"standard", "emergency", "phased-pull"} <= set(catalog.keys)


def test_bundled_standard_model_reads_as_the_design_describes_it() -> None:
    standard = Catalog.load(BUNDLED_MODELS).get("standard")
    assert standard is not None
    assert standard.approach is Approach.PUSH
    assert standard.approval.rules == ApprovalRules(quorum=2, self_approval=False,
                                                    approvers=("U0123ALICE", "S0123CAB"))
    assert standard.approval.remind_every == timedelta(hours=4)
    assert standard.criteria(Stage.PROCEDURES) == ["Rollback procedure rehearsed"]
    assert standard.communications is not None
    assert standard.communications.plan[0].on == "approved"
    assert standard.communications.plan[1].before_start == timedelta(hours=24)


def test_test_release_models_load() -> None:
    catalog = Catalog.load(TEST_MODELS)
    assert {"cab", "quick"} <= set(catalog.keys)
    cab, quick = catalog.get("cab"), catalog.get("quick")
    assert cab is not None and quick is not None
    assert cab.approval.rules == ApprovalRules(quorum=2, self_approval=False, approvers=("UBOB", "SCAB"))
    assert quick.approval.rules == ApprovalRules(quorum=1, self_approval=True, approvers=("UALICE", "UBOB"))


def test_minimal_model_takes_the_documented_defaults(tmp_path: Path) -> None:
    standard = load_one(tmp_path, MINIMAL).get("standard")
    assert standard is not None
    assert standard.approach is Approach.PUSH
    assert (standard.approval.quorum, standard.approval.self_approval) == (1, False)
    assert standard.approval.remind_every is None
    assert all(standard.criteria(stage) == [] for stage in Stage)
    assert standard.communications is None and standard.survey is None


def test_an_unknown_key_is_not_in_the_catalog(tmp_path: Path) -> None:
    assert load_one(tmp_path, MINIMAL).get("nightly") is None


def test_yml_files_are_release_models_too(tmp_path: Path) -> None:
    write(tmp_path, "standard.yml", MINIMAL)
    assert Catalog.load(tmp_path).keys == ["standard"]


# --- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("3d", timedelta(days=3)),
        ("10s", timedelta(seconds=10)),
    ],
)
def test_durations_are_a_number_and_a_unit(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["4 hours", "h4", "", "4", "4w", "-4h", "4.5h"])
def test_other_durations_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration: .*\(e\.g\. 4h\)"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("delta", "text"),
    [(timedelta(minutes=30), "30m"), (timedelta(hours=4), "4h"), (timedelta(days=3), "3d"),
     (timedelta(seconds=10), "10s"), (timedelta(minutes=90), "90m")],
)
def test_durations_are_shown_as_written(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text
    assert parse_duration(format_duration(delta)) == delta


def test_a_duration_in_a_model_file_is_read(tmp_path: Path) -> None:
    standard = load_one(tmp_path, model(**{"approval.remind_every": "30m"})).get("standard")
    assert standard is not None
    assert standard.approval.remind_every == timedelta(minutes=30)


@pytest.mark.parametrize("text", ["4 hours", "h4", ""])
def test_a_bad_duration_in_a_model_file_is_reported_at_its_field(tmp_path: Path, text: str) -> None:
    write(tmp_path, "standard.yaml", model(**{"approval.remind_every": text}))
    problem = the_problem(problems_in(tmp_path), "standard.yaml", "approval.remind_every")
    assert repr(text) in problem.message
    assert "not a duration" in problem.message


# --- the communication plan -----------------------------------------------------------------

PLAN_WITH_ON = """\
key: standard
name: Standard release
approval:
  channel: C0123APPROVALS
  approvers: [U0123ALICE]
  self_approval: true
communications:
  channel: C0123ANNOUNCE
  plan:
    - {on: approved, template: planned}
    - on: released
      template: released
"""


def test_plain_pyyaml_would_read_on_as_a_boolean() -> None:
    assert yaml.safe_load("on: approved") == {True: "approved"}


def test_on_in_a_communication_plan_is_read_as_the_word_on(tmp_path: Path) -> None:
    standard = load_one(tmp_path, PLAN_WITH_ON).get("standard")
    assert standard is not None and standard.communications is not None
    assert [entry.on for entry in standard.communications.plan] == ["approved", "released"]


def test_true_and_false_are_still_booleans(tmp_path: Path) -> None:
    standard = load_one(tmp_path, PLAN_WITH_ON).get("standard")
    assert standard is not None
    assert standard.approval.self_approval is True


def test_an_unknown_lifecycle_event_in_the_plan_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "standard.yaml", PLAN_WITH_ON.replace("on: released", "on: deployed"))
    problem = the_problem(problems_in(tmp_path), "standard.yaml", "communications.plan.1")
    assert "'deployed' is not a lifecycle event" in problem.message
    assert "rolled_back" in problem.message  # the events it may name are listed


@pytest.mark.parametrize(
    "entry",
    [
        {"on": "approved", "before_start": "24h", "template": "upcoming"},
        {"before_start": "24h", "after_release": "2h", "template": "upcoming"},
        {"template": "upcoming"},
    ],
    ids=["on-and-before_start", "before_start-and-after_release", "no-trigger"],
)
def test_a_plan_entry_needs_exactly_one_trigger(tmp_path: Path, entry: dict[str, str]) -> None:
    plan = [{"on": "approved", "template": "planned"}, entry]
    write(tmp_path, "standard.yaml", model(communications={"channel": "C0123ANNOUNCE", "plan": plan}))
    problem = the_problem(problems_in(tmp_path), "standard.yaml", "communications.plan.1")
    assert "exactly one of on, before_start or after_release" in problem.message


# --- fields ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["colour", "approval.colour", "verification.smoke", "communications.audience"]
)
def test_unknown_fields_are_reported(tmp_path: Path, field: str) -> None:
    content = model(**{field: "x"})
    if field.startswith("communications."):
        content["communications"]["channel"] = "C0123ANNOUNCE"
    write(tmp_path, "standard.yaml", content)
    problem = the_problem(problems_in(tmp_path), "standard.yaml", field)
    assert "Extra inputs are not permitted" in problem.message


@pytest.mark.parametrize("key", ["Standard", "standard release", "STANDARD", "standard_release", ""])
def test_a_key_must_be_lowercase_letters_digits_and_dashes(tmp_path: Path, key: str) -> None:
    write(tmp_path, "standard.yaml", model(key=key))
    assert the_problem(problems_in(tmp_path), "standard.yaml", "key")


@pytest.mark.parametrize("field", ["key", "name", "approval", "approval.channel", "approval.approvers"])
def test_a_missing_required_field_is_reported(tmp_path: Path, field: str) -> None:
    write(tmp_path, "standard.yaml", without(field))
    problem = the_problem(problems_in(tmp_path), "standard.yaml", field)
    assert problem.message == "Field required"


def test_empty_approvers_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "standard.yaml", model(**{"approval.approvers": []}))
    problem = the_problem(problems_in(tmp_path), "standard.yaml", "approval.approvers")
    assert "at least 1 item" in problem.message


@pytest.mark.parametrize("quorum", [0, -1])
def test_a_quorum_below_one_is_reported(tmp_path: Path, quorum: int) -> None:
    write(tmp_path, "standard.yaml", model(**{"approval.quorum": quorum}))
    problem = the_problem(problems_in(tmp_path), "standard.yaml", "approval.quorum")
    assert "greater than or equal to 1" in problem.message


@pytest.mark.parametrize("approver", ["alice", "@alice", "u0123alice", "U1", "C0123CHANNEL", "U0123 ALICE"])
def test_an_approver_that_is_not_a_user_or_group_id_is_reported(tmp_path: Path, approver: str) -> None:
    write(tmp_path, "standard.yaml", model(**{"approval.approvers": ["U0123ALICE", approver]}))
    assert the_problem(problems_in(tmp_path), "standard.yaml", "approval.approvers.1")


def test_a_survey_recipient_that_is_not_a_user_or_group_id_is_reported(tmp_path: Path) -> None:
    survey = {
        "after_release": "2h",
        "recipients": ["U0123BOB", "bob"],
        "questions": [{"key": "satisfaction", "kind": "rating", "text": "How smooth was it?"}],
    }
    write(tmp_path, "standard.yaml", model(survey=survey))
    assert the_problem(problems_in(tmp_path), "standard.yaml", "survey.recipients.1")


@pytest.mark.parametrize("stage", ["components", "procedures", "release"])
def test_a_verification_criterion_longer_than_a_line_is_reported(tmp_path: Path, stage: str) -> None:
    write(tmp_path, "standard.yaml", model(**{f"verification.{stage}": ["Smoke tests pass", "x" * 301]}))
    problem = the_problem(problems_in(tmp_path), "standard.yaml", f"verification.{stage}.1")
    assert "at most 300 characters" in problem.message


def test_a_problem_reads_as_file_field_message(tmp_path: Path) -> None:
    write(tmp_path, "standard.yaml", model(**{"approval.quorum": 0}))
    problem = the_problem(problems_in(tmp_path), "standard.yaml", "approval.quorum")
    assert str(problem) == f"standard.yaml: approval.quorum: {problem.message}"


def test_a_field_written_twice_in_one_file_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "standard.yaml", """\
key: standard
name: Standard release
approval:
  channel: C0123APPROVALS
  approvers: [U0123ALICE, S0123CAB]
  quorum: 2
  quorum: 1
""")
    problem = the_problem(problems_in(tmp_path), "standard.yaml", "approval.quorum")
    assert "written twice (lines 6 and 7)" in problem.message


def test_a_zero_duration_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "standard.yaml", model(**{"approval.remind_every": "0m"}))
    assert "above zero" in the_problem(problems_in(tmp_path), "standard.yaml", "approval.remind_every").message


def test_a_quorum_that_the_listed_approvers_cannot_reach_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "standard.yaml", model(**{"approval.approvers": ["U0123ALICE"], "approval.quorum": 3}))
    assert "can never be reached" in the_problem(problems_in(tmp_path), "standard.yaml", "approval").message


def test_bad_ids_are_explained_without_regular_expressions(tmp_path: Path) -> None:
    write(tmp_path, "standard.yaml", model(**{"approval.channel": "#releases", "approval.approvers": ["alice"]}))
    problems = problems_in(tmp_path)
    assert "Slack channel id" in the_problem(problems, "standard.yaml", "approval.channel").message
    assert "Slack user id" in the_problem(problems, "standard.yaml", "approval.approvers.0").message
    assert all("^[" not in p.message for p in problems)


# --- files and folders ----------------------------------------------------------------------


def test_two_files_with_the_same_key_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "a-standard.yaml", MINIMAL)
    write(tmp_path, "b-standard.yaml", model(name="Standard release, again"))
    problem = the_problem(problems_in(tmp_path), "b-standard.yaml", "key")
    assert "'standard'" in problem.message
    assert "a-standard.yaml" in problem.message


def test_invalid_yaml_is_reported_with_line_and_column(tmp_path: Path) -> None:
    write(tmp_path, "standard.yaml", """\
key: standard
name: Standard release
approval:
  channel: C0123APPROVALS
  approvers: [U0123ALICE, S0123CAB
  quorum: 2
""")
    [problem] = problems_in(tmp_path)
    assert problem.file == "standard.yaml"
    assert re.fullmatch(r"line 6, column \d+", problem.field), problem.field
    assert problem.message.startswith("is not valid YAML")


@pytest.mark.parametrize("content", ["", "# nothing yet\n", "- key: standard\n", "standard\n"])
def test_a_file_that_is_not_a_mapping_is_reported(tmp_path: Path, content: str) -> None:
    write(tmp_path, "standard.yaml", content)
    [problem] = problems_in(tmp_path)
    assert problem.file == "standard.yaml"
    assert "must be a mapping" in problem.message


def test_an_empty_folder_is_reported(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("not a release model", encoding="utf-8")
    [problem] = problems_in(tmp_path)
    assert problem.file == str(tmp_path)
    assert "has no release model files" in problem.message


def test_a_missing_folder_is_reported(tmp_path: Path) -> None:
    [problem] = problems_in(tmp_path / "models")
    assert problem.file == str(tmp_path / "models")
    assert "is not a folder" in problem.message


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "emergency.yaml", model(key="emergency"))  # valid
    write(tmp_path, "nightly.yaml", model(key="Nightly", **{"approval.quorum": 0, "approval.approvers": []}))
    write(tmp_path, "standard.yaml", model(colour="red", **{"approval.remind_every": "4 hours"}))
    write(tmp_path, "broken.yaml", "key: [\n")
    problems = problems_in(tmp_path)
    reported = {(p.file, p.field) for p in problems if p.file != "broken.yaml"}
    assert reported == {
        ("nightly.yaml", "key"),
        ("nightly.yaml", "approval.quorum"),
        ("nightly.yaml", "approval.approvers"),
        ("standard.yaml", "colour"),
        ("standard.yaml", "approval.remind_every"),
    }
    assert [p.file for p in problems].count("broken.yaml") == 1


def test_the_catalog_error_message_lists_every_problem(tmp_path: Path) -> None:
    write(tmp_path, "nightly.yaml", model(key="nightly", **{"approval.quorum": 0}))
    write(tmp_path, "standard.yaml", without("approval"))
    with pytest.raises(CatalogError) as caught:
        Catalog.load(tmp_path)
    lines = str(caught.value).splitlines()
    assert lines == [str(p) for p in caught.value.problems]
    assert any(line.startswith("nightly.yaml: approval.quorum: ") for line in lines)
    assert "standard.yaml: approval: Field required" in lines


# --- releasebot models check ----------------------------------------------------------------


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No `.env` of the developer's, and no settings from their shell."""
    monkeypatch.chdir(tmp_path)
    for name in ("RELEASEBOT_MODELS", "PORT", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("clean_environment")
def test_models_check_accepts_a_valid_folder_and_names_its_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "models"
    write(folder, "standard.yaml", MINIMAL)
    write(folder, "emergency.yaml", model(key="emergency", name="Emergency fix"))
    assert main(["models", "check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "2 release model(s)" in out
    assert "emergency, standard" in out


@pytest.mark.usefixtures("clean_environment")
def test_models_check_accepts_the_test_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "check", str(TEST_MODELS)]) == 0
    out = capsys.readouterr().out
    assert "cab" in out and "quick" in out


@pytest.mark.usefixtures("clean_environment")
def test_models_check_without_a_folder_checks_the_bundled_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "check"]) == 0
    assert "standard" in capsys.readouterr().out


@pytest.mark.usefixtures("clean_environment")
def test_models_check_prints_every_problem_with_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "models"
    nightly = model(key="nightly", **{"approval.quorum": 0, "approval.approvers": ["bob"]})
    write(folder, "nightly.yaml", nightly)
    write(folder, "standard.yaml", model(colour="red"))
    assert main(["models", "check", str(folder)]) == 1
    captured = capsys.readouterr()
    assert "nightly.yaml: approval.quorum: " in captured.err
    assert "nightly.yaml: approval.approvers.0: " in captured.err
    assert "standard.yaml: colour: Extra inputs are not permitted" in captured.err
    assert "3 problem(s)" in captured.err
    assert "valid" not in captured.out


@pytest.mark.usefixtures("clean_environment")
def test_models_check_reports_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "check", str(tmp_path / "nowhere")]) == 1
    assert "is not a folder" in capsys.readouterr().err
