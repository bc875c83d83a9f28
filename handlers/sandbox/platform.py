"""Slack's side of the protocol toward the bot: what happens when a person acts in the page.

Each act becomes the HTTP request Slack would send to the bot's `/slack/events`, signed with
the sandbox's secret (v0, HMAC-SHA256 over the raw body): a slash command form-encoded, a
click or a choice as `block_actions` and a modal's submit as `view_submission` in a
`payload=` form field, and opening the App Home as an `app_home_opened` event in JSON. Each
carries a fresh trigger_id and response_url issued by the workspace, which holds them to
Slack's limits. The bot's answer is handled as Slack handles it: an ack with text becomes an
ephemeral message, a view_submission's `response_action` shows errors on fields, updates,
pushes or clears the modal, and no answer within 3 s is an error the person sees.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
from slack_sdk.signature import SignatureVerifier

from handlers.sandbox import state
from handlers.sandbox.blockkit import block_id_of
from handlers.sandbox.directory import dm_channel
from handlers.sandbox.webapi import APP_ID, TEAM
from handlers.sandbox.workspace import SlackWorkspace

log = logging.getLogger("releasebot.sandbox")

#: Slack gives up on an app that has not acknowledged within 3 s.
ACK_SECONDS = 3.0


class Platform:
    def __init__(self, workspace: SlackWorkspace, events_url: str, signing_secret: str):
        self.workspace = workspace
        self.events_url = events_url
        self.verifier = SignatureVerifier(signing_secret)
        self._session: aiohttp.ClientSession | None = None

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _zone(self, user: str) -> ZoneInfo:
        directory = self.workspace.directory
        try:
            return ZoneInfo(directory.tz(user) if directory else "UTC")
        except Exception:
            return ZoneInfo("UTC")

    def _user(self, user: str) -> dict[str, Any]:
        directory = self.workspace.directory
        handle = directory.handle_of(user) if directory else user.lower()
        return {"id": user, "username": handle, "name": handle, "team_id": TEAM}

    async def send(self, body: str, content_type: str) -> tuple[int, str]:
        """POST one signed request to the bot, as Slack does; (status, body), or (0, error)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=ACK_SECONDS))
        stamp = str(int(time.time()))
        headers: dict[str, str] = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp,
                   "X-Slack-Signature": str(self.verifier.generate_signature(timestamp=stamp, body=body))}
        try:
            async with self._session.post(self.events_url, data=body.encode(), headers=headers) as response:
                return response.status, await response.text()
        except TimeoutError:
            return 0, "operation_timeout"
        except aiohttp.ClientError as exc:
            return 0, f"dispatch_failed ({type(exc).__name__})"

    def _trouble(self, user: str, channel: str, what: str, status: int, answer: str) -> None:
        error = answer if status == 0 else f"http_{status}"
        self.workspace.add_ephemeral(channel, user, {
            "text": f":warning: {what} failed with the error \"{error}\": releasebot did not answer as Slack expects."})

    # -- slash commands -----------------------------------------------------------------------

    async def type(self, user: str, channel: str, typed: str) -> None:
        """What a person sends from the composer: a slash command, or a plain message."""
        typed = typed.strip()
        if not typed:
            return
        if not typed.startswith("/"):
            self.workspace.say(channel, user, typed)
            return
        command, _, text = typed.partition(" ")
        if command != "/release":
            self.workspace.add_ephemeral(channel, user, {
                "text": f"`{command}` is not a valid command here. The sandbox has one: `/release` "
                        "(try `/release help`)."})
            return
        await self.command(user, channel, self.escaped(text.strip()))

    def escaped(self, text: str) -> str:
        """What Slack sends for a command with `should_escape`: `&`, `<`, `>` as entities, and
        `@handle` of a person or user group as `<@U…|handle>` / `<!subteam^S…|@handle>`."""
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        directory = self.workspace.directory
        if directory is None:
            return text

        def mention(match: re.Match[str]) -> str:
            handle = match.group(1)
            person = next((p for p in directory.people.values() if p.name == handle), None)
            if person is not None:
                return f"<@{person.id}|{handle}>"
            group = next((g for g in directory.groups.values() if g.handle == handle), None)
            return f"<!subteam^{group.id}|@{handle}>" if group is not None else match.group(0)

        return re.sub(r"(?<![\w@])@([a-z0-9._-]+)", mention, text)

    async def command(self, user: str, channel: str, text: str) -> None:
        directory = self.workspace.directory
        body = urlencode({
            "token": "sandbox-verification-token", "team_id": TEAM, "team_domain": "sandbox",
            "channel_id": channel, "channel_name": directory.channel_name(channel) if directory else channel,
            "user_id": user, "user_name": self._user(user)["username"], "command": "/release", "text": text,
            "api_app_id": APP_ID, "is_enterprise_install": "false",
            "response_url": self.workspace.issue_response_url(user, channel),
            "trigger_id": self.workspace.issue_trigger(user),
        })
        status, answer = await self.send(body, "application/x-www-form-urlencoded")
        if status != 200:
            self._trouble(user, channel, "/release", status, answer)
            return
        self._answer(user, channel, answer)

    def _answer(self, user: str, channel: str, answer: str) -> None:
        """A command's ack: nothing, a text, or a JSON message (ephemeral unless in_channel)."""
        if not answer.strip():
            return
        try:
            message = json.loads(answer)
        except json.JSONDecodeError:
            message = {"text": answer}
        if not isinstance(message, dict) or not (message.get("text") or message.get("blocks")):
            return
        if message.get("response_type") == "in_channel":
            self.workspace._chat_postMessage({**message, "channel": channel})
            self.workspace.touch()
        else:
            self.workspace.add_ephemeral(channel, user, message)

    # -- block actions --------------------------------------------------------------------------

    async def act(self, user: str, where: dict[str, Any], block_id: str, action_id: str,
                  value: state.Raw = None, entered: dict[str, dict[str, state.Raw]] | None = None) -> str | None:
        """A click or a choice on a message, a modal or the App Home; an error sentence or None."""
        zone = self._zone(user)
        payload: dict[str, Any] = {
            "type": "block_actions", "user": self._user(user), "api_app_id": APP_ID,
            "token": "sandbox-verification-token", "team": {"id": TEAM, "domain": "sandbox"},
            "enterprise": None, "is_enterprise_install": False,
            "trigger_id": self.workspace.issue_trigger(user),
        }
        channel = str(where.get("channel", ""))
        if where.get("kind") == "view":
            view = self.workspace.views.get(str(where.get("view_id")))
            if view is None:
                return "That view is no longer open."
            blocks = list(view.get("blocks") or [])
            values = state.state_values(blocks, entered or {}, zone)
            payload["container"] = {"type": "view", "view_id": view["id"]}
            payload["view"] = dict(view, state={"values": values})
        else:
            ts = str(where.get("ts"))
            ephemeral = self.workspace.ephemeral(ts)
            message = ephemeral if ephemeral is not None else self.workspace.messages.get((channel, ts))
            if message is None:
                return "That message is gone."
            blocks = list(message.get("blocks") or [])
            payload["container"] = {"type": "message", "message_ts": ts, "channel_id": channel,
                                    "is_ephemeral": ephemeral is not None}
            payload["channel"] = {"id": channel, "name": self.workspace.directory.channel_name(channel)
                                  if self.workspace.directory else channel}
            if ephemeral is None:
                payload["message"] = {"type": "message", "ts": ts, "text": message.get("text", ""),
                                      "blocks": blocks, "user": message.get("user", "UBOT"),
                                      "bot_id": None if message.get("user") else "BBOT"}
            payload["state"] = {"values": state.state_values(blocks, entered or {}, zone)}
            payload["response_url"] = self.workspace.issue_response_url(user, channel, ts, ephemeral is not None)
        element = state.find(blocks, block_id, action_id)
        if element is None:
            return "That control is no longer there."
        payload["actions"] = [state.action(element, block_id, action_id, value, zone)]
        status, answer = await self.send(urlencode({"payload": json.dumps(payload)}),
                                         "application/x-www-form-urlencoded")
        if status != 200:
            target = channel or dm_channel(user)
            self._trouble(user, target, "That click", status, answer)
        return None

    # -- modals ---------------------------------------------------------------------------------

    async def submit(self, user: str, view_id: str, entered: dict[str, dict[str, state.Raw]]) -> str | None:
        view = self.workspace.views.get(view_id)
        if view is None or view_id not in (self.workspace.stacks.get(user) or []):
            return "That form is no longer open."
        values = state.state_values(list(view.get("blocks") or []), entered, self._zone(user))
        missing = self._missing(view, values)
        if missing:
            self.workspace.view_errors[view_id] = missing
            self.workspace.touch()
            return None
        payload = {
            "type": "view_submission", "team": {"id": TEAM, "domain": "sandbox"}, "user": self._user(user),
            "api_app_id": APP_ID, "token": "sandbox-verification-token",
            "trigger_id": self.workspace.issue_trigger(user),
            "view": dict(view, state={"values": values}), "response_urls": [],
            "is_enterprise_install": False, "enterprise": None,
        }
        status, answer = await self.send(urlencode({"payload": json.dumps(payload)}),
                                         "application/x-www-form-urlencoded")
        if status != 200:
            error = answer if status == 0 else f"http_{status}"
            self.workspace.view_errors[view_id] = {"": f"We had some trouble connecting ({error}). Try again?"}
            self.workspace.touch()
            return None
        self._after_submit(user, view_id, view, answer)
        return None

    def _missing(self, view: dict[str, Any], values: dict[str, Any]) -> dict[str, str]:
        """Slack checks required inputs itself before the app hears of a submission."""
        errors = {}
        for index, block in enumerate(view.get("blocks") or []):
            if block.get("type") != "input" or block.get("optional"):
                continue
            entry: dict[str, Any] = next(iter((values.get(block_id_of(block, index)) or {}).values()), {})
            chosen = [v for k, v in entry.items() if k != "type"]
            if not any(v not in (None, "", []) for v in chosen):
                errors[block_id_of(block, index)] = "Please complete this required field."
        return errors

    def _after_submit(self, user: str, view_id: str, view: dict[str, Any], answer: str) -> None:
        if not answer.strip():
            self.workspace.close_view(user, view_id)
            return
        try:
            response = json.loads(answer)
        except json.JSONDecodeError:
            response = {}
        action = response.get("response_action")
        if action == "errors":
            inputs = {block_id_of(b, i) for i, b in enumerate(view.get("blocks") or [])
                      if b.get("type") == "input"}
            errors = {str(k): str(v) for k, v in (response.get("errors") or {}).items()}
            unknown = [k for k in errors if k not in inputs]
            if unknown:  # Slack refuses errors for blocks that are not inputs of the view
                errors = {"": f"Slack refused the answer: errors for blocks that are not inputs: {', '.join(unknown)}"}
            self.workspace.view_errors[view_id] = errors
            self.workspace.touch()
        elif action == "update" and isinstance(response.get("view"), dict):
            self.workspace.replace_view(view_id, response["view"])
        elif action == "push" and isinstance(response.get("view"), dict):
            if self.workspace.push_view(user, response["view"]) is None:
                self.workspace.view_errors[view_id] = {"": "Slack refused to push a fourth view (push_limit_reached)."}
                self.workspace.touch()
        elif action == "clear":
            self.workspace.close_view(user, everything=True)
        else:
            self.workspace.close_view(user, view_id)

    async def close(self, user: str, view_id: str) -> None:
        """The modal's close button: `view_closed` when the bot asked to hear of it."""
        view = self.workspace.views.get(view_id)
        if view is not None and view.get("notify_on_close"):
            payload = {"type": "view_closed", "team": {"id": TEAM, "domain": "sandbox"}, "user": self._user(user),
                       "api_app_id": APP_ID, "token": "sandbox-verification-token", "view": view,
                       "is_cleared": False}
            await self.send(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
        self.workspace.close_view(user, view_id)

    # -- events ---------------------------------------------------------------------------------

    async def open_home(self, user: str, tab: str = "home") -> None:
        """Opening the app's Home (or Messages) tab: the bot hears `app_home_opened`."""
        home = self.workspace.views.get(self.workspace.homes.get(user, ""))
        event: dict[str, Any] = {"type": "app_home_opened", "user": user, "channel": dm_channel(user), "tab": tab,
                                 "event_ts": f"{time.time():.6f}"}
        if home is not None:
            event["view"] = home
        body = json.dumps({
            "token": "sandbox-verification-token", "team_id": TEAM, "api_app_id": APP_ID, "event": event,
            "type": "event_callback", "event_id": f"Ev{secrets.token_hex(6).upper()}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}],
        })
        status, answer = await self.send(body, "application/json")
        if status != 200:
            log.warning("app_home_opened for %s was answered %s: %s", user, status, answer[:200])
