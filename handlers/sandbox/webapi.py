"""The Web API methods the fake workspace answers, as Slack answers them.

One method per `_<family>_<name>` (`chat.postMessage` → `_chat_postMessage`), each taking the
call's parameters and returning Slack's JSON body. Lenient by default, as the test suite
wants (any channel, any user); `strict` (the sandbox) holds calls to the workspace's
directory and to Slack's rules for triggers, view stacks and scheduled messages.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from typing import TYPE_CHECKING, Any

from handlers.sandbox.directory import BOT_NAME, BOT_USER, Directory, dm_channel, dm_user

if TYPE_CHECKING:
    from handlers.sandbox.workspace import Trigger

TEAM = "T111"
APP_ID = "A111"
BOT_ID = "BBOT"
VIEW_STACK = 3
SCHEDULE_HORIZON = 120 * 86400


class WebApiMethods:
    # The state these methods read and change; SlackWorkspace holds it.
    messages: dict[tuple[str, str], dict[str, Any]]
    ephemerals: list[dict[str, Any]]
    usergroups: dict[str, list[str]]
    timezones: dict[str, str]
    views: dict[str, dict[str, Any]]
    stacks: dict[str, list[str]]
    homes: dict[str, str]
    view_errors: dict[str, dict[str, str]]
    triggers: dict[str, Trigger]
    files: dict[str, dict[str, Any]]
    scheduled: dict[str, dict[str, Any]]
    directory: Directory | None
    strict: bool
    base_url: str
    _ts: itertools.count

    if TYPE_CHECKING:
        def new_ts(self) -> str: ...
        def touch(self) -> None: ...
        def exchange_trigger(self, trigger_id: str) -> tuple[str | None, str | None]: ...
        def add_ephemeral(self, channel: str, user: str, params: dict[str, Any]) -> dict[str, Any]: ...

    # -- lookups --------------------------------------------------------------------------

    def _conversation(self, channel: str) -> str | None:
        """The conversation a post to `channel` lands in (a user id means their DM), or None."""
        if channel[:1] in ("U", "W"):
            channel = dm_channel(channel)
        if not self.strict or self.directory is None:
            return channel
        if channel in self.directory.channels:
            return channel
        user = dm_user(channel)
        return channel if user and user in self.directory.people else None

    def _known_user(self, user: str) -> bool:
        return not self.strict or self.directory is None or user in self.directory.people or user == BOT_USER

    def _unknown_method(self, method: str) -> dict[str, Any]:
        return {"ok": False, "error": "unknown_method"} if self.strict else {"ok": True}

    # -- auth, team -----------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": BOT_NAME,
                "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID}

    def _team_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "team": {"id": TEAM, "name": "Sandbox", "domain": "sandbox"}}

    def _bots_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "bot": {"id": BOT_ID, "name": BOT_NAME, "user_id": BOT_USER, "app_id": APP_ID}}

    # -- chat -----------------------------------------------------------------------------

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._conversation(str(params.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if self.strict and not (params.get("text") or params.get("blocks") or params.get("attachments")):
            return {"ok": False, "error": "no_text"}
        ts = self.new_ts()
        self.messages[(channel, ts)] = dict(params, channel=channel, ts=ts)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": params.get("text"), "ts": ts}}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params["channel"]), str(params["ts"]))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        self.messages[key] = dict(self.messages[key], **params, edited=True)
        return {"ok": True, "channel": key[0], "ts": key[1], "text": params.get("text")}

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params.get("channel")), str(params.get("ts")))
        if self.messages.pop(key, None) is None:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._conversation(str(params.get("channel", "")))
        user = str(params.get("user", ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not self._known_user(user):
            return {"ok": False, "error": "user_not_in_channel"}
        message = self.add_ephemeral(channel, user, params)
        return {"ok": True, "message_ts": message["ts"]}

    def _chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel")), str(params.get("message_ts"))
        if self.strict and (channel, ts) not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel, "permalink": f"{self.base_url}/#{channel}/{ts}"}

    def _chat_scheduleMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        """Held to Slack's window, `post_at` in (now, now + 120 days]; posted when due."""
        channel = self._conversation(str(params.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        try:
            post_at = int(float(params.get("post_at", 0)))
        except (TypeError, ValueError):
            return {"ok": False, "error": "invalid_time"}
        now = time.time()
        if post_at <= now:
            return {"ok": False, "error": "time_in_past"}
        if post_at > now + SCHEDULE_HORIZON:
            return {"ok": False, "error": "time_too_far"}
        scheduled_id = f"Q{next(self._ts):08d}"
        self.scheduled[scheduled_id] = dict(params, channel=channel, post_at=post_at)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            loop.call_later(post_at - now, self._post_scheduled, scheduled_id)
        return {"ok": True, "channel": channel, "scheduled_message_id": scheduled_id, "post_at": post_at}

    def _post_scheduled(self, scheduled_id: str) -> None:
        params = self.scheduled.pop(scheduled_id, None)
        if params is not None:
            self._chat_postMessage({k: v for k, v in params.items() if k != "post_at"})
            self.touch()

    def _chat_deleteScheduledMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.scheduled.pop(str(params.get("scheduled_message_id")), None) is None:
            return {"ok": False, "error": "invalid_scheduled_message_id"}
        return {"ok": True}

    def _chat_scheduledMessages_list(self, params: dict[str, Any]) -> dict[str, Any]:
        listed = [{"id": i, "channel_id": p["channel"], "post_at": p["post_at"], "text": p.get("text", "")}
                  for i, p in self.scheduled.items()]
        return {"ok": True, "scheduled_messages": listed}

    def _reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((str(params.get("channel")), str(params.get("timestamp"))))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.setdefault("reactions", []).append(str(params.get("name")))
        return {"ok": True}

    # -- views ----------------------------------------------------------------------------

    def _store_view(self, view: dict[str, Any], view_id: str | None = None, *, root: str | None = None,
                    previous: str | None = None) -> dict[str, Any]:
        view_id = view_id or f"V{next(self._ts):08d}"
        stored = dict(view, id=view_id, team_id=TEAM, app_id=APP_ID, bot_id=BOT_ID,
                      hash=f"{int(time.time())}.{secrets.token_hex(4)}", state={"values": {}},
                      root_view_id=root or view_id, previous_view_id=previous,
                      private_metadata=view.get("private_metadata", ""),
                      callback_id=view.get("callback_id", ""), external_id=view.get("external_id", ""))
        self.views[view_id] = stored
        self.view_errors.pop(view_id, None)
        return stored

    def _view_problem(self, view: Any, kind: str) -> str | None:
        if not isinstance(view, dict) or view.get("type") != kind:
            return "invalid_arguments"
        if not self.strict:
            return None
        if kind == "modal":
            if not (view.get("title") or {}).get("text"):
                return "invalid_arguments"
            if any(b.get("type") == "input" for b in view.get("blocks") or []) and not view.get("submit"):
                return "invalid_arguments"
        external = view.get("external_id")
        if external and any(v.get("external_id") == external for v in self.views.values()):
            return "duplicate_external_id"
        return None

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view")
        problem = self._view_problem(view, "modal")
        if problem:
            return {"ok": False, "error": problem}
        user, error = self.exchange_trigger(str(params.get("trigger_id", "")))
        if error:
            return {"ok": False, "error": error}
        assert isinstance(view, dict)
        stored = self._store_view(view)
        if user is not None:
            self.stacks[user] = [stored["id"]]
        return {"ok": True, "view": stored}

    def _views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view")
        problem = self._view_problem(view, "modal")
        if problem:
            return {"ok": False, "error": problem}
        user, error = self.exchange_trigger(str(params.get("trigger_id", "")))
        if error:
            return {"ok": False, "error": error}
        assert isinstance(view, dict)
        if user is None:
            return {"ok": True, "view": self._store_view(view)}
        stack = self.stacks.get(user) or []
        if not stack:
            return {"ok": False, "error": "not_found"}
        if len(stack) >= VIEW_STACK:
            return {"ok": False, "error": "push_limit_reached"}
        stored = self._store_view(view, root=stack[0], previous=stack[-1])
        stack.append(stored["id"])
        return {"ok": True, "view": stored}

    def push_view(self, user: str, view: dict[str, Any]) -> str | None:
        """`response_action: push` in a view_submission's ack; None when the stack is full."""
        stack = self.stacks.setdefault(user, [])
        if len(stack) >= VIEW_STACK:
            return None
        stored = self._store_view(view, root=stack[0] if stack else None, previous=stack[-1] if stack else None)
        stack.append(stored["id"])
        self.touch()
        return str(stored["id"])

    def replace_view(self, view_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """views.update, or `response_action: update`: same id and place in the stack."""
        old = self.views.get(view_id, {})
        stored = self._store_view(view, view_id, root=old.get("root_view_id"), previous=old.get("previous_view_id"))
        self.touch()
        return stored

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view")
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            return {"ok": False, "error": "invalid_arguments"}
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            view_id = next((i for i, v in self.views.items() if v.get("external_id") == params["external_id"]), None)
        if not view_id or (view_id not in self.views and self.strict):
            return {"ok": False, "error": "not_found"}
        current = self.views.get(str(view_id))
        if current and params.get("hash") and params["hash"] != current.get("hash"):
            return {"ok": False, "error": "hash_conflict"}
        return {"ok": True, "view": self.replace_view(str(view_id), view)}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view")
        user = str(params.get("user_id", ""))
        if not isinstance(view, dict) or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        if not self._known_user(user):
            return {"ok": False, "error": "user_not_found"}
        current = self.views.get(self.homes.get(user, ""))
        if current and params.get("hash") and params["hash"] != current.get("hash"):
            return {"ok": False, "error": "hash_conflict"}
        stored = self._store_view(view, self.homes.get(user))
        self.homes[user] = stored["id"]
        return {"ok": True, "view": stored}

    # -- people, groups, conversations ----------------------------------------------------

    def _user_object(self, user: str) -> dict[str, Any]:
        person = self.directory.person(user) if self.directory else None
        tz = self.timezones.get(user, "Europe/London")
        if person is None:
            return {"id": user, "name": user.lower(), "tz": tz, "tz_offset": 0}
        return {"id": user, "team_id": TEAM, "name": person.name, "real_name": person.real_name, "tz": tz,
                "tz_offset": 0, "is_bot": False,
                "profile": {"real_name": person.real_name, "display_name": person.name, "title": person.title}}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("user"))
        if not self._known_user(user):
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": self._user_object(user)}

    def _users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        people = list(self.directory.people) if self.directory else []
        return {"ok": True, "members": [self._user_object(p) for p in people],
                "response_metadata": {"next_cursor": ""}}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = str(params.get("usergroup"))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": self.usergroups[group]}

    def _usergroups_list(self, params: dict[str, Any]) -> dict[str, Any]:
        groups = []
        for group_id, members in self.usergroups.items():
            known = self.directory.groups.get(group_id) if self.directory else None
            entry: dict[str, Any] = {"id": group_id, "team_id": TEAM, "handle": known.handle if known else group_id,
                                     "name": known.name if known else group_id, "user_count": len(members)}
            if params.get("include_users") in (True, "true", "1"):
                entry["users"] = members
            groups.append(entry)
        return {"ok": True, "usergroups": groups}

    def _channel_object(self, channel: str) -> dict[str, Any]:
        is_im = channel.startswith("D")
        known = self.directory.channels.get(channel) if self.directory else None
        return {"id": channel, "name": known.name if known else channel.lower(), "is_channel": not is_im,
                "is_im": is_im, "is_member": True, "is_private": False, "is_archived": False,
                "user": dm_user(channel) if is_im else None,
                "purpose": {"value": known.purpose if known else ""}}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users", ""))
        first = users.split(",")[0]
        if not self._known_user(first):
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": "D" + first[1:]}}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._conversation(str(params.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": self._channel_object(channel)}

    def _conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        channels = list(self.directory.channels) if self.directory else []
        return {"ok": True, "channels": [self._channel_object(c) for c in channels],
                "response_metadata": {"next_cursor": ""}}

    def _conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._conversation(str(params.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        user = dm_user(channel)
        members = [user, BOT_USER] if user else [*(self.directory.people if self.directory else []), BOT_USER]
        return {"ok": True, "members": members, "response_metadata": {"next_cursor": ""}}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """Newest first, between `oldest` and `latest` (exclusive unless `inclusive`), a page of
        `limit` (default 100) with a cursor; a message's `metadata` only with
        `include_all_metadata`, as Slack answers."""
        channel = self._conversation(str(params.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        inclusive = _truthy(params.get("inclusive"))
        oldest = float(params.get("oldest") or 0)
        latest = float(params.get("latest") or "inf")

        def within(ts: float) -> bool:
            return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

        found = sorted((m for (c, _), m in self.messages.items() if c == channel and within(float(m["ts"]))),
                       key=lambda m: float(m["ts"]), reverse=True)
        start = int(params.get("cursor") or 0)
        limit = min(int(params.get("limit") or 100), 999)
        page = found[start:start + limit]
        more = start + limit < len(found)
        with_metadata = _truthy(params.get("include_all_metadata"))
        messages = []
        for stored in page:
            message: dict[str, Any] = {"type": "message", "ts": stored["ts"], "text": stored.get("text", "")}
            if stored.get("blocks"):
                message["blocks"] = stored["blocks"]
            if stored.get("user"):
                message["user"] = stored["user"]
            else:
                message.update(user=BOT_USER, bot_id=BOT_ID, app_id=APP_ID)
            if with_metadata and stored.get("metadata"):
                message["metadata"] = stored["metadata"]
            messages.append(message)
        return {"ok": True, "messages": messages, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._conversations_info(params)

    # -- files ----------------------------------------------------------------------------

    def _new_file(self, name: str, title: str, content: bytes = b"") -> dict[str, Any]:
        file_id = f"F{next(self._ts):08d}"
        self.files[file_id] = {"id": file_id, "name": name, "title": title or name, "content": content}
        return self.files[file_id]

    def _file_object(self, stored: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/files/{stored['id']}/{stored['name']}"
        return {"id": stored["id"], "name": stored["name"], "title": stored["title"],
                "size": len(stored.get("content", b"")), "url_private": url, "permalink": url}

    def _share_files(self, file_ids: list[str], channel: str | None, comment: str) -> None:
        if not channel:
            return
        ts = self.new_ts()
        shared = [self._file_object(self.files[i]) for i in file_ids if i in self.files]
        self.messages[(channel, ts)] = {"channel": channel, "ts": ts, "text": comment, "files": shared}

    def _files_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        content = params.get("content") or params.get("file") or b""
        data = content.encode() if isinstance(content, str) else bytes(content)
        stored = self._new_file(str(params.get("filename") or "file"), str(params.get("title") or ""), data)
        channels = str(params.get("channels") or params.get("channel_id") or "")
        for channel in filter(None, channels.split(",")):
            target = self._conversation(channel)
            if target is None:
                return {"ok": False, "error": "channel_not_found"}
            self._share_files([stored["id"]], target, str(params.get("initial_comment") or ""))
        return {"ok": True, "file": self._file_object(stored)}

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._new_file(str(params.get("filename") or "file"), "")
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{stored['id']}", "file_id": stored["id"]}

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        listed = params.get("files") or []
        if not isinstance(listed, list):
            return {"ok": False, "error": "invalid_arguments"}
        ids = []
        for entry in listed:
            stored = self.files.get(str(entry.get("id")))
            if stored is None:
                return {"ok": False, "error": "file_not_found"}
            stored["title"] = str(entry.get("title") or stored["name"])
            ids.append(stored["id"])
        channel = params.get("channel_id") or params.get("channels")
        target = self._conversation(str(channel)) if channel else None
        if channel and target is None:
            return {"ok": False, "error": "channel_not_found"}
        self._share_files(ids, target, str(params.get("initial_comment") or ""))
        return {"ok": True, "files": [self._file_object(self.files[i]) for i in ids]}


def _truthy(value: Any) -> bool:
    """A boolean parameter as slack-sdk sends it (`1`, `true`) or as JSON has it."""
    return value in (True, 1, "1", "true", "True")
