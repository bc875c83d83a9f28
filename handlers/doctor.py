"""`releasebot doctor`: with the settings as given, is everything the bot needs there?

A half-configured workspace fails in ways that show up late and far away (an approval
request that never arrives, a reminder to nobody), so this checks up front, with the
settings `serve` would use: the settings themselves, the release models and their
templates, the bot token (`auth.test`), every channel the models name (it exists and the
bot is in it), every planner, approver, recipient and release manager (a user or a user
group that resolves), the Socket Mode token if set, and the database (reachable, migrated).
Each finding is one line, `ok` or `FIX` with what to do; the exit code is 1 when anything
needs fixing.

It only reads: the one call that is not a lookup, `apps.connections.open`, hands out a
Socket Mode address that expires unused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.catalog import PLACEHOLDER_ID, Catalog, CatalogError
from bot.config import BUNDLED_MODELS, Settings
from bot.slack.gateway import web_client
from handlers.serving import SocketModeUnavailable, network_reason, open_socket_mode
from storage import db, migrate

#: Where a person finds each kind of id in Slack, for the lines that say an id is wrong.
FIND_CHANNEL_ID = "open the channel, click its name at the top: the Channel ID (C…) is at the bottom of About"
FIND_USER_ID = "open the person's profile, click ⋮ (More) → Copy member ID (U…)"
FIND_GROUP_ID = ("open People → User groups in Slack in a browser and click the group: the address ends "
                 "in its id (S…); or ask a workspace admin")
REINSTALL = ("add it under OAuth & Permissions → Scopes (every scope the bot needs is in "
             "`releasebot manifest`) and reinstall the app")


@dataclass(frozen=True)
class Finding:
    ok: bool
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{'ok ' if self.ok else 'FIX'}  {self.subject}: {self.detail}"


Report = Callable[[Finding], None]


class Doctor:
    """Runs the checks in order, reporting each finding as soon as it is known."""

    def __init__(self, settings: Settings, report: Report):
        self.settings = settings
        self._report = report
        self.findings: list[Finding] = []

    def found(self, ok: bool, subject: str, detail: str) -> None:
        finding = Finding(ok, subject, detail)
        self.findings.append(finding)
        self._report(finding)

    @property
    def to_fix(self) -> int:
        return sum(not f.ok for f in self.findings)

    async def run(self) -> int:
        self._settings()
        catalog = self._catalog()
        client = await self._token()
        if client is not None and catalog is not None:
            ids = _places(catalog, self.settings.managers)
            await self._channels(client, {k: v for k, v in ids.items() if k[:1] in "CGD"})
            await self._people(client, {k: v for k, v in ids.items() if k[:1] not in "CGD"})
        elif catalog is not None:
            self.found(False, "channels and people", "not checked: they need a bot token Slack accepts (above)")
        if self.settings.socket_mode and self.settings.slack_app_token.startswith("xapp-"):
            await self._app_token()
        await self._database()
        return 0 if self.to_fix == 0 else 1

    # -- settings, models, templates ----------------------------------------------------------

    def _settings(self) -> None:
        problems = self.settings.problems(serving=True, database=True)
        for problem in problems:
            self.found(False, problem.setting, problem.message)
        if not problems:
            mode = "Socket Mode (SLACK_APP_TOKEN)" if self.settings.socket_mode else \
                f"HTTP on port {self.settings.port}"
            self.found(True, "settings", f"complete for {mode}")

    def _catalog(self) -> Catalog | None:
        folder = self.settings.releasebot_models
        try:
            catalog = Catalog.load(folder)
        except CatalogError as exc:
            for problem in exc.problems:
                self.found(False, "RELEASEBOT_MODELS", str(problem))
            return None
        self.found(True, "release models", f"{len(catalog)} valid in {folder}: {', '.join(catalog.keys)}")
        if folder == BUNDLED_MODELS:
            self.found(False, "RELEASEBOT_MODELS", "is not set, so the bundled examples are in use, with made-up "
                       "ids: write your own with `releasebot models init DIR` and set RELEASEBOT_MODELS=DIR")
        used = sorted({name for model in catalog for _, name in model.templates_used()})
        problems = catalog.templates.check(used)
        for template in problems:  # Catalog.load reports these already; kept should that change
            self.found(False, "template", f"{template.file}: line {template.line}: {template.message}")
        if not problems:
            self.found(True, "templates", f"{len(used)} render with sample releases: {', '.join(used) or 'none used'}")
        return catalog

    # -- Slack ------------------------------------------------------------------------------

    async def _token(self) -> AsyncWebClient | None:
        token = self.settings.slack_bot_token
        if not token.startswith("xox"):
            return None  # named among the settings
        client = web_client(token, self.settings.slack_api_url)
        try:
            answer = await client.auth_test()
        except SlackApiError as exc:
            self.found(False, "SLACK_BOT_TOKEN", f"Slack refuses it ({_error(exc)}): copy the Bot User OAuth "
                       "Token (xoxb-…) from OAuth & Permissions again; reinstall the app if it was revoked")
            return None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.found(False, "SLACK_API_URL", f"Slack cannot be reached at {self.settings.slack_api_url} "
                       f"({network_reason(exc)}): check the network and any proxy")
            return None
        self.found(True, "SLACK_BOT_TOKEN", f"Slack accepts it: the bot @{answer.get('user')} "
                   f"({answer.get('user_id')}) in {answer.get('team')} ({answer.get('url')})")
        return client

    async def _channels(self, client: AsyncWebClient, channels: dict[str, list[str]]) -> None:
        for channel, places in channels.items():
            where = _where(places)
            try:
                info = (await client.conversations_info(channel=channel))["channel"]
            except SlackApiError as exc:
                error = _error(exc)
                if error == "missing_scope":
                    self.found(False, "channels", "the token may not look channels up (missing_scope: "
                               f"channels:read, groups:read): {REINSTALL}")
                    return
                unknown = _made_up(where) if PLACEHOLDER_ID.match(channel) else \
                    f"Slack knows no such channel, or it is private and the bot is not in it ({error}; {where})"
                self.found(False, f"channel {channel}", f"{unknown}: {FIND_CHANNEL_ID}, and invite the bot there")
                continue
            name = f"#{info.get('name')}" if info.get("name") else channel
            if info.get("is_archived"):
                self.found(False, f"channel {channel}", f"{name} is archived ({where}): unarchive it or name "
                           "another channel")
            elif not info.get("is_im") and not info.get("is_member"):
                self.found(False, f"channel {channel}", f"the bot is not a member of {name} ({where}): type "
                           f"`/invite @releasebot` in {name}")
            else:
                self.found(True, f"channel {channel}", f"{name}, and the bot is a member")

    async def _people(self, client: AsyncWebClient, people: dict[str, list[str]]) -> None:
        for person, places in people.items():
            where = _where(places)
            made_up = bool(PLACEHOLDER_ID.match(person))
            if person.startswith("S"):
                await self._group(client, person, where, made_up)
                continue
            try:
                user = (await client.users_info(user=person))["user"]
            except SlackApiError as exc:
                error = _error(exc)
                if error == "missing_scope":
                    self.found(False, "people", f"the token may not look people up (missing_scope: users:read): "
                               f"{REINSTALL}")
                    return
                unknown = _made_up(where) if made_up else f"Slack knows no such user ({error}; {where})"
                self.found(False, f"user {person}", f"{unknown}: {FIND_USER_ID}")
                continue
            name = f"@{user.get('name')}" + (f" ({user['real_name']})" if user.get("real_name") else "")
            if user.get("deleted"):
                self.found(False, f"user {person}", f"{name} is deactivated ({where}): name someone else")
            else:
                self.found(True, f"user {person}", name)

    async def _group(self, client: AsyncWebClient, group: str, where: str, made_up: bool) -> None:
        try:
            members = (await client.usergroups_users_list(usergroup=group)).get("users") or []
        except SlackApiError as exc:
            error = _error(exc)
            if error == "missing_scope":
                self.found(False, f"user group {group}", f"the token may not read user groups (missing_scope: "
                           f"usergroups:read): {REINSTALL}")
                return
            unknown = _made_up(where) if made_up else f"Slack knows no such user group ({error}; {where})"
            self.found(False, f"user group {group}", f"{unknown}: {FIND_GROUP_ID}")
            return
        if not members:
            self.found(False, f"user group {group}", f"has no members, so it reaches nobody ({where}): add "
                       "people to it in Slack, or name them in the model instead")
        else:
            self.found(True, f"user group {group}", f"{len(members)} member{'s' if len(members) != 1 else ''}")

    async def _app_token(self) -> None:
        try:
            await open_socket_mode(self.settings)
        except SocketModeUnavailable as exc:
            self.found(False, "SLACK_APP_TOKEN", str(exc).removeprefix("SLACK_APP_TOKEN "))
            return
        self.found(True, "SLACK_APP_TOKEN", "Slack accepts it for Socket Mode")

    # -- the database ---------------------------------------------------------------------------

    async def _database(self) -> None:
        url = self.settings.database_url
        subject = f"database {self.settings.database}"
        if self.settings.problems(database=True):
            return  # named among the settings
        if db.sqlite_file_missing(url):  # connecting would create an empty file
            self.found(False, subject, "there is no such file yet: run `releasebot db upgrade` "
                       "(`serve` does it at start)")
            return
        engine = db.create_engine(url)
        try:
            status = await migrate.status(engine)
        except Exception as exc:
            problem = db.describe_failure(exc, url)
            if problem is None:
                raise
            self.found(False, subject, problem)
            return
        finally:
            await engine.dispose()
        if status.up_to_date:
            self.found(True, subject, f"reachable, and migrated (at {status.head})")
        elif status.current is None:
            self.found(False, subject, "reachable but empty: run `releasebot db upgrade` (`serve` does it at start)")
        else:
            self.found(False, subject, f"at migration {status.current}, this releasebot expects {status.head}: "
                       "run `releasebot db upgrade` (`serve` does it at start)")


def _error(exc: SlackApiError) -> str:
    """Slack's error code (`channel_not_found`), or the HTTP status when it sent none."""
    data: Any = exc.response.data
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {exc.response.status_code}"


def _made_up(where: str) -> str:
    return f"a made-up id from the examples, for you to replace ({where})"


def _places(catalog: Catalog, managers: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Every Slack id the models and the release managers' setting name, with where:
    {"C0123": ["standard.yaml approval.channel"], "U0456": ["RELEASEBOT_MANAGERS"]}."""
    found: dict[str, list[str]] = {}
    for model in catalog:
        for field, value in model.slack_ids():
            found.setdefault(value, []).append(f"{catalog.file_of(model.key)} {field}")
    for manager in managers:
        found.setdefault(manager, []).append("RELEASEBOT_MANAGERS")
    return found


def _where(places: list[str]) -> str:
    shown = ", ".join(places[:3])
    return shown + (f" and {len(places) - 3} more" if len(places) > 3 else "")
