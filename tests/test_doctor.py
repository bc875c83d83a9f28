"""`releasebot doctor` in a half-configured workspace says exactly what to fix, and `models
init` gives a newcomer a first release model that passes `models check` at once."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.catalog import Catalog, ReleaseModel
from bot.config import Settings
from handlers.cli import main
from handlers.doctor import Doctor, Finding
from handlers.starter import STARTER
from storage import db, migrate
from tests.conftest import MODELS
from tests.fake_slack import FakeSlack
from tests.test_cli import env
from tests.workspace import SIGNING_SECRET

#: The starter's made-up ids, and the workspace's real ones a newcomer puts in their place.
REAL_IDS = {"C0123APPROVALS": "CAPPROVALS", "C0123ANNOUNCE": "CANNOUNCE", "U0123APPROVER": "UBOB",
            "S0123CAB": "SCAB", "S0123USERS": "SUSERS"}


def starter_folder(tmp_path: Path, **replace: str) -> Path:
    """`releasebot models init` output with the ids replaced, as the newcomer is told to."""
    folder = tmp_path / "models"
    assert main(["models", "init", str(folder)]) == 0
    text = (folder / "standard.yaml").read_text()
    for placeholder, real in {**REAL_IDS, **replace}.items():
        text = text.replace(placeholder, real)
    (folder / "standard.yaml").write_text(text)
    return folder


def settings_for(slack: FakeSlack, database_url: str, models: Path) -> Settings:
    return Settings.model_validate({
        "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url, "DATABASE_URL": database_url, "RELEASEBOT_MODELS": str(models),
    })


async def examine(settings: Settings) -> tuple[int, list[Finding]]:
    findings: list[Finding] = []
    code = await Doctor(settings, findings.append).run()
    return code, findings


def to_fix(findings: list[Finding]) -> list[str]:
    return [str(f) for f in findings if not f.ok]


async def migrated(database_url: str) -> None:
    engine = db.create_engine(database_url)
    await migrate.upgrade(engine)
    await engine.dispose()


async def test_all_well(tmp_path: Path, slack: FakeSlack, database_url: str) -> None:
    await migrated(database_url)
    code, findings = await examine(settings_for(slack, database_url, starter_folder(tmp_path)))
    assert to_fix(findings) == [] and code == 0
    shown = "\n".join(map(str, findings))
    assert "ok   SLACK_BOT_TOKEN: Slack accepts it: the bot @releasebot (UBOT) in Test" in shown
    assert "ok   channel CAPPROVALS: #capprovals, and the bot is a member" in shown
    assert "ok   channel CANNOUNCE: " in shown
    assert "ok   user UBOB: @ubob" in shown
    assert "ok   user group SCAB: 2 members" in shown and "ok   user group SUSERS: 2 members" in shown
    assert "ok   templates: " in shown and "planned" in shown
    assert "reachable, and migrated (at " in shown
    assert {c.method for c in slack.calls} == {"auth.test", "conversations.info", "users.info",
                                               "usergroups.users.list"}


async def test_a_missing_channel(tmp_path: Path, slack: FakeSlack, database_url: str) -> None:
    await migrated(database_url)
    slack.fail("conversations.info", error="channel_not_found", times=5, when=lambda p: p["channel"] == "CANNOUNCE")
    code, findings = await examine(settings_for(slack, database_url, starter_folder(tmp_path)))
    assert code == 1
    assert to_fix(findings) == [
        "FIX  channel CANNOUNCE: Slack knows no such channel, or it is private and the bot is not in it "
        "(channel_not_found; standard.yaml communications.channel): open the channel, click its name at the top: "
        "the Channel ID (C…) is at the bottom of About, and invite the bot there"
    ]


async def test_the_bot_not_in_a_channel(tmp_path: Path, slack: FakeSlack, database_url: str) -> None:
    await migrated(database_url)
    slack.answer("conversations.info", {"ok": True, "channel": {"id": "CAPPROVALS", "name": "cab-approvals",
                                                                "is_member": False, "is_archived": False}},
                 when=lambda p: p["channel"] == "CAPPROVALS")
    code, findings = await examine(settings_for(slack, database_url, starter_folder(tmp_path)))
    assert code == 1
    assert to_fix(findings) == [
        "FIX  channel CAPPROVALS: the bot is not a member of #cab-approvals (standard.yaml approval.channel): "
        "type `/invite @releasebot` in #cab-approvals"
    ]


async def test_an_unknown_user_and_an_unknown_group(tmp_path: Path, slack: FakeSlack, database_url: str) -> None:
    await migrated(database_url)
    slack.fail("users.info", error="user_not_found", times=5, when=lambda p: p["user"] == "UGHOST")
    folder = starter_folder(tmp_path, U0123APPROVER="UGHOST", S0123USERS="SNOBODY")
    code, findings = await examine(settings_for(slack, database_url, folder))
    assert code == 1
    fixes = to_fix(findings)
    assert len(fixes) == 2, fixes
    assert fixes[0].startswith("FIX  user UGHOST: Slack knows no such user (user_not_found; "
                               "standard.yaml approval.approvers.0): open the person's profile")
    assert "Copy member ID" in fixes[0]
    assert fixes[1].startswith("FIX  user group SNOBODY: Slack knows no such user group (no_such_subteam; "
                               "standard.yaml survey.recipients.0)")


async def test_planners_and_release_managers_are_looked_up_too(tmp_path: Path, slack: FakeSlack,
                                                                database_url: str) -> None:
    """Whoever the model lets plan, and whoever RELEASEBOT_MANAGERS names, must exist: a wrong
    id there shows up only when somebody cannot plan or override a freeze."""
    await migrated(database_url)
    slack.fail("users.info", error="user_not_found", times=5, when=lambda p: p["user"] in ("UGONE", "UNOMGR"))
    folder = starter_folder(tmp_path)
    model = folder / "standard.yaml"
    model.write_text(model.read_text().replace("\napproval:", "\nplanners: [UGONE, SCAB]\napproval:", 1))
    settings = settings_for(slack, database_url, folder)
    settings = settings.model_copy(update={"releasebot_managers": "UNOMGR,UCAROL"})
    code, findings = await examine(settings)
    assert code == 1
    fixes = to_fix(findings)
    assert len(fixes) == 2, fixes
    assert fixes[0].startswith("FIX  user UGONE: Slack knows no such user (user_not_found; standard.yaml planners.0)")
    assert fixes[1].startswith("FIX  user UNOMGR: Slack knows no such user (user_not_found; RELEASEBOT_MANAGERS)")
    assert any(str(f).startswith("ok   user UCAROL") for f in findings)


async def test_the_examples_made_up_ids_are_called_so(tmp_path: Path, slack: FakeSlack, database_url: str) -> None:
    slack.fail("conversations.info", error="channel_not_found", times=10)
    slack.fail("users.info", error="user_not_found", times=10)
    folder = tmp_path / "models"
    assert main(["models", "init", str(folder)]) == 0
    _, findings = await examine(settings_for(slack, database_url, folder))
    fixes = to_fix(findings)
    assert "FIX  channel C0123APPROVALS: a made-up id from the examples, for you to replace (standard.yaml " \
           "approval.channel): open the channel, click its name" in "\n".join(fixes)
    assert any(f.startswith("FIX  user U0123APPROVER: a made-up id from the examples, for you to replace")
               for f in fixes)
    assert any(f.startswith("FIX  user group S0123CAB: a made-up id") for f in fixes)


async def test_a_refused_token_skips_what_needs_it(tmp_path: Path, slack: FakeSlack, database_url: str) -> None:
    await migrated(database_url)
    slack.fail("auth.test", error="invalid_auth")
    code, findings = await examine(settings_for(slack, database_url, starter_folder(tmp_path)))
    assert code == 1
    assert to_fix(findings) == [
        "FIX  SLACK_BOT_TOKEN: Slack refuses it (invalid_auth): copy the Bot User OAuth Token (xoxb-…) from "
        "OAuth & Permissions again; reinstall the app if it was revoked",
        "FIX  channels and people: not checked: they need a bot token Slack accepts (above)",
    ]
    assert [c.method for c in slack.calls] == ["auth.test"]


async def test_a_database_not_migrated_yet(tmp_path: Path, slack: FakeSlack, database_url: str) -> None:
    if database_url.startswith("sqlite"):  # an empty file, as a bare `sqlite3 releasebot.db` leaves it
        sqlite3.connect(database_url.split(":///", 1)[1]).close()
    code, findings = await examine(settings_for(slack, database_url, starter_folder(tmp_path)))
    assert code == 1
    [fix] = to_fix(findings)
    assert fix.startswith("FIX  database ") and "reachable but empty: run `releasebot db upgrade`" in fix


async def test_a_sqlite_file_not_made_yet_is_left_unmade(tmp_path: Path, slack: FakeSlack) -> None:
    missing = tmp_path / "later.db"
    _, findings = await examine(settings_for(slack, f"sqlite:///{missing}", starter_folder(tmp_path)))
    assert to_fix(findings) == [f"FIX  database sqlite+aiosqlite:///{missing}: there is no such file yet: "
                                "run `releasebot db upgrade` (`serve` does it at start)"]
    assert not missing.exists()


async def test_bad_settings_and_models_are_findings_too(tmp_path: Path, slack: FakeSlack) -> None:
    settings = Settings.model_validate({"SLACK_API_URL": slack.api_url, "DATABASE_URL": "garbage",
                                        "RELEASEBOT_MODELS": str(tmp_path / "none")})
    code, findings = await examine(settings)
    assert code == 1
    subjects = [f.subject for f in findings if not f.ok]
    assert subjects[:3] == ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "RELEASEBOT_MODELS"]
    assert "DATABASE_URL" in subjects
    assert slack.calls == []


async def test_doctor_from_the_command_line(tmp_path: Path, slack: FakeSlack, database_url: str) -> None:
    """The command as typed: one line per finding, a verdict, exit code 1 while anything is wrong."""
    await migrated(database_url)
    slack.fail("users.info", error="user_not_found", times=5, when=lambda p: p["user"] == "UGHOST")
    folder = starter_folder(tmp_path, U0123APPROVER="UGHOST")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handlers.cli", "doctor", cwd=tmp_path,
        env=env(tmp_path, SLACK_BOT_TOKEN="xoxb-test-token", SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=slack.api_url, DATABASE_URL=database_url, RELEASEBOT_MODELS=str(folder)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = out.decode().splitlines()
    assert process.returncode == 1, err.decode()
    assert err.decode() == ""
    assert all(line.startswith(("ok   ", "FIX  ")) for line in lines[:-1])
    assert [line for line in lines if line.startswith("FIX")][0].startswith("FIX  user UGHOST:")
    assert lines[-1] == "1 thing to fix"


def test_models_init_writes_a_model_that_models_check_passes(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "our-models"
    assert main(["models", "init", str(folder)]) == 0
    told = capsys.readouterr().out
    assert f"wrote {folder / 'standard.yaml'}" in told and f"releasebot models check {folder}" in told
    assert main(["models", "check", str(folder)]) == 0
    assert "1 release model(s)" in capsys.readouterr().out
    model = Catalog.load(folder).get("standard")
    assert model is not None and sorted(model.placeholder_ids()) == sorted(REAL_IDS)
    for where in ("Channel ID", "Copy member ID", "User groups"):
        assert where in STARTER
    assert main(["models", "init", str(folder)]) == 1  # never overwritten
    assert "exists already" in capsys.readouterr().err


def _field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every field of a release model file, dotted: `approval.quorum`, `survey.questions.kind`."""
    paths: list[str] = []
    for name, info in model.model_fields.items():
        path = prefix + (info.alias or name)
        paths.append(path)
        for inner in _models_in(info.annotation):
            paths += _field_paths(inner, path + ".")
    return paths


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def test_every_field_of_a_release_model_is_in_the_reference() -> None:
    """docs/release-models.md describes every field there is (a new one fails here until it does)."""
    reference = (Path(__file__).parent.parent / "docs" / "release-models.md").read_text()
    missing = [path for path in _field_paths(ReleaseModel) if f"`{path}`" not in reference]
    assert missing == []


def test_the_bundled_examples_name_only_made_up_ids() -> None:
    bundled = Catalog.load(Path(__file__).parent.parent / "bot" / "release_models")
    assert all(model.placeholder_ids() for model in bundled)
    assert not any(model.placeholder_ids() for model in Catalog.load(MODELS))
