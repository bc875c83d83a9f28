"""The `releasebot` command as a newcomer meets it: every bad setting is one or two lines on
stderr naming the setting (exit code 2, no traceback), a start is one informative line, and
plain database URLs work."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import __version__
from bot.config import Settings
from tests.conftest import MODELS
from tests.workspace import SIGNING_SECRET

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a shell with only `settings` set (and this checkout importable).
    SLACK_API_URL always points at loopback: no test reaches for slack.com."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "DATABASE_URL", "RELEASEBOT_", "PORT"))}
    base["PYTHONPATH"] = str(ROOT) + (os.pathsep + base["PYTHONPATH"] if base.get("PYTHONPATH") else "")
    base.update({"SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/",
                 "DATABASE_URL": f"sqlite:///{tmp_path / 'releasebot.db'}", "RELEASEBOT_MODELS": str(MODELS)})
    base.update(settings)
    return {k: v for k, v in base.items() if v != ""}


def releasebot(tmp_path: Path, *args: str, timeout: float = 60, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "handlers.cli", *args], env=env(tmp_path, **settings),
                          cwd=tmp_path, capture_output=True, text=True, timeout=timeout)


SERVING = {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SIGNING_SECRET}


@pytest.fixture
def port_in_use() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _postgres() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


# (case, command, settings, what stderr must say)
BAD_SETTINGS = [
    ("garbage database URL", ["db", "upgrade"], {"DATABASE_URL": "garbage"},
     ["DATABASE_URL", "is not a database URL", "postgresql://"]),
    ("garbage database URL, serving", ["serve"], {**SERVING, "DATABASE_URL": "garbage"},
     ["DATABASE_URL", "is not a database URL"]),
    ("unsupported database", ["db", "upgrade"], {"DATABASE_URL": "mysql://root@127.0.0.1/releasebot"},
     ["DATABASE_URL", "mysql is not supported"]),
    ("PostgreSQL unreachable", ["db", "upgrade"], {"DATABASE_URL": "postgresql://postgres@127.0.0.1:{free}/x"},
     ["DATABASE_URL", "refuses connections", "start it"]),
    ("PostgreSQL unreachable, serving", ["serve", "--port", "0"],
     {**SERVING, "DATABASE_URL": "postgresql://postgres@127.0.0.1:{free}/x"}, ["DATABASE_URL", "refuses connections"]),
    # every command that opens the database says it the same way
    ("PostgreSQL unreachable, tokens", ["token", "list"], {"DATABASE_URL": "postgresql://postgres@127.0.0.1:{free}/x"},
     ["DATABASE_URL", "refuses connections"]),
    ("PostgreSQL unreachable, metrics rebuild", ["metrics", "rebuild"],
     {"DATABASE_URL": "postgresql://postgres@127.0.0.1:{free}/x"}, ["DATABASE_URL", "refuses connections"]),
    ("PostgreSQL unreachable, model report", ["report", "model", "cab"],
     {"DATABASE_URL": "postgresql://postgres@127.0.0.1:{free}/x"}, ["DATABASE_URL", "refuses connections"]),
    ("SQLite file in a missing folder", ["db", "upgrade"], {"DATABASE_URL": "sqlite:///{tmp}/no/such/dir/x.db"},
     ["DATABASE_URL", "does not exist", "mkdir -p"]),
    ("SQLite file in a missing folder, serving", ["serve"], {**SERVING, "DATABASE_URL": "sqlite:///{tmp}/nope/x.db"},
     ["DATABASE_URL", "does not exist"]),
    ("port in use", ["serve", "--port", "{busy}"], SERVING, ["PORT {busy} is in use", "--port"]),
    ("port not a number", ["serve"], {**SERVING, "PORT": "http"}, ["PORT is 'http'", "1 to 65535"]),
    ("Socket Mode without a network", ["serve", "--port", "0"],
     {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_APP_TOKEN": "xapp-1-test"},
     ["SLACK_APP_TOKEN", "cannot be reached (Connection refused)", "unset SLACK_APP_TOKEN"]),
    ("an app token that is not one", ["serve", "--port", "0"],
     {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_APP_TOKEN": "xoxb-wrong"}, ["SLACK_APP_TOKEN", "xapp-"]),
    ("every missing setting at once", ["serve"], {},
     ["SLACK_BOT_TOKEN is not set", "SLACK_SIGNING_SECRET is not set", "OAuth & Permissions", "in .env"]),
    ("missing settings and a bad URL at once", ["serve"], {"DATABASE_URL": "nonsense"},
     ["SLACK_BOT_TOKEN is not set", "SLACK_SIGNING_SECRET is not set", "DATABASE_URL"]),
    ("a models folder that is not there", ["serve"], {**SERVING, "RELEASEBOT_MODELS": "{tmp}/models"},
     ["RELEASEBOT_MODELS", "releasebot models init"]),
]


@pytest.mark.parametrize(("command", "settings", "said"), [case[1:] for case in BAD_SETTINGS],
                         ids=[case[0] for case in BAD_SETTINGS])
def test_a_bad_setting_is_one_clear_line(tmp_path: Path, port_in_use: int, command: list[str],
                                        settings: dict[str, str], said: list[str]) -> None:
    free = str(free_port())

    def fill(text: str) -> str:
        return text.replace("{free}", free).replace("{busy}", str(port_in_use)).replace("{tmp}", str(tmp_path))

    done = releasebot(tmp_path, *map(fill, command), **{k: fill(v) for k, v in settings.items()})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert 1 <= len(lines) <= 2, done.stderr
    for words in map(fill, said):
        assert words in done.stderr, done.stderr
    assert lines[-1].startswith("releasebot: ")


@pytest.mark.skipif(_postgres() is None, reason="needs TEST_DATABASE_URL (PostgreSQL)")
def test_a_database_postgresql_lacks_is_named_with_how_to_create_it(tmp_path: Path) -> None:
    url = str(_postgres()).rsplit("/", 1)[0] + "/no_such_database_h15"
    done = releasebot(tmp_path, "db", "upgrade", DATABASE_URL=url)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "has no database 'no_such_database_h15': create it (createdb" in done.stderr


def test_a_plain_sqlite_url_works(tmp_path: Path) -> None:
    done = releasebot(tmp_path, "db", "upgrade", DATABASE_URL=f"sqlite:///{tmp_path / 'plain.db'}")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "plain.db").exists()


@pytest.mark.skipif(_postgres() is None, reason="needs TEST_DATABASE_URL (PostgreSQL)")
async def test_a_plain_postgresql_url_works(tmp_path: Path, database_url: str) -> None:
    plain = "postgresql://" + database_url.split("://", 1)[1]
    done = releasebot(tmp_path, "db", "upgrade", DATABASE_URL=plain)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"database {database_url}: applied ")


def test_db_upgrade_names_the_database_and_the_migrations_it_applied(tmp_path: Path) -> None:
    first = releasebot(tmp_path, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith(f"database sqlite+aiosqlite:///{tmp_path / 'releasebot.db'}: applied ")
    assert "  0001 releases, events, outbox" in lines
    assert lines[-1].endswith("up to date")
    assert first.stderr == ""  # alembic's chatter stays at WARNING
    again = releasebot(tmp_path, "db", "upgrade")
    assert again.returncode == 0 and "nothing to apply" in again.stdout


def test_version(tmp_path: Path) -> None:
    done = releasebot(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"releasebot {__version__}"


def test_the_password_is_never_shown() -> None:
    settings = Settings.model_validate({"DATABASE_URL": "postgresql://rb:s3cret@db.internal/releasebot"})
    assert settings.database_url == "postgresql+asyncpg://rb:s3cret@db.internal/releasebot"
    assert "s3cret" not in settings.database and "db.internal/releasebot" in settings.database


def _serve_until_up(tmp_path: Path, *args: str, **settings: str) -> tuple[str, int]:
    """Start `serve`, wait for its start line, stop it; what it said, and its exit code."""
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "handlers.cli", *args, "serve", "--port", "0"],
                                   env=env(tmp_path, **settings), cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while "started:" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            process.terminate()
            code = process.wait(timeout=30)
    return log.read_text(), code


def test_a_start_is_one_line_saying_what_runs_where(tmp_path: Path) -> None:
    said, code = _serve_until_up(tmp_path, **SERVING)
    lines = said.strip().splitlines()
    assert len(lines) == 1, said
    assert f"releasebot {__version__} started: database sqlite+aiosqlite:///{tmp_path / 'releasebot.db'}, " in said
    assert f"release models from {MODELS}, listening on http://0.0.0.0:" in said and "/slack/events" in said
    assert ":0/slack/events" not in said  # `--port 0`: the line names the port the system chose
    assert "will be unused" not in said and "alembic" not in said
    assert code == 0


def test_verbose_lets_the_libraries_speak(tmp_path: Path) -> None:
    said, _ = _serve_until_up(tmp_path, "--verbose", **SERVING)
    assert "alembic" in said and "started:" in said


def test_serve_warns_about_placeholder_ids_in_the_models(tmp_path: Path) -> None:
    said, _ = _serve_until_up(tmp_path, **SERVING, RELEASEBOT_MODELS="")
    warning = [line for line in said.splitlines() if "WARNING" in line]
    assert len(warning) == 1 and "made-up ids (C0123" in warning[0] and "releasebot models init" in warning[0]


def test_manifest_wants_an_https_address_with_a_host(tmp_path: Path) -> None:
    for bad in ("example.com", "http://example.com", "https://"):
        done = releasebot(tmp_path, "manifest", "--url", bad)
        assert done.returncode == 2 and "not an https address with a host" in done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2
    done = releasebot(tmp_path, "manifest")
    assert done.returncode == 2 and "--socket-mode" in done.stderr


def test_manifest_escapes_the_command_so_mentions_arrive_as_ids(tmp_path: Path) -> None:
    done = releasebot(tmp_path, "manifest", "--url", "https://rb.example.org/")
    manifest = json.loads(done.stdout)
    command = manifest["features"]["slash_commands"][0]
    assert command["should_escape"] is True and command["url"] == "https://rb.example.org/slack/events"
    assert {"channels:read", "groups:read"} <= set(manifest["oauth_config"]["scopes"]["bot"])


def test_the_socket_mode_manifest_has_no_request_urls(tmp_path: Path) -> None:
    done = releasebot(tmp_path, "manifest", "--socket-mode")
    manifest = json.loads(done.stdout)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "url" not in manifest["features"]["slash_commands"][0]
    assert "request_url" not in manifest["settings"]["interactivity"]
    assert "request_url" not in manifest["settings"]["event_subscriptions"]


async def test_an_app_token_slack_refuses_is_one_line(tmp_path: Path) -> None:
    from tests.fake_slack import FakeSlack

    slack = FakeSlack()
    await slack.start()
    try:
        slack.fail("apps.connections.open", error="invalid_auth")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "handlers.cli", "serve", "--port", "0", cwd=tmp_path,
            env=env(tmp_path, SLACK_BOT_TOKEN="xoxb-test-token", SLACK_APP_TOKEN="xapp-1-revoked",
                    SLACK_API_URL=slack.api_url),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await slack.close()
    assert process.returncode == 2
    assert err.decode().strip() == (
        "releasebot: SLACK_APP_TOKEN is refused by Slack (invalid_auth): create an app-level token with the "
        "scope connections:write under Basic Information → App-Level Tokens, and turn Socket Mode on")
    assert [c.method for c in slack.calls] == ["apps.connections.open"]
