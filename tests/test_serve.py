"""`releasebot serve` as an operator runs it: a real process, real HTTP, the fake Slack behind it."""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import ALICE, MODELS, plan_values
from tests.fake_slack import FakeSlack
from tests.workspace import SIGNING_SECRET, Workspace


def _die_with_the_tests() -> None:
    """Run in the child before `serve` starts: it gets SIGTERM when the test process dies, even
    by SIGKILL. A `serve` left running on the PostgreSQL test database would take the next
    tests' messages (see tests/conftest.py)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _said(log: Path) -> str:
    return log.read_text()


async def start_serving(env: dict[str, str], log: Path, cwd: Path,
                        session: aiohttp.ClientSession) -> tuple[subprocess.Popen[bytes], str]:
    """`releasebot serve --port 0` until healthy; the process and its base URL.

    The system chooses the port and the start line names it: a port picked free beforehand
    can be taken by another process (a test's client connection) before serve binds it."""
    out = log.open("w")
    process = subprocess.Popen([sys.executable, "-m", "handlers.cli", "serve", "--port", "0"],
                               env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                               preexec_fn=_die_with_the_tests)
    out.close()
    for _ in range(600):
        if process.poll() is not None:
            pytest.fail(_said(log))
        found = re.search(r"listening on http://[^:]+:(\d+)/", _said(log))
        if found:
            base = f"http://127.0.0.1:{found.group(1)}"
            try:
                async with session.get(base + "/healthz") as response:
                    if response.status == 200:
                        return process, base
            except aiohttp.ClientConnectionError:
                pass
        await asyncio.sleep(0.1)
    process.terminate()
    pytest.fail("releasebot serve did not become healthy:\n" + _said(log))


def _env(slack: FakeSlack, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "RELEASEBOT_"))}
    env.update({
        "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url, "DATABASE_URL": database_url, "RELEASEBOT_MODELS": str(MODELS),
    })
    env.update(extra)
    return env


class _Remote:
    """Just enough of aiohttp's TestClient for Workspace, against a real server."""

    def __init__(self, base: str, session: aiohttp.ClientSession):
        self.base, self.session = base, session

    async def post(self, path: str, **kw: object) -> aiohttp.ClientResponse:
        return await self.session.post(self.base + path, **kw)  # type: ignore[arg-type]

    async def get(self, path: str, **kw: object) -> aiohttp.ClientResponse:
        return await self.session.get(self.base + path, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def served(slack: FakeSlack, database_url: str, tmp_path: Path) -> AsyncIterator[Workspace]:
    async with aiohttp.ClientSession() as session:
        process, base = await start_serving(_env(slack, database_url), tmp_path / "serve.log", tmp_path, session)
        try:
            yield Workspace(_Remote(base, session), slack)  # type: ignore[arg-type]
        finally:
            process.terminate()
            process.wait(timeout=20)


async def test_serve_plans_a_release_end_to_end(served: Workspace, slack: FakeSlack) -> None:
    help_answer = await served.command("help", by=ALICE)
    assert help_answer.status == 200 and "/release new" in help_answer.json()["text"]
    await served.command("new cab Payments API 2.3", by=ALICE)
    view = (await slack.wait_for_calls("views.open"))[0]["view"]
    answer = await served.submit_view(view, plan_values(), by=ALICE)
    assert answer.status == 200
    card = (await slack.wait_for_calls("chat.postMessage", channel="C0RELEASES"))[0]
    assert card.text.startswith("REL-1 Payments API 2.3 is planned")
    await served.command("show REL-1", by=ALICE)
    shown = await slack.next_response(0)
    assert "planned by <@UALICE>" in shown.all_text()
    assert (await served.send("payload=%7B%7D", "application/x-www-form-urlencoded",
                              signature="v0=bad")).status == 401


def test_serve_without_a_token_says_what_to_set(slack: FakeSlack, tmp_path: Path) -> None:
    env = _env(slack, "sqlite+aiosqlite:///" + str(tmp_path / "x.db"))
    env.pop("SLACK_BOT_TOKEN")
    done = subprocess.run([sys.executable, "-m", "handlers.cli", "serve"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in done.stderr and "OAuth & Permissions" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_without_a_signing_secret_refuses_to_start(slack: FakeSlack, tmp_path: Path) -> None:
    env = _env(slack, "sqlite+aiosqlite:///" + str(tmp_path / "x.db"), SLACK_SIGNING_SECRET="")
    done = subprocess.run([sys.executable, "-m", "handlers.cli", "serve"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "SLACK_SIGNING_SECRET is not set" in done.stderr


def test_serve_refuses_invalid_release_models(slack: FakeSlack, tmp_path: Path) -> None:
    bad = tmp_path / "models"
    bad.mkdir()
    (bad / "broken.yaml").write_text("key: Broken Key\nname: x\napproval: {channel: C1, approvers: []}\n")
    env = _env(slack, "sqlite+aiosqlite:///" + str(tmp_path / "x.db"), RELEASEBOT_MODELS=str(bad))
    done = subprocess.run([sys.executable, "-m", "handlers.cli", "serve"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "broken.yaml: key:" in done.stderr and "broken.yaml: approval.approvers:" in done.stderr


def test_db_upgrade_alone(tmp_path: Path, slack: FakeSlack) -> None:
    env = _env(slack, "sqlite+aiosqlite:///" + str(tmp_path / "fresh.db"))
    done = subprocess.run([sys.executable, "-m", "handlers.cli", "db", "upgrade"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "fresh.db").exists()


def test_manifest_declares_the_command_interactivity_and_scopes() -> None:
    import json

    done = subprocess.run([sys.executable, "-m", "handlers.cli", "manifest", "--url", "https://rb.example.org"],
                          capture_output=True, text=True, timeout=60)
    manifest = json.loads(done.stdout)
    command = manifest["features"]["slash_commands"][0]
    assert command["command"] == "/release" and command["url"] == "https://rb.example.org/slack/events"
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert {"commands", "chat:write", "usergroups:read"} <= set(manifest["oauth_config"]["scopes"]["bot"])
