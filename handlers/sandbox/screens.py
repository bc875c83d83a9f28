"""What one person sees in the sandbox right now: the sidebar, a conversation, their modal and
their App Home, as data and HTML fragments for the page (drawn by `blockkit.py`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from handlers.sandbox.blockkit import Surface, render_message, render_view
from handlers.sandbox.directory import BOT_NAME, Directory, dm_channel
from handlers.sandbox.mrkdwn import Viewer, esc, format_date, plain_text
from handlers.sandbox.workspace import SlackWorkspace

HOME = "home"


def viewer(directory: Directory, user: str) -> Viewer:
    return Viewer(directory, user, directory.tz(user), datetime.now(UTC))


def sidebar(directory: Directory, user: str) -> dict[str, Any]:
    return {
        "people": [{"id": p.id, "name": p.real_name, "title": p.title, "handle": p.name}
                   for p in (directory.people[i] for i in directory.cast)],
        "channels": [{"id": c.id, "name": c.name, "purpose": c.purpose} for c in directory.channels.values()],
        "dm": dm_channel(user),
    }


def _author(message: dict[str, Any], directory: Directory) -> tuple[str, bool]:
    user = message.get("user")
    if user and not message.get("bot_id"):
        return directory.name_of(str(user)), False
    return BOT_NAME, True


def message_html(message: dict[str, Any], directory: Directory, user: str, index: int) -> str:
    look = viewer(directory, user)
    surface = Surface(look, "message", prefix=f"m{index}")
    author, is_app = _author(message, directory)
    moment = datetime.fromtimestamp(float(message["ts"]), UTC)
    when = format_date(moment, "{time}", look)
    ephemeral = "user_only" in message
    badge = "<span class=\"msg-badge\">APP</span>" if is_app else ""
    edited = " <span class=\"msg-edited\">(edited)</span>" if message.get("edited") else ""
    only = "<div class=\"msg-only\">Only visible to you</div>" if ephemeral else ""
    css = "msg" + (" msg-ephemeral" if ephemeral else "")
    return (f"<article class=\"{css}\" data-surface=\"message\" data-channel=\"{esc(str(message['channel']))}\" "
            f"data-ts=\"{esc(str(message['ts']))}\" aria-label=\"{esc(author)} at {esc(when)}\">"
            f"{only}<header class=\"msg-head\"><span class=\"msg-author\">{esc(author)}</span>{badge}"
            f"<time class=\"msg-time\" datetime=\"{moment.isoformat()}\">{esc(when)}</time>{edited}</header>"
            f"<div class=\"msg-body\">{render_message(message, surface)}{_files(message)}</div></article>")


def _files(message: dict[str, Any]) -> str:
    """Files shared with the message (files upload v2), as download links."""
    shared = message.get("files") or []
    if not shared:
        return ""
    items = "".join(f"<li><a href=\"{esc(str(f.get('url_private', '')))}\" download>{esc(str(f.get('title', '')))}"
                    f"</a></li>" for f in shared)
    return f"<ul class=\"msg-files\" aria-label=\"Files\">{items}</ul>"


def conversation(workspace: SlackWorkspace, directory: Directory, user: str, channel: str) -> dict[str, Any]:
    if channel == HOME:
        html = home_html(workspace, directory, user)
        return {"id": HOME, "name": "Home", "kind": "home", "purpose": "", "html": html}
    messages = workspace.conversation(channel, user)
    html = "".join(message_html(m, directory, user, i) for i, m in enumerate(messages))
    is_dm = channel.startswith("D")
    known = directory.channels.get(channel)
    return {
        "id": channel,
        "name": BOT_NAME if is_dm else (known.name if known else channel),
        "kind": "dm" if is_dm else "channel",
        "purpose": "Messages with releasebot (the app's Messages tab)" if is_dm else (known.purpose if known else ""),
        "html": html or "<p class=\"empty\">No messages yet.</p>",
    }


def home_html(workspace: SlackWorkspace, directory: Directory, user: str) -> str:
    view = workspace.views.get(workspace.homes.get(user, ""))
    if view is None:
        return "<p class=\"empty\">Opening the App Home…</p>"
    surface = Surface(viewer(directory, user), "home", prefix="h")
    return (f"<section class=\"home\" data-surface=\"view\" data-view-id=\"{esc(str(view['id']))}\">"
            f"{render_view(view, surface)}</section>")


def modal(workspace: SlackWorkspace, directory: Directory, user: str) -> dict[str, Any] | None:
    """The top of the person's modal stack, with its errors kept apart so typed input survives."""
    view = workspace.top_view(user)
    if view is None:
        return None
    errors = workspace.view_errors.get(str(view["id"]), {})
    surface = Surface(viewer(directory, user), "modal", errors=errors, prefix="v")
    depth = len(workspace.stacks.get(user) or [])
    return {
        "id": view["id"], "hash": view.get("hash"), "depth": depth,
        "title": plain_text(view.get("title")), "submit": plain_text(view.get("submit")) if view.get("submit") else "",
        "close": plain_text(view.get("close")) or "Cancel",
        "html": render_view(view, surface), "errors": errors,
    }


def snapshot(workspace: SlackWorkspace, directory: Directory, user: str, channel: str) -> dict[str, Any]:
    return {
        "version": workspace.version, "me": user,
        **sidebar(directory, user),
        "conversation": conversation(workspace, directory, user, channel),
        "modal": modal(workspace, directory, user),
    }
