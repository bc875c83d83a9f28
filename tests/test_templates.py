"""Communications rendered from Jinja2 templates: escaped, within Block Kit limits, in the
sandbox, overridable beside the release models, and checked when the models are loaded."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.catalog import Catalog, CatalogError
from bot.config import BUNDLED_MODELS
from bot.lifecycle import Event, EventKind, State
from bot.records import ReleaseRecord
from bot.release_plan import ReleasePlan
from bot.rendering.communications import render
from bot.templating import Templates
from tests.blockkit_lint import lint_message
from tests.conftest import MODELS

START = datetime(2030, 3, 4, 21, 0, tzinfo=UTC)
TEMPLATES = ["planned", "upcoming", "released", "failed", "rolled_back", "cancelled", "starting_soon",
             "approval_reminder"]


def record(**changes: object) -> ReleaseRecord:
    base = ReleaseRecord(
        id=7, model_key="standard", title="Payments API 2.3", description="New refund flow",
        state=State.APPROVED, owner="UALICE", channel_id="C0RELEASES", planned_start=START,
        planned_end=START + timedelta(hours=2), components=("payments-api", "ledger-db"), change_ref="CHG-1",
        version=3, created_at=START, updated_at=START,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def rendered_all(catalog: Catalog, release: ReleaseRecord, model_key: str = "standard",
                 reason: str = "Rollback") -> list[dict]:
    model = catalog.get(model_key)
    assert model is not None
    event = Event(EventKind.ROLLED_BACK, "UBOB", START, {"reason": reason, "criteria": [reason]})
    out = []
    for name in TEMPLATES:
        message = render(catalog, release, model, name, event=event, offset=timedelta(hours=1), audience="owner")
        out.append({"text": message.text, "blocks": message.blocks})
    return out


def mrkdwn_of(message: dict) -> str:
    return message["text"] + "\n" + "\n".join(b["text"]["text"] for b in message["blocks"] if "text" in b)


@pytest.fixture(scope="module")
def bundled() -> Catalog:
    return Catalog.load(BUNDLED_MODELS)


def test_every_bundled_template_renders_within_limits(bundled: Catalog) -> None:
    for message in rendered_all(bundled, record()):
        assert lint_message(message) == []
        assert "Payments API 2.3" in message["text"] + str(message["blocks"])


@pytest.mark.parametrize("hostile", ["<!channel>", "<https://evil.example|click me>", "<@UBOSS> & <!here>"])
def test_typed_text_pings_and_links_nobody(bundled: Catalog, hostile: str) -> None:
    release = record(title=hostile, description=hostile, components=(hostile,), change_ref=hostile)
    for message in rendered_all(bundled, release, reason=hostile):
        text = mrkdwn_of(message)
        for raw in ("<!channel>", "<https://evil", "<@UBOSS>", "<!here>"):
            assert raw not in text
        assert "&lt;" in text
    assert "&amp;" in mrkdwn_of(rendered_all(bundled, record(title="a & b"))[0])


def test_ten_thousand_characters_stay_within_block_kit_limits(bundled: Catalog) -> None:
    huge = "<x>" * 3_334
    release = record(title=huge, description=huge, components=tuple(f"c{i}-{huge[:200]}" for i in range(300)),
                     change_ref=huge)
    for message in rendered_all(bundled, release, reason=huge):
        assert lint_message(message) == []
        assert len(message["blocks"]) <= 50


def test_push_announcements_say_nothing_is_needed(bundled: Catalog) -> None:
    model = bundled.get("standard")
    assert model is not None
    text = render(bundled, record(), model, "planned").blocks
    assert "This is a push release" in str(text) and "opt in" not in str(text)


def test_pull_announcements_say_how_to_opt_in(bundled: Catalog) -> None:
    model = bundled.get("phased-pull")
    assert model is not None and model.communications is not None and model.communications.opt_in
    for name in ("planned", "upcoming", "released"):
        text = str(render(bundled, record(model_key="phased-pull"), model, name).blocks)
        assert "pull release" in text or "opt in" in text
        assert model.communications.opt_in[:40] in text


def test_a_pull_model_without_opt_in_instructions_still_says_people_opt_in(tmp_path: Path) -> None:
    (tmp_path / "pull.yaml").write_text(
        "key: pull\nname: Pull\napproach: pull\napproval: {channel: C01, approvers: [UBOB]}\n"
        "communications: {channel: C02, plan: [{on: approved, template: planned}]}\n")
    catalog = Catalog.load(tmp_path)
    model = catalog.get("pull")
    assert model is not None
    without = str(render(catalog, record(model_key="pull"), model, "planned").blocks)
    assert "Opt in when you are ready" in without and "release notes" not in without
    noted = record(model_key="pull", plan=ReleasePlan.of("Install 2.3 from Self Service."))
    assert "opt in as the release notes describe" in str(render(catalog, noted, model, "planned").blocks)


def test_dates_are_shown_in_each_readers_time_zone(bundled: Catalog) -> None:
    model = bundled.get("standard")
    assert model is not None
    text = str(render(bundled, record(), model, "upcoming").blocks)
    assert f"<!date^{int(START.timestamp())}^" in text


def test_a_template_beside_the_models_overrides_the_bundled_one(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "key: m\nname: M\napproval: {channel: C01, approvers: [UBOB]}\n"
        "communications: {channel: C02, plan: [{on: approved, template: planned}]}\n")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "planned.md.j2").write_text("Our own words about {{ title }} for {{ owner }}\n")
    catalog = Catalog.load(tmp_path)
    model = catalog.get("m")
    assert model is not None
    message = render(catalog, record(model_key="m", title="<b>"), model, "planned")
    assert message.text == "Our own words about &lt;b&gt; for <@UALICE>"


def broken(tmp_path: Path, name: str, source: str, template: str = "planned") -> list[str]:
    (tmp_path / "m.yaml").write_text(
        "key: m\nname: M\napproval: {channel: C01, approvers: [UBOB]}\n"
        f"communications: {{channel: C02, plan: [{{on: approved, template: {template}}}]}}\n")
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / f"{name}.md.j2").write_text(source)
    with pytest.raises(CatalogError) as caught:
        Catalog.load(tmp_path)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(("source", "expected"), [
    ("Fine\n{% if title %}\nno end\n", "templates/planned.md.j2: line 3: Unexpected end of template"),
    ("Fine\n\n{{ relase.title }}\n", "templates/planned.md.j2: line 3: `relase` is not defined"),
    ("Fine\n{{ release.titel }}\n", "templates/planned.md.j2: line 2: `release.titel` does not exist"),
    ("{{ title | shout }}\n", "templates/planned.md.j2: line 1: No filter named 'shout'"),
    ("A\nB\n{{ title.__class__.__mro__ }}\n", "templates/planned.md.j2: line 3: access to attribute '__class__'"),
    ("A\n{% include 'nowhere.md.j2' %}\n", "templates/planned.md.j2: line 2: includes nowhere.md.j2"),
])
def test_a_broken_template_is_reported_with_its_file_and_line(tmp_path: Path, source: str, expected: str) -> None:
    problems = broken(tmp_path, "planned", source)
    assert any(p.startswith(expected) for p in problems), problems


def test_a_template_nobody_wrote_is_reported_at_the_models_field(tmp_path: Path) -> None:
    problems = broken(tmp_path, "other", "fine\n", template="announcement")
    assert problems == [
        "m.yaml: communications.plan.0.template: there is no template 'announcement': write "
        "templates/announcement.md.j2 beside the release models or use one there is (approval_reminder, "
        "cancelled, failed, other, planned, released, rolled_back, starting_soon, upcoming)"
    ]


def test_models_check_and_serve_refuse_a_broken_template(tmp_path: Path) -> None:
    broken(tmp_path, "planned", "{{ relase }}\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
           "RELEASEBOT_MODELS": str(tmp_path), "SLACK_BOT_TOKEN": "xoxb-x",
           "SLACK_SIGNING_SECRET": "s", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    check = subprocess.run([sys.executable, "-m", "handlers.cli", "models", "check"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 1 and "templates/planned.md.j2: line 1: `relase` is not defined" in check.stderr
    serve = subprocess.run([sys.executable, "-m", "handlers.cli", "serve"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert serve.returncode == 2 and "templates/planned.md.j2: line 1" in serve.stderr
    assert "Traceback" not in serve.stderr


def test_the_bundled_and_test_templates_pass_the_check() -> None:
    assert Templates(BUNDLED_MODELS).check() == []
    assert Templates(MODELS).check() == []


def test_a_mention_filter_on_typed_text_mentions_nobody(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "key: m\nname: M\napproval: {channel: C01, approvers: [UBOB]}\n"
        "communications: {channel: C02, plan: [{on: approved, template: planned}]}\n")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "planned.md.j2").write_text("{{ title | mention }} {{ release.owner }}\n")
    catalog = Catalog.load(tmp_path)
    model = catalog.get("m")
    assert model is not None
    assert render(catalog, record(title="<!channel>"), model, "planned").text == "&lt;!channel&gt; <@UALICE>"


def test_a_template_failing_at_send_time_falls_back_to_a_plain_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The check at load tries sample data; real data can still trip a template. The
    transition that queues the message must not fail for it."""
    (tmp_path / "m.yaml").write_text(
        "key: m\nname: M\napproval: {channel: C01, approvers: [UBOB]}\n"
        "communications: {channel: C02, plan: [{on: approved, template: planned}]}\n")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "planned.md.j2").write_text(
        "{% if title == 'boom' %}{{ 1 // 0 }}{% endif %}{{ title }} is planned\n")
    catalog = Catalog.load(tmp_path)
    model = catalog.get("m")
    assert model is not None
    assert render(catalog, record(title="fine"), model, "planned").text == "fine is planned"
    message = render(catalog, record(title="boom"), model, "planned")
    assert message.text == "*REL-7* boom: planned (approved)." and lint_message(
        {"text": message.text, "blocks": message.blocks}) == []
    assert "template planned failed for REL-7" in caplog.text


# --- the release plan in the announcements (DESIGN.md §5a) -------------------------------------

NOTES = "**Refunds** in one click. See [the guide](https://wiki.example/refunds) <!channel>"


@pytest.mark.parametrize("model_key", ["standard", "phased-pull"])
@pytest.mark.parametrize("name", ["planned", "upcoming", "released"])
def test_the_announcements_carry_the_release_notes_when_there_are_some(bundled: Catalog, model_key: str,
                                                                       name: str) -> None:
    model = bundled.get(model_key)
    assert model is not None
    noted = record(model_key=model_key, plan=ReleasePlan.of(NOTES, "low", "None", "Redeploy"))
    message = render(bundled, noted, model, name)
    text = mrkdwn_of({"text": message.text, "blocks": message.blocks})
    assert "*Release notes*\n*Refunds* in one click. See <https://wiki.example/refunds|the guide>" in text
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    message = render(bundled, record(model_key=model_key), model, name)
    bare = mrkdwn_of({"text": message.text, "blocks": message.blocks})
    assert "release notes" not in bare.lower()


def test_templates_read_the_plan(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "planned.md.j2").write_text(
        "{{ ref }} risk {{ release.risk or 'unknown' }} ({{ release.impact }}): {{ release.rollback_plan }}")
    (tmp_path / "m.yaml").write_text(
        "key: m\nname: M\napproval: {channel: C01, approvers: [UBOB]}\n"
        "communications: {channel: C02, plan: [{on: approved, template: planned}]}\n")
    catalog = Catalog.load(tmp_path)
    model = catalog.get("m")
    assert model is not None
    planned = record(model_key="m", plan=ReleasePlan.of("", "high", "<b>", "**Redeploy** 2.2"))
    assert render(catalog, planned, model, "planned").text == "REL-7 risk high (&lt;b&gt;): *Redeploy* 2.2"
    assert render(catalog, record(model_key="m"), model, "planned").text == "REL-7 risk unknown ():"
